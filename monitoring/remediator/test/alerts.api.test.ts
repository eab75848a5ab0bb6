// The HTTP surface in dry-run (a real mode: policy, guards, bounds, audit and metrics all run, the swarm is
// simulated), with a swarm that throws on any call to prove that none is made.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { AuditLog } from '../src/audit.js';
import {
  buildAlert,
  buildConfig,
  buildPayload,
  capturingLogger,
  forbiddenSwarm,
  latency,
} from './helpers/factories.js';

async function dryRunApp(env: Record<string, string> = {}) {
  const { config, token, auditFile } = await buildConfig({ REMEDIATOR_DRY_RUN: 'true', ...env });
  const { swarm, calls } = forbiddenSwarm();
  const { logger, lines } = capturingLogger();
  const auditLog = new AuditLog(config.audit.file);
  let now = Date.UTC(2025, 0, 1, 12);
  const app = createApp({ config, logger, swarm, audit: auditLog, now: () => now });
  const post = (body: unknown) =>
    request(app)
      .post('/alerts')
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);
  const audit = (limit?: number) =>
    request(app)
      .get('/audit')
      .query(limit === undefined ? {} : { limit })
      .set('Authorization', `Bearer ${token}`);
  const metrics = async () => (await request(app).get('/metrics')).text;
  const advance = (seconds: number) => (now += seconds * 1000);
  return { app, token, auditFile, auditLog, calls, lines, post, audit, metrics, advance, now: () => now };
}

const metricValue = (text: string, series: string) =>
  Number(
    text
      .split('\n')
      .find((line) => line.startsWith(`${series} `))
      ?.split(' ')[1],
  );

describe('POST /alerts › authentication', () => {
  it('when no token is sent, then 401 problem+json, nothing decided, and the webhook counted as unauthorized', async () => {
    const t = await dryRunApp();
    const res = await request(t.app)
      .post('/alerts')
      .send(buildPayload([latency()]));
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.body).toMatchObject({ status: 401, code: 'unauthenticated', instance: '/alerts' });
    expect((await t.audit()).body.entries).toEqual([]);
    const metrics = await t.metrics();
    expect(metricValue(metrics, 'remediation_webhooks_total{status="unauthorized"}')).toBe(1);
    expect(metricValue(metrics, 'remediation_actions_total{action="scale_out",result="dry_run"}')).toBe(0);
  });

  it('when a wrong token or another scheme is sent, then 401', async () => {
    const t = await dryRunApp();
    const payload = buildPayload([latency()]);
    for (const header of [`Bearer ${'x'.repeat(64)}`, `Bearer ${t.token}x`, `Basic ${t.token}`, t.token]) {
      const res = await request(t.app).post('/alerts').set('Authorization', header).send(payload);
      expect(res.status, header).toBe(401);
    }
    expect((await t.audit()).body.entries).toEqual([]);
  });
});

describe('POST /alerts › validation', () => {
  it('when the payload is not an Alertmanager v4 notification, then 400 with the invalid fields', async () => {
    const t = await dryRunApp();
    const res = await t.post({ ...buildPayload([latency()]), version: '3' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      code: 'validation-failed',
      errors: [expect.objectContaining({ field: 'version' })],
    });

    const noAlerts = await t.post({ ...buildPayload([latency()]), alerts: [] });
    expect(noAlerts.status).toBe(400);
    const badAlert = await t.post(buildPayload([{ ...latency(), status: 'pending' as 'firing', labels: {} as never }]));
    expect(badAlert.status).toBe(400);
    expect(badAlert.body.errors.map((e: { field: string }) => e.field)).toEqual(
      expect.arrayContaining(['alerts.0.status', 'alerts.0.labels.alertname']),
    );
    expect(metricValue(await t.metrics(), 'remediation_webhooks_total{status="invalid"}')).toBe(3);
  });

  it('when the body is not JSON, then 400 malformed-json', async () => {
    const t = await dryRunApp();
    const res = await request(t.app)
      .post('/alerts')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/json')
      .send('{"version": "4",');
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('malformed-json');
  });
});

