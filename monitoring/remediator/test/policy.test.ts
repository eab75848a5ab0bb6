import { describe, expect, it } from 'vitest';
import { decide, scaleTarget, type PolicyConfig } from '../src/policy.js';

const config: PolicyConfig = { apiService: 'api', restartAllowlist: ['api'], backupService: 'backup' };
const firing = (labels: Record<string, string>) => ({ status: 'firing' as const, labels });
const resolved = (labels: Record<string, string>) => ({ status: 'resolved' as const, labels });

describe('decide', () => {
  it('when ApiHighLatencyP95 fires, then the API scales out', () => {
    expect(decide(firing({ alertname: 'ApiHighLatencyP95', service: 'api' }), config)).toEqual({
      kind: 'act',
      intent: { action: 'scale_out', service: 'api' },
      reason: 'ApiHighLatencyP95 firing',
    });
  });

  it('when any alert labelled remediation="scale_out" fires, then the API scales out, whatever its service label', () => {
    const decision = decide(
      firing({ alertname: 'ApiSaturated', service: 'traefik', remediation: 'scale_out' }),
      config,
    );
    expect(decision).toMatchObject({ kind: 'act', intent: { action: 'scale_out', service: 'api' } });
  });

  it('when ApiHighLatencyP95 or a scale_out alert resolves, then the API scales in', () => {
    const alerts: Record<string, string>[] = [
      { alertname: 'ApiHighLatencyP95' },
      { alertname: 'ApiSaturated', remediation: 'scale_out' },
    ];
    for (const labels of alerts) {
      expect(decide(resolved(labels), config)).toMatchObject({
        kind: 'act',
        intent: { action: 'scale_in', service: 'api' },
      });
    }
  });

  it('when an alert labelled remediation="scale_in" fires, then the API scales in; when it resolves, nothing', () => {
    const calm = { alertname: 'ApiOverProvisioned', service: 'api', remediation: 'scale_in' };
    expect(decide(firing(calm), config)).toEqual({
      kind: 'act',
      intent: { action: 'scale_in', service: 'api' },
      reason: 'ApiOverProvisioned firing',
    });
    expect(decide(resolved(calm), config)).toMatchObject({ kind: 'ignore' });
  });

  it('when ApiReplicasBelowDesired or ServiceCrashLooping fires for an allowlisted service, then it is restarted', () => {
    for (const alertname of ['ApiReplicasBelowDesired', 'ServiceCrashLooping']) {
      expect(decide(firing({ alertname, service: 'api' }), config)).toEqual({
        kind: 'act',
        intent: { action: 'restart', service: 'api' },
        reason: `${alertname} firing`,
      });
    }
  });

  it('when a restart is asked for a service outside the allowlist, then it is refused and says why', () => {
    expect(decide(firing({ alertname: 'ServiceCrashLooping', service: 'postgres1' }), config)).toEqual({
      kind: 'refuse',
      action: 'restart',
      service: 'postgres1',
      reason: 'ServiceCrashLooping firing',
      detail: 'postgres1 is not in the restart allowlist (api)',
    });
  });

  it('when the allowlist names more services, then those may be restarted too', () => {
    const wider = { ...config, restartAllowlist: ['api', 'db-router'] };
    expect(decide(firing({ alertname: 'ServiceCrashLooping', service: 'db-router' }), wider)).toMatchObject({
      kind: 'act',
      intent: { action: 'restart', service: 'db-router' },
    });
  });

  it('when a restart alert has no service label, then it is ignored', () => {
    expect(decide(firing({ alertname: 'ServiceCrashLooping' }), config)).toMatchObject({ kind: 'ignore' });
  });

  it('when BackupTooOld fires, then the backup service is asked for the backup that is due, whatever the labels say', () => {
    const asked = { kind: 'act', intent: { action: 'backup', service: 'backup' }, reason: 'BackupTooOld firing' };
    const labelSets: Record<string, string>[] = [
      { type: 'full' },
      { type: 'incr' },
      { type: 'weekly' },
      {},
      { service: 'api' },
    ];
    for (const labels of labelSets)
      expect(decide(firing({ alertname: 'BackupTooOld', ...labels }), config), JSON.stringify(labels)).toEqual(asked);
  });

  it('when an alert without a remediation fires or resolves, then it is ignored with a reason', () => {
    expect(decide(firing({ alertname: 'ApiDown', service: 'api' }), config)).toEqual({
      kind: 'ignore',
      reason: 'no remediation for ApiDown',
    });
    expect(decide(resolved({ alertname: 'BackupTooOld' }), config)).toEqual({
      kind: 'ignore',
      reason: 'BackupTooOld resolved: nothing to undo',
    });
    expect(decide(resolved({ alertname: 'ServiceCrashLooping', service: 'api' }), config)).toMatchObject({
      kind: 'ignore',
    });
  });
});

describe('scaleTarget', () => {
  const bounds = { minReplicas: 3, maxReplicas: 6 };

  it('when below the maximum, then scale_out adds one replica', () => {
    expect(scaleTarget('scale_out', 3, bounds)).toEqual({ target: 4 });
    expect(scaleTarget('scale_out', 5, bounds)).toEqual({ target: 6 });
  });

  it('when at or above the maximum, then scale_out is bounded', () => {
    expect(scaleTarget('scale_out', 6, bounds)).toEqual({ bound: 'already at 6 replicas (maximum 6)' });
    expect(scaleTarget('scale_out', 8, bounds)).toHaveProperty('bound');
  });

  it('when above the minimum, then scale_in removes one replica', () => {
    expect(scaleTarget('scale_in', 6, bounds)).toEqual({ target: 5 });
    expect(scaleTarget('scale_in', 4, bounds)).toEqual({ target: 3 });
  });

  it('when at or below the minimum, then scale_in is bounded', () => {
    expect(scaleTarget('scale_in', 3, bounds)).toEqual({ bound: 'already at 3 replicas (minimum 3)' });
    expect(scaleTarget('scale_in', 1, bounds)).toHaveProperty('bound');
  });
});
