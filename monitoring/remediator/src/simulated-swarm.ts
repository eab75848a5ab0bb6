// The swarm as dry-run sees it: replica counts kept in memory, starting at the minimum, so that dry-run walks
// the same bounds as the real mode without a single Docker call.
import type { SwarmActions } from './swarm.js';

export class SimulatedSwarm implements SwarmActions {
  private readonly counts = new Map<string, number>();
  private backups = 0;

  constructor(private readonly initialReplicas: number) {}

  async replicas(service: string): Promise<number> {
    return this.counts.get(service) ?? this.initialReplicas;
  }

  async scale(service: string, replicas: number): Promise<void> {
    this.counts.set(service, replicas);
  }

  async forceRestart(): Promise<void> {}

  async startBackup(): Promise<string> {
    this.backups += 1;
    return `simulated backup #${this.backups}`;
  }
}
