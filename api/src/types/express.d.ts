import type { AuthUser } from '../modules/auth/auth.service.js';

declare global {
  namespace Express {
    interface Locals {
      requestId: string;
      /** Set by the authenticate middleware. */
      user?: AuthUser;
    }
  }
}

export {};