describe('POST /alerts › decisions in dry-run', () => {
  it('when a latency alert fires, then scale_out dry_run in the response, the audit, the metrics and the log, and no Docker call', async () => {
    const t = await dryRunApp();
    const alert = latency();
    const res = await t.post(buildPayload([alert]));
    expect(res.status).toBe(200);
    const expected = {
      alertname: 'ApiHighLatencyP95',
      alertStatus: 'firing',
      fingerprint: alert.fingerprint,
      action: 'scale_out',
      service: 'api',
      result: 'dry_run',
      reason: 'ApiHighLatencyP95 firing',
      detail: 'replicas 3 → 4',
      replicas: { from: 3, to: 4 },
    };
    expect(res.body).toEqual({ dryRun: true, decisions: [expected] });

    const audit = await t.audit();
    expect(audit.status).toBe(200);
    expect(audit.body.entries).toEqual([{ ...expected, dryRun: true, time: '2025-01-01T12:00:00.000Z' }]);

    const metrics = await t.metrics();
    expect(metricValue(metrics, 'remediation_actions_total{action="scale_out",result="dry_run"}')).toBe(1);
    expect(metricValue(metrics, 'remediation_webhooks_total{status="accepted"}')).toBe(1);

    expect(t.lines.filter((line) => line.message === 'remediation decided')).toEqual([
      expect.objectContaining({
        level: 'info',
        action: 'scale_out',
        service: 'api',
        result: 'dry_run',
        fingerprint: alert.fingerprint,
        reason: 'ApiHighLatencyP95 firing',
        dryRun: true,
        requestId: res.headers['x-request-id'],
      }),
    ]);
    expect(t.calls).toEqual([]);
  });

  it('when a second latency alert comes within the cooldown, then it is skipped_cooldown; after it, it runs again', async () => {
    const t = await dryRunApp();
    await t.post(buildPayload([latency()]));
    t.advance(120);
    const second = await t.post(buildPayload([latency()]));
    expect(second.body.decisions).toEqual([
      expect.objectContaining({
        action: 'scale_out',
        result: 'skipped_cooldown',
        detail: 'scale_out of api ran 120s ago (cooldown 300s)',
      }),
    ]);
    t.advance(180);
    const third = await t.post(buildPayload([latency()]));
    expect(third.body.decisions[0]).toMatchObject({ result: 'dry_run', replicas: { from: 4, to: 5 } });
    expect(
      metricValue(await t.metrics(), 'remediation_actions_total{action="scale_out",result="skipped_cooldown"}'),
    ).toBe(1);
    expect(t.calls).toEqual([]);
  });

  it('when the hourly cap is reached, then further actions are skipped_rate_limit', async () => {
    const t = await dryRunApp({ COOLDOWN_SECONDS: '0', MAX_ACTIONS_PER_HOUR: '2' });
    const results = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await t.post(buildPayload([latency()]));
      results.push(res.body.decisions[0].result);
      t.advance(60);
    }
    expect(results).toEqual(['dry_run', 'dry_run', 'skipped_rate_limit']);
    const audit = await t.audit();
    expect(audit.body.entries.at(-1)).toMatchObject({
      result: 'skipped_rate_limit',
      detail: '2 actions in the last hour (cap 2)',
    });
    expect(
      metricValue(await t.metrics(), 'remediation_actions_total{action="scale_out",result="skipped_rate_limit"}'),
    ).toBe(1);
  });

  it('when the API is at its maximum, then scale_out is skipped_bound and does not use the hourly budget', async () => {
    const t = await dryRunApp({ COOLDOWN_SECONDS: '0', API_MAX_REPLICAS: '4', MAX_ACTIONS_PER_HOUR: '2' });
    const first = await t.post(buildPayload([latency()]));
    const second = await t.post(buildPayload([latency()]));
    expect(first.body.decisions[0]).toMatchObject({ result: 'dry_run', replicas: { from: 3, to: 4 } });
    expect(second.body.decisions[0]).toMatchObject({
      result: 'skipped_bound',
      detail: 'already at 4 replicas (maximum 4)',
    });
    const restart = await t.post(buildPayload([buildAlert({ alertname: 'ApiReplicasBelowDesired', service: 'api' })]));
    expect(restart.body.decisions[0]).toMatchObject({ action: 'restart', result: 'dry_run' });
  });

  it('when the latency alert resolves after a scale out, then scale_in dry_run; at the minimum, skipped_bound', async () => {
    const t = await dryRunApp();
    await t.post(buildPayload([latency()]));
    const resolvedOnce = await t.post(buildPayload([latency('resolved')]));
    expect(resolvedOnce.body.decisions).toEqual([
      expect.objectContaining({
        alertStatus: 'resolved',
        action: 'scale_in',
        service: 'api',
        result: 'dry_run',
        replicas: { from: 4, to: 3 },
      }),
    ]);
    t.advance(300);
    const resolvedAgain = await t.post(buildPayload([latency('resolved')]));
    expect(resolvedAgain.body.decisions[0]).toMatchObject({
      action: 'scale_in',
      result: 'skipped_bound',
      detail: 'already at 3 replicas (minimum 3)',
    });
    expect(t.calls).toEqual([]);
  });

  it('when restart and backup alerts fire, then restart and backup dry_run; a service outside the allowlist is skipped_bound', async () => {
    const t = await dryRunApp();
    const res = await t.post(
      buildPayload([
        buildAlert({ alertname: 'ServiceCrashLooping', service: 'api' }),
        buildAlert({ alertname: 'ServiceCrashLooping', service: 'postgres1' }),
        buildAlert({ alertname: 'BackupTooOld', service: 'backup', type: 'full' }),
      ]),
    );
    expect(res.body.decisions).toEqual([
      expect.objectContaining({ action: 'restart', service: 'api', result: 'dry_run' }),
      expect.objectContaining({
        action: 'restart',
        service: 'postgres1',
        result: 'skipped_bound',
        detail: 'postgres1 is not in the restart allowlist (api)',
      }),
      expect.objectContaining({ action: 'backup', service: 'backup', result: 'dry_run' }),
    ]);
    expect((await t.audit()).body.entries).toHaveLength(3);
    expect(t.calls).toEqual([]);
  });

  it('when an alert has no remediation or repeats a fingerprint, then it is ignored: answered and logged, not audited', async () => {
    const t = await dryRunApp();
    const alert = latency();
    const res = await t.post(
      buildPayload([buildAlert({ alertname: 'ApiDown', service: 'api', severity: 'critical' }), alert, alert]),
    );
    expect(res.body.decisions.map((d: { result: string }) => d.result)).toEqual(['ignored', 'dry_run', 'ignored']);
    expect(res.body.decisions[0]).toEqual(
      expect.objectContaining({ action: null, service: null, reason: 'no remediation for ApiDown' }),
    );
    expect(res.body.decisions[2].reason).toMatch(/same fingerprint/);
    expect((await t.audit()).body.entries).toHaveLength(1);
    expect(t.lines.filter((line) => line.message === 'alert ignored')).toHaveLength(2);
  });
});

