// `Authorization: Bearer <token>`, compared in constant time. Both sides are hashed first so the comparison
// takes as long whatever the length of the guess.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { unauthenticated } from '../lib/errors.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function requireBearer(token: string): RequestHandler {
  const expected = digest(token);
  return (req, _res, next) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.get('authorization') ?? '');
    const given = match?.[1];
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      next(unauthenticated());
      return;
    }
    next();
  };
}
