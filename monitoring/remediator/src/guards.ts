// Bounds on how often actions run: a cooldown per (action, service) and a global cap per rolling hour. No I/O;
// the clock is injected. Every attempt that reached the swarm (or would have, in dry-run) counts, failures
// included: a failing action must not be retried in a loop either.
import type { Action } from './policy.js';

export interface GuardLimits {
  cooldownSeconds: number;
  maxActionsPerHour: number;
}

export type GuardVerdict =
  { allowed: true } | { allowed: false; result: 'skipped_cooldown' | 'skipped_rate_limit'; detail: string };

const HOUR_MS = 3_600_000;

export class Guards {
  private readonly lastRun = new Map<string, number>();
  /** Times of the attempts within the last hour, oldest first. */
  private recent: number[] = [];

  constructor(
    private readonly limits: GuardLimits,
    private readonly now: () => number = Date.now,
  ) {}

  check(action: Action, service: string): GuardVerdict {
    const now = this.now();
    const last = this.lastRun.get(key(action, service));
    const cooldownMs = this.limits.cooldownSeconds * 1000;
    if (last !== undefined && now - last < cooldownMs) {
      const ago = Math.round((now - last) / 1000);
      return {
        allowed: false,
        result: 'skipped_cooldown',
        detail: `${action} of ${service} ran ${ago}s ago (cooldown ${this.limits.cooldownSeconds}s)`,
      };
    }
    const inLastHour = this.prune(now);
    if (inLastHour >= this.limits.maxActionsPerHour) {
      return {
        allowed: false,
        result: 'skipped_rate_limit',
        detail: `${inLastHour} actions in the last hour (cap ${this.limits.maxActionsPerHour})`,
      };
    }
    return { allowed: true };
  }

  record(action: Action, service: string, at: number = this.now()): void {
    const k = key(action, service);
    this.lastRun.set(k, Math.max(this.lastRun.get(k) ?? at, at));
    this.recent.push(at);
    this.recent.sort((a, b) => a - b);
  }

  private prune(now: number): number {
    this.recent = this.recent.filter((at) => now - at < HOUR_MS);
    return this.recent.length;
  }
}

function key(action: Action, service: string) {
  return `${action}\u0000${service}`;
}

/** Marks every alert whose fingerprint already appeared earlier in the same notification. */
export function markDuplicates<T extends { fingerprint: string }>(alerts: T[]): { alert: T; duplicate: boolean }[] {
  const seen = new Set<string>();
  return alerts.map((alert) => {
    const duplicate = seen.has(alert.fingerprint);
    seen.add(alert.fingerprint);
    return { alert, duplicate };
  });
}
