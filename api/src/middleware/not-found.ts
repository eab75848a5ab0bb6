import type { RequestHandler } from 'express';
import { AppError } from '../lib/errors.js';

export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => next(new AppError('route-not-found', `no route for ${req.method} ${req.path}`, 404));
}
