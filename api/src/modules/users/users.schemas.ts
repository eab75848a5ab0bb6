import { z } from 'zod';
import { booleanQuery, decodeCursor, email, encodeCursor, id, limit, password, text } from '../../lib/schemas.js';

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

export const CreateUserBody = z
  .object({
    email,
    name: userName,
    role: RoleSchema.default('user'),
    active: z.boolean().default(true),
    password,
  })
  .strict()
  .openapi('CreateUserRequest');

export const UpdateUserBody = z
  .object({
    email: email.optional(),
    name: userName.optional(),
    role: RoleSchema.optional(),
    active: z.boolean().optional(),
    password: password.optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'must change at least one field')
  .openapi('UpdateUserRequest');

export type CreateUserInput = z.output<typeof CreateUserBody>;
export type UpdateUserInput = z.output<typeof UpdateUserBody>;

const UserSortSchema = z.enum(['email', 'name', 'createdAt', 'id']);
export type UserSort = z.infer<typeof UserSortSchema>;
export type SortOrder = 'asc' | 'desc';

export const ListUsersQuery = z.object({
  limit,
  // Longer than lib's `cursor`: a name or email key of multi-byte characters can exceed 512 characters.
  cursor: z
    .string()
    .max(1024)
    .regex(/^[A-Za-z0-9_-]+$/, 'is not a valid cursor')
    .optional()
    .openapi({ description: 'nextCursor of the previous page, with the same sort and order' }),
  active: booleanQuery.optional(),
  emailPrefix: text(128).optional().openapi({ description: 'case-insensitive; % and _ match literally' }),
  sort: UserSortSchema.default('id'),
  order: z.enum(['asc', 'desc']).default('asc'),
});
export type ListUsersQuery = z.output<typeof ListUsersQuery>;

export const UserPageSchema = z
  .object({ data: z.array(UserSchema), nextCursor: z.string().nullable() })
  .openapi('UserPage');

/** The row a page ends on: the next page starts strictly after (sort value, id). */
export interface UserKey {
  value: string | number | Date;
  id: number;
}

// PostgreSQL refuses NUL in text; the cursor's own length bounds the rest.
const keyText = z.string().refine((value) => !value.includes('\u0000'));
/** What a cursor may carry for each sort; anything else was not made by us (or not for this sort). */
const keyValue: Record<UserSort, z.ZodType<UserKey['value']>> = {
  id,
  email: keyText,
  name: keyText,
  createdAt: z.iso.datetime().transform((value) => new Date(value)),
};

export function encodeUserCursor(sort: UserSort, order: SortOrder, row: UserDto): string {
  return encodeCursor([sort, order, row[sort]], row.id);
}

export function decodeUserCursor(raw: string, sort: UserSort, order: SortOrder): UserKey | undefined {
  const decoded = decodeCursor(raw);
  if (!decoded || !Array.isArray(decoded.value) || decoded.value.length !== 3) return undefined;
  const [madeForSort, madeForOrder, value] = decoded.value as unknown[];
  if (madeForSort !== sort || madeForOrder !== order) return undefined;
  const parsedValue = keyValue[sort].safeParse(value);
  const parsedId = id.safeParse(decoded.id);
  return parsedValue.success && parsedId.success ? { value: parsedValue.data, id: parsedId.data } : undefined;
}