describe('GET /audit', () => {
  it('when asked without the token, then 401', async () => {
    const t = await dryRunApp();
    expect((await request(t.app).get('/audit')).status).toBe(401);
  });

  it('when a limit is given, then the last entries, oldest first; a limit out of range is 400', async () => {
    const t = await dryRunApp({ COOLDOWN_SECONDS: '0' });
    for (let i = 0; i < 3; i += 1) await t.post(buildPayload([latency()]));
    const last = await t.audit(2);
    expect(last.body.entries.map((e: { replicas: { to: number } }) => e.replicas.to)).toEqual([5, 6]);
    expect((await t.audit(0)).status).toBe(400);
    expect((await t.audit(501)).status).toBe(400);
  });

  it('when the app restarts on the same audit file, then the history and the cooldowns survive', async () => {
    const t = await dryRunApp();
    await t.post(buildPayload([latency()]));
    await t.auditLog.flush();
    const { config, token } = await buildConfig({ REMEDIATOR_DRY_RUN: 'true', AUDIT_FILE: t.auditFile });
    const { logger } = capturingLogger();
    const audit = new AuditLog(config.audit.file);
    await audit.load();
    const later = t.now() + 60_000;
    const restarted = createApp({ config, logger, swarm: forbiddenSwarm().swarm, audit, now: () => later });
    const before = await request(restarted).get('/audit').set('Authorization', `Bearer ${token}`);
    expect(before.body.entries).toEqual([expect.objectContaining({ action: 'scale_out', result: 'dry_run' })]);
    const again = await request(restarted)
      .post('/alerts')
      .set('Authorization', `Bearer ${token}`)
      .send(buildPayload([latency()]));
    expect(again.body.decisions[0].result).toBe('skipped_cooldown');
  });
});

describe('system routes', () => {
  it('when /healthz and /metrics are asked without a token, then they answer', async () => {
    const t = await dryRunApp();
    expect((await request(t.app).get('/healthz')).body).toEqual({ status: 'ok', dryRun: true });
    const metrics = await t.metrics();
    expect(metrics).toMatch(/^process_cpu_user_seconds_total /m);
    expect(metricValue(metrics, 'remediation_actions_total{action="backup",result="failure"}')).toBe(0);
  });

  it('when a route does not exist, then 404 problem+json', async () => {
    const t = await dryRunApp();
    const res = await request(t.app).get('/nope');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('route-not-found');
  });
});
