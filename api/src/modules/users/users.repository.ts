// The only Prisma caller for users. Returns plain objects; never returns the password hash unless asked.
import { Prisma } from '../../generated/prisma/client.js';
import type { Database } from '../../lib/db.js';
import { AppError } from '../../lib/errors.js';
import type { SortOrder, UserDto, UserKey, UserSort } from './users.schemas.js';

/** Every column but the password hash: what the API ever returns of a user. */
export const PUBLIC_FIELDS = {
  id: true,
  email: true,
  name: true,
  role: true,
  active: true,
  createdAt: true,
  updatedAt: true,
} as const;

type UserRow = { [K in keyof typeof PUBLIC_FIELDS]: K extends 'createdAt' | 'updatedAt' ? Date : UserDto[K] };

export function toUserDto(row: UserRow): UserDto {
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

export interface UserListOptions {
  limit: number;
  sort: UserSort;
  order: SortOrder;
  after?: UserKey;
  active?: boolean;
  emailPrefix?: string;
}

export interface UserChanges {
  email?: string;
  name?: string;
  role?: UserDto['role'];
  active?: boolean;
  passwordHash?: string;
}

/** Prisma's startsWith is a LIKE without escaping: the prefix must not act as a pattern. */
function escapeLike(text: string) {
  return text.replace(/[\\%_]/g, '\\$&');
}

/** Rows strictly after `after` in the (sort, id) order. */
function keysetWhere(sort: UserSort, order: SortOrder, after: UserKey): Prisma.UserWhereInput {
  const beyond = order === 'asc' ? 'gt' : 'lt';
  if (sort === 'id') return { id: { [beyond]: after.id } };
  return {
    OR: [{ [sort]: { [beyond]: after.value } }, { [sort]: after.value, id: { [beyond]: after.id } }],
  };
}

function isPrismaError(error: unknown, code: string) {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === code;
}

/** The users table has one unique column besides the key: a unique violation is a taken email. */
function emailTakenOr(error: unknown) {
  return isPrismaError(error, 'P2002')
    ? new AppError('email-taken', 'a user with this email already exists', 409, { cause: error })
    : error;
}

export class UsersRepository {
  constructor(private readonly db: Database) {}

  /** For login: includes the hash. Always on the primary: a just-changed password must count. */
  async findCredentialsByEmail(email: string) {
    return this.db.primary.user.findUnique({ where: { email }, select: { ...PUBLIC_FIELDS, passwordHash: true } });
  }

  /** For authentication of each request: on the primary, so deactivation and role changes apply at once. */
  async findActiveById(id: number) {
    const row = await this.db.primary.user.findFirst({ where: { id, active: true }, select: PUBLIC_FIELDS });
    return row ? toUserDto(row) : undefined;
  }

  /** Creates the account unless the email exists. Returns whether it was created. */
  async ensureAdmin(input: { email: string; name: string; passwordHash: string }): Promise<boolean> {
    const result = await this.db.primary.user.createMany({
      data: [{ ...input, role: 'admin' }],
      skipDuplicates: true,
    });
    return result.count === 1;
  }

  async findById(id: number) {
    const row = await this.db.read((db) => db.user.findUnique({ where: { id }, select: PUBLIC_FIELDS }));
    return row ? toUserDto(row) : undefined;
  }

  /** One page in (sort, id) order, and whether more rows follow it. */
  async list(options: UserListOptions) {
    const { limit, sort, order, after, active, emailPrefix } = options;
    const where: Prisma.UserWhereInput[] = [];
    if (active !== undefined) where.push({ active });
    if (emailPrefix !== undefined) {
      where.push({ email: { startsWith: escapeLike(emailPrefix), mode: 'insensitive' } });
    }
    if (after) where.push(keysetWhere(sort, order, after));
    const rows = await this.db.read((db) =>
      db.user.findMany({
        where: { AND: where },
        orderBy: sort === 'id' ? [{ id: order }] : [{ [sort]: order }, { id: order }],
        take: limit + 1,
        select: PUBLIC_FIELDS,
      }),
    );
    return { users: rows.slice(0, limit).map(toUserDto), hasMore: rows.length > limit };
  }

  async create(data: Required<UserChanges>) {
    try {
      return toUserDto(await this.db.primary.user.create({ data, select: PUBLIC_FIELDS }));
    } catch (error) {
      throw emailTakenOr(error);
    }
  }

  /** The updated user, or undefined when there is none with this id. */
  async update(id: number, changes: UserChanges) {
    try {
      return toUserDto(await this.db.primary.user.update({ where: { id }, data: changes, select: PUBLIC_FIELDS }));
    } catch (error) {
      if (isPrismaError(error, 'P2025')) return undefined;
      throw emailTakenOr(error);
    }
  }

  /** Deletes the user and, by cascade, their items. Returns whether there was one. */
  async delete(id: number) {
    const result = await this.db.primary.user.deleteMany({ where: { id } });
    return result.count === 1;
  }
}
