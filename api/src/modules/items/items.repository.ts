import type { Database } from '../../lib/db.js';

export class ItemsRepository {
  constructor(readonly db: Database) {}
}
