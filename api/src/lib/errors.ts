// The one error class the application throws on purpose. Anything else that reaches the error handler
// is a bug and becomes a 500 with no internals.
export interface FieldError {
  /** 1-based line of an imported file, when the error is about one. */
  line?: number;
  field: string;
  reason: string;
}

export class AppError extends Error {
  readonly errors?: FieldError[];
  readonly headers?: Record<string, string>;

  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    options: { cause?: unknown; errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    if (options.errors) this.errors = options.errors;
    if (options.headers) this.headers = options.headers;
  }
}

export const notFound = (what: string, code = `${what}-not-found`) => new AppError(code, `${what} not found`, 404);
export const forbidden = () => new AppError('forbidden', 'you are not allowed to do this', 403);
export const unauthenticated = (message = 'authentication required') =>
  new AppError('unauthenticated', message, 401, { headers: { 'WWW-Authenticate': 'Bearer' } });
