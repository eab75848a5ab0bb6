// The only Prisma caller for users. Returns plain objects; never returns the password hash unless asked.
import type { Database } from '../../lib/db.js';
import type { UserDto } from './users.schemas.js';

const PUBLIC_FIELDS = {
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
}
