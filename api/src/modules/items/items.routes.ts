import type { RouteContext } from '../../lib/routes.js';
import type { ItemsService } from './items.service.js';

export function itemsRoutes(_context: RouteContext, _deps: { items: ItemsService }) {}
