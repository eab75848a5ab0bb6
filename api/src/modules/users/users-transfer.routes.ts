import type { RouteContext } from '../../lib/routes.js';
import type { UsersTransferService } from './users-transfer.service.js';

export function usersTransferRoutes(_context: RouteContext, _deps: { transfer: UsersTransferService }) {}
