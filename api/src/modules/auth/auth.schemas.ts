import { z } from 'zod';
import { email } from '../../lib/schemas.js';
import { UserSchema } from '../users/users.schemas.js';

export const LoginBody = z
  .object({ email, password: z.string().min(1).max(256) })
  .strict()
  .openapi('LoginRequest');

export const TokenSchema = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().describe('seconds until the token expires'),
    user: UserSchema,
  })
  .openapi('Token');
