// Turns anything thrown into RFC 9457 problem+json. Known failures keep their status and code; a database that
// cannot be used right now (failover, restart, full) is a 503 with Retry-After; anything else is a 500 that reveals
// nothing, logged with its stack.
import type { ErrorRequestHandler } from 'express';
import { Prisma } from '../generated/prisma/client.js';
import { databaseUnavailable } from '../lib/db-errors.js';
import { AppError, type FieldError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { PROBLEM_CONTENT_TYPE, problemTitle, problemType, type Problem } from '../lib/problem.js';

/** Seconds a client should wait after a 503 for an unavailable database: about one Patroni failover. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

interface HttpParserError {
  type?: string;
  status?: number;
}

function toAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  const parser = error as HttpParserError;
  switch (parser?.type) {
    case 'entity.parse.failed':
      return new AppError('malformed-json', 'the request body is not valid JSON', 400);
    case 'entity.too.large':
      return new AppError('payload-too-large', 'the request body is too large', 413);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('unsupported-encoding', 'the request body encoding is not supported', 415);
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new AppError('bad-request', 'the request body could not be read', 400);
  }
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    switch (error.code) {
      case 'P2002':
        return new AppError('conflict', 'a record with this value already exists', 409, { cause: error });
      case 'P2025':
        return new AppError('not-found', 'record not found', 404, { cause: error });
      case 'P2000':
        return new AppError('validation-failed', 'a value is too long for its field', 400, { cause: error });
    }
  }
  if (databaseUnavailable(error)) {
    return new AppError('database-unavailable', 'the database is unavailable for a moment; retry later', 503, {
      cause: error,
      headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
    });
  }
  if (typeof parser?.status === 'number' && parser.status >= 400 && parser.status < 500) {
    return new AppError('bad-request', 'the request could not be processed', parser.status);
  }
  return undefined;
}

export function errorHandler(logger: Logger, metrics: Metrics): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      logger.error('error after response started', { error });
      next(error);
      return;
    }
    const known = toAppError(error);
    const status = known?.status ?? 500;
    const code = known?.code ?? 'internal-error';
    if (!known) logger.error('request failed', { error, method: req.method, path: req.path });
    metrics.errors.inc({ code, status_code: String(status) });
    // The access log's line for this request says what went wrong (one line, not two).
    const reason = code === 'database-unavailable' ? databaseUnavailable(error) : undefined;
    res.locals.problem = { code, ...(reason && { reason }) };

    const body: Problem = {
      type: problemType(code),
      title: problemTitle(status),
      status,
      detail: known?.message ?? 'an unexpected error occurred; the request id identifies it in the logs',
      code,
      instance: req.originalUrl.split('?')[0] ?? req.path,
      requestId: res.locals.requestId,
    };
    const errors: FieldError[] | undefined = known?.errors;
    if (errors) body.errors = errors;
    for (const [name, value] of Object.entries(known?.headers ?? {})) res.setHeader(name, value);
    res.status(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  };
}
