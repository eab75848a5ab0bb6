// From a notification to decisions: policy (what), guards (whether), the swarm (how), then audit, metric and one
// log line per decision. In dry-run the swarm is simulated and the injected one is never called.
import { fingerprintOf, type WebhookPayload } from './alerts.schema.js';
import { AUDIT_CAPACITY, type AuditEntry, type AuditLog } from './audit.js';
import type { Config } from './config.js';
import { Guards, markDuplicates } from './guards.js';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './lib/metrics.js';
import { decide, scaleTarget, type Action, type Intent, type Result } from './policy.js';
import { SimulatedSwarm } from './simulated-swarm.js';
import type { SwarmActions } from './swarm.js';

export interface Decision {
  alertname: string;
  alertStatus: 'firing' | 'resolved';
  fingerprint: string;
  /** null when the alert asks for nothing (result `ignored`). */
  action: Action | null;
  service: string | null;
  result: Result | 'ignored';
  reason: string;
  detail?: string;
  replicas?: { from: number; to: number };
}

interface Outcome {
  result: Result;
  detail: string;
  replicas?: { from: number; to: number };
}

type AlertRef = Pick<Decision, 'alertname' | 'alertStatus' | 'fingerprint'>;

/** Results that reached the swarm (or would have): they start a cooldown and count toward the hourly cap. */
const ATTEMPTED: ReadonlySet<Result> = new Set(['success', 'failure', 'dry_run']);

export interface RemediatorDeps {
  config: Pick<Config, 'dryRun' | 'policy' | 'bounds' | 'guards'>;
  swarm: SwarmActions;
  audit: AuditLog;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

export class Remediator {
  private readonly guards: Guards;
  private readonly swarm: SwarmActions;
  private readonly now: () => number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: RemediatorDeps) {
    const { config } = deps;
    this.now = deps.now ?? Date.now;
    this.guards = new Guards(config.guards, this.now);
    this.swarm = config.dryRun ? new SimulatedSwarm(config.bounds.minReplicas) : deps.swarm;
    for (const entry of deps.audit.last(AUDIT_CAPACITY)) {
      if (ATTEMPTED.has(entry.result) && entry.dryRun === config.dryRun) {
        this.guards.record(entry.action, entry.service, Date.parse(entry.time));
      }
    }
  }

  /**
   * Decides every alert of one notification, in order. Notifications are handled one at a time, so two
   * concurrent ones cannot both pass a cooldown, and two updates of one service never race.
   */
  handle(payload: WebhookPayload, context: { requestId: string }): Promise<Decision[]> {
    const run = this.queue.then(() => this.process(payload, context.requestId));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async process(payload: WebhookPayload, requestId: string): Promise<Decision[]> {
    const alerts = payload.alerts.map((alert) => ({ ...alert, fingerprint: fingerprintOf(alert) }));
    const decisions: Decision[] = [];
    for (const { alert, duplicate } of markDuplicates(alerts)) {
      const ref: AlertRef = {
        alertname: alert.labels.alertname,
        alertStatus: alert.status,
        fingerprint: alert.fingerprint,
      };
      const decision = duplicate
        ? ignored(ref, 'same fingerprint as an earlier alert of this notification')
        : await this.decideOne(ref, alert);
      this.report(decision, requestId);
      decisions.push(decision);
    }
    return decisions;
  }

  private async decideOne(ref: AlertRef, alert: Parameters<typeof decide>[0]): Promise<Decision> {
    const policy = decide(alert, this.deps.config.policy);
    if (policy.kind === 'ignore') return ignored(ref, policy.reason);
    if (policy.kind === 'refuse') {
      return this.conclude(ref, policy, policy.reason, { result: 'skipped_bound', detail: policy.detail });
    }
    const { intent, reason } = policy;
    const verdict = this.guards.check(intent.action, intent.service);
    if (!verdict.allowed) return this.conclude(ref, intent, reason, verdict);
    const outcome = await this.execute(intent);
    if (ATTEMPTED.has(outcome.result)) this.guards.record(intent.action, intent.service);
    return this.conclude(ref, intent, reason, outcome);
  }

  private async execute(intent: Intent): Promise<Outcome> {
    const done = this.deps.config.dryRun ? 'dry_run' : 'success';
    try {
      switch (intent.action) {
        case 'scale_out':
        case 'scale_in': {
          const from = await this.swarm.replicas(intent.service);
          const step = scaleTarget(intent.action, from, this.deps.config.bounds);
          if ('bound' in step) return { result: 'skipped_bound', detail: step.bound, replicas: { from, to: from } };
          await this.swarm.scale(intent.service, step.target);
          return { result: done, detail: `replicas ${from} → ${step.target}`, replicas: { from, to: step.target } };
        }
        case 'restart':
          await this.swarm.forceRestart(intent.service);
          return { result: done, detail: 'rolling restart forced' };
        case 'backup': {
          const job = await this.swarm.startBackup();
          return { result: done, detail: `the due backup asked of the backup service (${job})` };
        }
      }
    } catch (error) {
      return { result: 'failure', detail: `docker: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  /** An action decided (whatever its result): audited and counted. */
  private conclude(
    ref: AlertRef,
    target: { action: Action; service: string },
    reason: string,
    outcome: Outcome,
  ): Decision {
    const decision: Decision = {
      ...ref,
      action: target.action,
      service: target.service,
      result: outcome.result,
      reason,
      detail: outcome.detail,
    };
    if (outcome.replicas) decision.replicas = outcome.replicas;
    const entry: AuditEntry = {
      time: new Date(this.now()).toISOString(),
      ...decision,
      action: target.action,
      service: target.service,
      result: outcome.result,
      detail: outcome.detail,
      dryRun: this.deps.config.dryRun,
    };
    this.deps.audit.append(entry);
    this.deps.metrics.actions.inc({ action: target.action, result: outcome.result });
    return decision;
  }

  private report(decision: Decision, requestId: string) {
    const level = decision.result === 'failure' ? 'error' : decision.result === 'skipped_rate_limit' ? 'warn' : 'info';
    this.deps.logger.log(level, decision.result === 'ignored' ? 'alert ignored' : 'remediation decided', {
      ...decision,
      dryRun: this.deps.config.dryRun,
      requestId,
    });
  }
}

function ignored(ref: AlertRef, reason: string): Decision {
  return { ...ref, action: null, service: null, result: 'ignored', reason };
}
