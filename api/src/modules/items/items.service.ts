import type { Database } from '../../lib/db.js';
import type { ItemsRepository } from './items.repository.js';

export class ItemsService {
  constructor(
    readonly repository: ItemsRepository,
    readonly db: Database,
  ) {}
}
