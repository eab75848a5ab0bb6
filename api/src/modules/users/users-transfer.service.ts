import type { Config } from '../../config.js';
import type { Database } from '../../lib/db.js';
import type { Metrics } from '../../lib/metrics.js';

export class UsersTransferService {
  constructor(
    readonly db: Database,
    readonly metrics: Metrics,
    readonly limits: Config['import'],
  ) {}
}
