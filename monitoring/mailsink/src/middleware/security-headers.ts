// Browser protections on every answer (what helmet would set, without the dependency). The pages get a CSP with
// no script and no remote load at all; routes serving message content set a stricter one (CSP below).
import type { RequestHandler } from 'express';

export const CSP = {
  /** The mail sink's own pages: inline style, data: images, nothing else. An HTML part in srcdoc inherits it. */
  page: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
  /** A message's HTML part on its own page: the same, sandboxed (an opaque origin) and never framed. */
  htmlPart:
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox",
  /** Raw messages and attachments: rendered by the browser, if at all, as inert documents. */
  download: "default-src 'none'; sandbox",
};

export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CSP.page);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    // Mail content: never kept by a browser or a proxy.
    res.setHeader('Cache-Control', 'no-store');
    next();
  };
}
