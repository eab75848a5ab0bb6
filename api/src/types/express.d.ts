import type { AuthUser } from '../modules/auth/auth.service.js';

declare global {
  namespace Express {
    interface Locals {
      requestId: string;
      /** The matched route's template, for logs and metrics. */
      route?: string;
      /** Set by the authenticate middleware. */
      user?: AuthUser;
      /** Set by the error handler: the problem's code, and why the database was unavailable (for the access log). */
      problem?: { code: string; reason?: string };
    }
  }
}

export {};
