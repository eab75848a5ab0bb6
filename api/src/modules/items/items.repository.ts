// The only Prisma caller for items. Returns plain objects. A `scope` limits a call to one owner's items,
// so that ownership is checked in the same statement that reads or writes.
import { Prisma } from '../../generated/prisma/client.js';
import type { Database } from '../../lib/db.js';
import type { ItemDto } from './items.schemas.js';

const FIELDS = {
  id: true,
  ownerId: true,
  title: true,
  body: true,
  tags: true,
  createdAt: true,
  updatedAt: true,
} as const;

type ItemRow = Omit<ItemDto, 'createdAt' | 'updatedAt'> & { createdAt: Date; updatedAt: Date };

export interface ItemScope {
  ownerId?: number;
}

export interface ItemFilter extends ItemScope {
  tag?: string;
  /** Case-insensitive substring of the title. */
  q?: string;
  /** Only ids below this one (the keyset cursor). */
  beforeId?: number;
  take: number;
}

export interface ItemData {
  title?: string;
  body?: string;
  tags?: string[];
}

function toItemDto(row: ItemRow): ItemDto {
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

/** Escapes LIKE metacharacters: Prisma's `contains` passes `%`, `_` and `\` through as wildcards. */
function likeLiteral(value: string) {
  return value.replace(/[\\%_]/g, '\\$&');
}

function isErrorCode(error: unknown, code: string) {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === code;
}

export class ItemsRepository {
  constructor(private readonly db: Database) {}

  /** Newest first. */
  async list(filter: ItemFilter): Promise<ItemDto[]> {
    const where: Prisma.ItemWhereInput = {
      ownerId: filter.ownerId,
      tags: filter.tag === undefined ? undefined : { has: filter.tag },
      title: filter.q === undefined ? undefined : { contains: likeLiteral(filter.q), mode: 'insensitive' },
      id: filter.beforeId === undefined ? undefined : { lt: filter.beforeId },
    };
    const rows = await this.db.read((c) =>
      c.item.findMany({ where, orderBy: { id: 'desc' }, take: filter.take, select: FIELDS }),
    );
    return rows.map(toItemDto);
  }

  async find(id: number, scope: ItemScope): Promise<ItemDto | undefined> {
    const row = await this.db.read((c) => c.item.findFirst({ where: { id, ...scope }, select: FIELDS }));
    return row ? toItemDto(row) : undefined;
  }

  /** Undefined when the owner does not exist. */
  async create(ownerId: number, data: ItemData & { title: string }): Promise<ItemDto | undefined> {
    try {
      return toItemDto(await this.db.primary.item.create({ data: { ...data, ownerId }, select: FIELDS }));
    } catch (error) {
      if (isErrorCode(error, 'P2003')) return undefined;
      throw error;
    }
  }

  /** Undefined when no item in scope has this id. */
  async update(id: number, scope: ItemScope, data: ItemData): Promise<ItemDto | undefined> {
    try {
      return toItemDto(await this.db.primary.item.update({ where: { id, ...scope }, data, select: FIELDS }));
    } catch (error) {
      if (isErrorCode(error, 'P2025')) return undefined;
      throw error;
    }
  }

  /** Whether an item in scope was deleted. */
  async delete(id: number, scope: ItemScope): Promise<boolean> {
    const { count } = await this.db.primary.item.deleteMany({ where: { id, ...scope } });
    return count === 1;
  }
}
