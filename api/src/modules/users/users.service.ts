// Account management rules: who may see whom, and an admin can never lock themselves (or everyone) out.
import type { Database } from '../../lib/db.js';
import { AppError, forbidden, notFound } from '../../lib/errors.js';
import { hashPassword } from '../../lib/passwords.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { UserChanges, UserListOptions, UsersRepository } from './users.repository.js';
import type { CreateUserInput, UpdateUserInput } from './users.schemas.js';

type Caller = Pick<AuthUser, 'id' | 'role'>;

const cannotChangeOwnAdmin = () =>
  new AppError('cannot-change-own-admin', 'an admin cannot demote, deactivate or delete themselves', 409);

export class UsersService {
  constructor(
    readonly repository: UsersRepository,
    readonly db: Database,
  ) {}

  list(options: UserListOptions) {
    return this.repository.list(options);
  }

  /** A user may read their own account; an admin any account. */
  async get(id: number, caller: Caller) {
    if (caller.role !== 'admin' && caller.id !== id) throw forbidden();
    const user = await this.repository.findById(id);
    if (!user) throw notFound('user');
    return user;
  }

  async create(input: CreateUserInput) {
    const { password, ...data } = input;
    const user = await this.repository.create({ ...data, passwordHash: await hashPassword(password) });
    this.db.markWritten();
    return user;
  }

  async update(id: number, input: UpdateUserInput, caller: Caller) {
    if (id === caller.id && (input.role === 'user' || input.active === false)) {
      throw cannotChangeOwnAdmin();
    }
    const { password, ...changes } = input;
    return this.write(
      id,
      password === undefined ? changes : { ...changes, passwordHash: await hashPassword(password) },
    );
  }

  /** Idempotent: deactivating an inactive user answers the same. */
  async deactivate(id: number, caller: Caller) {
    if (id === caller.id) throw cannotChangeOwnAdmin();
    return this.write(id, { active: false });
  }

  async delete(id: number, caller: Caller) {
    if (id === caller.id) throw cannotChangeOwnAdmin();
    if (!(await this.repository.delete(id))) throw notFound('user');
    this.db.markWritten();
  }

  private async write(id: number, changes: UserChanges) {
    const user = await this.repository.update(id, changes);
    if (!user) throw notFound('user');
    this.db.markWritten();
    return user;
  }
}
