// The operator's pages and the JSON API ask for the mail sink's user (mailsink) and its password, a Docker secret:
// a task on the monitoring or edge network without it reads no mail. Liveness and metrics stay open (counts only).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

export const REALM = 'swarmlab mail sink';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** user:password from an `Authorization: Basic` header, or undefined. */
function credentials(header: string | undefined): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  return match ? Buffer.from(match[1]!, 'base64').toString('utf8') : undefined;
}

export function basicAuth(user: string, password: string): RequestHandler {
  // Compared as fixed-length digests, so that neither the length nor the content leaks through timing.
  const expected = digest(`${user}:${password}`);
  return (req, res, next) => {
    const given = credentials(req.headers.authorization);
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return next();
    res.setHeader('WWW-Authenticate', `Basic realm="${REALM}", charset="UTF-8"`);
    res.status(401).type('text/plain').send('The mail sink asks for its user (mailsink) and password.\n');
  };
}
