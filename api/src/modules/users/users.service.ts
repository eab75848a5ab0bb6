import type { Database } from '../../lib/db.js';
import type { UsersRepository } from './users.repository.js';

export class UsersService {
  constructor(
    readonly repository: UsersRepository,
    readonly db: Database,
  ) {}
}
