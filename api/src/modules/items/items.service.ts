// Items belong to one user. A user sees and changes only their own; an admin sees and changes all. Someone
// else's item is answered as not found, so that its existence is not revealed.
import { forbidden, notFound } from '../../lib/errors.js';
import type { Database } from '../../lib/db.js';
import { encodeCursor } from '../../lib/schemas.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { ItemScope, ItemsRepository } from './items.repository.js';
import type { CreateItemInput, ItemDto, ListItemsInput, UpdateItemInput } from './items.schemas.js';

type Caller = Pick<AuthUser, 'id' | 'role'>;

function scopeOf(caller: Caller): ItemScope {
  return caller.role === 'admin' ? {} : { ownerId: caller.id };
}

export class ItemsService {
  constructor(
    readonly repository: ItemsRepository,
    readonly db: Database,
  ) {}

  async list(caller: Caller, query: ListItemsInput): Promise<{ data: ItemDto[]; nextCursor: string | null }> {
    if (caller.role !== 'admin' && query.ownerId !== undefined && query.ownerId !== caller.id) throw forbidden();
    const rows = await this.repository.list({
      ownerId: caller.role === 'admin' ? query.ownerId : caller.id,
      tag: query.tag,
      q: query.q,
      beforeId: query.cursor,
      take: query.limit + 1,
    });
    const data = rows.slice(0, query.limit);
    const last = data.at(-1);
    // The sort key is the id itself, so the cursor carries no separate value.
    const nextCursor = rows.length > query.limit && last ? encodeCursor(null, last.id) : null;
    return { data, nextCursor };
  }

  async get(caller: Caller, id: number): Promise<ItemDto> {
    const item = await this.repository.find(id, scopeOf(caller));
    if (!item) throw notFound('item');
    return item;
  }

  async create(caller: Caller, input: CreateItemInput): Promise<ItemDto> {
    const { ownerId = caller.id, ...data } = input;
    if (input.ownerId !== undefined && caller.role !== 'admin') throw forbidden();
    const item = await this.repository.create(ownerId, data);
    if (!item) throw notFound('user');
    this.db.markWritten();
    return item;
  }

  async update(caller: Caller, id: number, patch: UpdateItemInput): Promise<ItemDto> {
    const item = await this.repository.update(id, scopeOf(caller), patch);
    if (!item) throw notFound('item');
    this.db.markWritten();
    return item;
  }

  async delete(caller: Caller, id: number): Promise<void> {
    const deleted = await this.repository.delete(id, scopeOf(caller));
    if (!deleted) throw notFound('item');
    this.db.markWritten();
  }
}
