import { z } from 'zod';
import { email, text } from '../../lib/schemas.js';

export const RoleSchema = z.enum(['admin', 'user']);

export const UserSchema = z
  .object({
    id: z.number().int(),
    email: z.string(),
    name: z.string(),
    role: RoleSchema,
    active: z.boolean(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('User');

export type UserDto = z.infer<typeof UserSchema>;

export const userName = text(100);
export { email };
