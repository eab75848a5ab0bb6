// The one error class the application throws on purpose. Anything else reaching the error handler is a bug: 500.
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    options: { cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
  }
}

export const notFound = (what: string) => new AppError(`${what}-not-found`, `${what} not found`, 404);
export const invalid = (message: string) => new AppError('validation-failed', message, 400);
