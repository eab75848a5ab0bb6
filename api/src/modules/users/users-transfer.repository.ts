// The only database caller of user imports and exports.
import type { Database } from '../../lib/db.js';
import { AppError } from '../../lib/errors.js';
import { PUBLIC_FIELDS, toUserDto } from './users.repository.js';
import type { UserDto } from './users.schemas.js';
import type { ImportRow } from './users-transfer.schemas.js';

const INSERT_CHUNK = 5_000;

export class UsersTransferRepository {
  constructor(private readonly db: Database) {}

  /**
   * In one transaction: finds which emails exist already (`taken`), then, unless some do and `skipTaken`
   * is off, inserts the other rows. With `skipTaken` off, nothing is written when any email is taken.
   */
  async insertNew(rows: ImportRow[], { skipTaken }: { skipTaken: boolean }) {
    return this.db.primary.$transaction(
      async (tx) => {
        const emails = rows.map((row) => row.email);
        const takenRows = await tx.$queryRaw<{ email: string }[]>`
          SELECT email FROM app.users WHERE email = ANY(${emails}::text[])`;
        const taken = takenRows.map((row) => row.email);
        if (taken.length > 0 && !skipTaken) return { created: 0, taken };

        const takenSet = new Set(taken);
        // Sorted, so that two imports sharing emails lock them in the same order and cannot deadlock.
        const fresh = rows.filter((row) => !takenSet.has(row.email)).sort((a, b) => (a.email < b.email ? -1 : 1));
        let created = 0;
        for (let start = 0; start < fresh.length; start += INSERT_CHUNK) {
          const chunk = fresh.slice(start, start + INSERT_CHUNK);
          // ON CONFLICT: an email another request inserted since the check above must not become a 500.
          const [result] = await tx.$queryRaw<{ count: number }[]>`
            WITH inserted AS (
              INSERT INTO app.users (email, name, role, active)
              SELECT * FROM unnest(
                ${chunk.map((row) => row.email)}::text[],
                ${chunk.map((row) => row.name)}::text[],
                ${chunk.map((row) => row.role)}::text[]::app.user_role[],
                ${chunk.map((row) => row.active)}::boolean[])
              ON CONFLICT (email) DO NOTHING
              RETURNING 1)
            SELECT count(*)::int AS count FROM inserted`;
          created += result!.count;
        }
        if (created < fresh.length && !skipTaken) {
          throw new AppError('email-taken', 'another request created some of these emails meanwhile; retry', 409);
        }
        return { created, taken };
      },
      { maxWait: 10_000, timeout: 120_000 },
    );
  }

  /** Every user (filtered), ordered by id, in keyset batches; stops querying when the caller stops. */
  async *batches(filter: { active?: boolean | undefined }, size: number): AsyncGenerator<UserDto[]> {
    const where = filter.active === undefined ? {} : { active: filter.active };
    let after = 0;
    for (;;) {
      const rows = await this.db.read((db) =>
        db.user.findMany({
          where: { ...where, id: { gt: after } },
          orderBy: { id: 'asc' },
          take: size,
          select: PUBLIC_FIELDS,
        }),
      );
      if (rows.length > 0) yield rows.map(toUserDto);
      if (rows.length < size) return;
      after = rows.at(-1)!.id;
    }
  }
}
