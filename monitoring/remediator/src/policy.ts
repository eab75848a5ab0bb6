// Which alert asks for which action: pure functions, no I/O, no clock. The guards (guards.ts) and the executor
// (remediator.ts) decide whether and how it runs.
//   firing ApiHighLatencyP95, or any alert labelled remediation="scale_out"  → scale_out of the API (+1, ≤ max)
//   the same resolved, or any alert labelled remediation="scale_in" firing   → scale_in of the API (−1, ≥ min)
//   firing ApiReplicasBelowDesired or ServiceCrashLooping                    → restart of its `service` (allowlist)
//   firing BackupTooOld                                                      → the backup that is due (the backup
//                                                                              service judges; labels choose nothing)
//   anything else                                                            → ignored

export const ACTIONS = ['scale_out', 'scale_in', 'restart', 'backup'] as const;
export type Action = (typeof ACTIONS)[number];

export const RESULTS = [
  'success',
  'failure',
  'dry_run',
  'skipped_cooldown',
  'skipped_rate_limit',
  'skipped_bound',
] as const;
export type Result = (typeof RESULTS)[number];

export interface PolicyAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string | undefined>;
}

export interface PolicyConfig {
  /** The API's short service name (`api`): the only service scaled. */
  apiService: string;
  /** Short service names a restart may target. */
  restartAllowlist: readonly string[];
  /** The short name of the service a backup runs in. */
  backupService: string;
}

export interface ReplicaBounds {
  minReplicas: number;
  maxReplicas: number;
}

/** `service` is always the short name (`api`); the Swarm service is `<stack>_<service>`. */
export type Intent = { action: 'scale_out' | 'scale_in' | 'restart' | 'backup'; service: string };

export type PolicyDecision =
  | { kind: 'act'; intent: Intent; reason: string }
  /** An action the alert asks for but the allowlist forbids: audited as skipped_bound. */
  | { kind: 'refuse'; action: Action; service: string; reason: string; detail: string }
  | { kind: 'ignore'; reason: string };

const SCALE_ALERTS = new Set(['ApiHighLatencyP95']);
const RESTART_ALERTS = new Set(['ApiReplicasBelowDesired', 'ServiceCrashLooping']);
const BACKUP_ALERTS = new Set(['BackupTooOld']);

export function decide(alert: PolicyAlert, config: PolicyConfig): PolicyDecision {
  const alertname = alert.labels.alertname ?? '';
  const asksScaleOut = SCALE_ALERTS.has(alertname) || alert.labels.remediation === 'scale_out';

  if (alert.status === 'resolved') {
    // The pressure that scaled the API out is gone: give one replica back (scale_in stops at the minimum).
    if (asksScaleOut) {
      return {
        kind: 'act',
        intent: { action: 'scale_in', service: config.apiService },
        reason: `${alertname} resolved`,
      };
    }
    return { kind: 'ignore', reason: `${alertname} resolved: nothing to undo` };
  }

  if (asksScaleOut) {
    return { kind: 'act', intent: { action: 'scale_out', service: config.apiService }, reason: `${alertname} firing` };
  }
  // A resolved notification is sent once: a "calm" alert that keeps firing lets the API come back step by step.
  if (alert.labels.remediation === 'scale_in') {
    return { kind: 'act', intent: { action: 'scale_in', service: config.apiService }, reason: `${alertname} firing` };
  }

  if (RESTART_ALERTS.has(alertname)) {
    const service = alert.labels.service;
    if (!service) return { kind: 'ignore', reason: `${alertname} firing without a service label` };
    if (!config.restartAllowlist.includes(service)) {
      return {
        kind: 'refuse',
        action: 'restart',
        service,
        reason: `${alertname} firing`,
        detail: `${service} is not in the restart allowlist (${config.restartAllowlist.join(', ')})`,
      };
    }
    return { kind: 'act', intent: { action: 'restart', service }, reason: `${alertname} firing` };
  }

  // An alert only asks: which backup runs, if any, the backup service judges from pgBackRest's own record
  // (backup-job backup due), so a forged alert cannot choose a full backup that expires older ones.
  if (BACKUP_ALERTS.has(alertname)) {
    return {
      kind: 'act',
      intent: { action: 'backup', service: config.backupService },
      reason: `${alertname} firing`,
    };
  }

  return { kind: 'ignore', reason: `no remediation for ${alertname || 'an alert without alertname'}` };
}

/** One replica more or less, within the bounds; `bound` says why nothing changes. */
export function scaleTarget(
  action: 'scale_out' | 'scale_in',
  current: number,
  bounds: ReplicaBounds,
): { target: number } | { bound: string } {
  if (action === 'scale_out') {
    if (current >= bounds.maxReplicas)
      return { bound: `already at ${current} replicas (maximum ${bounds.maxReplicas})` };
    return { target: current + 1 };
  }
  if (current <= bounds.minReplicas) return { bound: `already at ${current} replicas (minimum ${bounds.minReplicas})` };
  return { target: current - 1 };
}
