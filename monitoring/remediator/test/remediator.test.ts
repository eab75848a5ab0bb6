// Real mode against in-memory swarms: what is asked of the swarm, what a failure looks like, what is written to
// the audit file. (The dockerode implementation itself: swarm.test.ts.)
import { readFile } from 'node:fs/promises';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { AuditLog } from '../src/audit.js';
import type { SwarmActions } from '../src/swarm.js';
import {
  buildAlert,
  buildConfig,
  buildPayload,
  capturingLogger,
  latency,
  recordingSwarm,
} from './helpers/factories.js';

async function realApp(swarm: SwarmActions, env: Record<string, string> = {}) {
  const { config, token, auditFile } = await buildConfig({ COOLDOWN_SECONDS: '0', ...env });
  const { logger, lines } = capturingLogger();
  const audit = new AuditLog(config.audit.file);
  const app = createApp({ config, logger, swarm, audit });
  const post = (body: unknown) =>
    request(app)
      .post('/alerts')
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);
  return { app, post, audit, auditFile, lines };
}

describe('remediation in real mode', () => {
  it('when alerts fire and resolve, then the swarm is asked to scale within bounds, restart and back up', async () => {
    const { swarm, calls } = recordingSwarm(5);
    const t = await realApp(swarm);
    const res = await t.post(
      buildPayload([
        latency(),
        buildAlert({ alertname: 'ApiHighLatencyP95', service: 'api', instance: 'other' }),
        buildAlert({ alertname: 'ApiReplicasBelowDesired', service: 'api' }),
        buildAlert({ alertname: 'BackupTooOld', service: 'backup', type: 'incr' }),
        latency('resolved'),
      ]),
    );
    expect(res.body.dryRun).toBe(false);
    expect(res.body.decisions.map((d: { action: string; result: string }) => `${d.action}:${d.result}`)).toEqual([
      'scale_out:success',
      'scale_out:skipped_bound',
      'restart:success',
      'backup:success',
      'scale_in:success',
    ]);
    expect(res.body.decisions[3].detail).toBe('the due backup asked of the backup service (exec 0123456789ab)');
    expect(calls).toEqual([
      ['replicas', 'api'],
      ['scale', 'api', 6],
      ['replicas', 'api'],
      ['forceRestart', 'api'],
      ['startBackup'],
      ['replicas', 'api'],
      ['scale', 'api', 5],
    ]);
  });

  it('when the swarm fails, then the result is failure with the error, logged as an error, and it still starts a cooldown', async () => {
    const broken: SwarmActions = {
      ...recordingSwarm().swarm,
      forceRestart: async () => {
        throw new Error('(HTTP code 404) no such service - service swarmlab_api not found');
      },
    };
    const t = await realApp(broken, { COOLDOWN_SECONDS: '300' });
    const alert = () => buildAlert({ alertname: 'ApiReplicasBelowDesired', service: 'api' });
    const first = await t.post(buildPayload([alert()]));
    expect(first.status).toBe(200);
    expect(first.body.decisions[0]).toMatchObject({
      action: 'restart',
      result: 'failure',
      detail: 'docker: (HTTP code 404) no such service - service swarmlab_api not found',
    });
    expect(t.lines).toContainEqual(expect.objectContaining({ level: 'error', action: 'restart', result: 'failure' }));
    const second = await t.post(buildPayload([alert()]));
    expect(second.body.decisions[0].result).toBe('skipped_cooldown');
    const metrics = (await request(t.app).get('/metrics')).text;
    expect(metrics).toMatch(/^remediation_actions_total\{action="restart",result="failure"\} 1$/m);
  });

  it('when actions are decided, then each is appended as one JSON line, its directory created', async () => {
    const t = await realApp(recordingSwarm().swarm);
    await t.post(buildPayload([latency(), buildAlert({ alertname: 'ApiDown', service: 'api' })]));
    await t.post(buildPayload([latency('resolved')]));
    await t.audit.flush();
    const lines = (await readFile(t.auditFile, 'utf8')).trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ action: 'scale_out', result: 'success', dryRun: false, replicas: { from: 3, to: 4 } }),
      expect.objectContaining({ action: 'scale_in', result: 'success', replicas: { from: 4, to: 3 } }),
    ]);
  });

  it('when notifications arrive together, then they are handled one at a time and only one passes the cooldown', async () => {
    const { swarm, calls } = recordingSwarm();
    const t = await realApp(swarm, { COOLDOWN_SECONDS: '300' });
    const results = await Promise.all([1, 2, 3].map(() => t.post(buildPayload([latency()]))));
    expect(results.map((res) => res.body.decisions[0].result).sort()).toEqual([
      'skipped_cooldown',
      'skipped_cooldown',
      'success',
    ]);
    expect(calls.filter(([name]) => name === 'scale')).toEqual([['scale', 'api', 4]]);
  });
});
