// The one error class thrown on purpose, and the RFC 9457 problem body every error response carries.
export interface FieldError {
  field: string;
  reason: string;
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly options: { cause?: unknown; errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
  }
}

export const unauthenticated = () =>
  new AppError('unauthenticated', 'a valid bearer token is required', 401, {
    headers: { 'WWW-Authenticate': 'Bearer realm="remediator"' },
  });

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance: string;
  requestId: string;
  errors?: FieldError[];
}

export function problem(error: AppError, instance: string, requestId: string): Problem {
  const body: Problem = {
    type: `https://swarmlab.dev/problems/${error.code}`,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    code: error.code,
    instance,
    requestId,
  };
  if (error.options.errors) body.errors = error.options.errors;
  return body;
}
