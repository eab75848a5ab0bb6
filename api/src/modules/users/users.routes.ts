import type { RouteContext } from '../../lib/routes.js';
import type { UsersService } from './users.service.js';

export function usersRoutes(_context: RouteContext, _deps: { users: UsersService }) {}
