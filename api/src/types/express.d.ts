import type { AuthUser } from '../modules/auth/auth.service.js';

declare global {
  namespace Express {
    interface Locals {
      requestId: string;
      /** The matched route's template, for logs and metrics. */
      route?: string;
      /** Set by the authenticate middleware. */
      user?: AuthUser;
    }
  }
}

export {};
