import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { tempDir } from './helpers/factories.js';

let dir: string;
let tokenFile: string;
beforeAll(async () => {
  dir = await tempDir('remediator-config-');
  tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${'t'.repeat(40)}\n`);
});

function problemsOf(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('when only the token file is set, then the documented defaults apply and the result is frozen', () => {
    const config = loadConfig({ REMEDIATOR_TOKEN_FILE: tokenFile });
    expect(config.http.port).toBe(8080);
    expect(config.auth.token).toBe('t'.repeat(40));
    expect(config.dryRun).toBe(false);
    expect(config.stack).toBe('swarmlab');
    expect(config.policy).toEqual({ apiService: 'api', restartAllowlist: ['api'], backupService: 'backup' });
    expect(config.bounds).toEqual({ minReplicas: 3, maxReplicas: 6 });
    expect(config.guards).toEqual({ cooldownSeconds: 300, maxActionsPerHour: 12 });
    expect(config.audit.file).toBe('/var/lib/remediator/audit.jsonl');
    expect(config.docker).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('when variables are set, then they are used', () => {
    const config = loadConfig({
      REMEDIATOR_TOKEN_FILE: tokenFile,
      PORT: '9000',
      REMEDIATOR_DRY_RUN: 'true',
      API_SERVICE: 'web',
      API_MIN_REPLICAS: '2',
      API_MAX_REPLICAS: '4',
      RESTART_ALLOWLIST: 'web, db-router',
      COOLDOWN_SECONDS: '60',
      MAX_ACTIONS_PER_HOUR: '5',
      STACK_NAME: 'lab',
      DOCKER_HOST: 'tcp://remediator-socket-proxy:2375',
    });
    expect(config.docker).toEqual({ host: 'remediator-socket-proxy', port: 2375, protocol: 'http' });
    expect(config).toMatchObject({
      http: { port: 9000 },
      dryRun: true,
      stack: 'lab',
      policy: { apiService: 'web', restartAllowlist: ['web', 'db-router'] },
      bounds: { minReplicas: 2, maxReplicas: 4 },
      guards: { cooldownSeconds: 60, maxActionsPerHour: 5 },
    });
  });

  it('when the token file is missing, empty or short, then start-up is refused with a clear message', async () => {
    expect(problemsOf({ REMEDIATOR_TOKEN_FILE: path.join(dir, 'absent') })).toEqual([
      `REMEDIATOR_TOKEN_FILE: cannot read ${path.join(dir, 'absent')} (ENOENT); mount the remediator_webhook_token secret there`,
    ]);
    const empty = path.join(dir, 'empty');
    await writeFile(empty, '\n');
    expect(problemsOf({ REMEDIATOR_TOKEN_FILE: empty })).toEqual([
      `REMEDIATOR_TOKEN_FILE: ${empty} is empty; it must hold the webhook token`,
    ]);
    const short = path.join(dir, 'short');
    await writeFile(short, 'x'.repeat(31));
    expect(problemsOf({ REMEDIATOR_TOKEN_FILE: short })).toEqual([
      `REMEDIATOR_TOKEN_FILE: the token in ${short} has 31 characters; at least 32 are required`,
    ]);
  });

  it('when variables are bad, then every one is named in one error', () => {
    const problems = problemsOf({
      REMEDIATOR_TOKEN_FILE: tokenFile,
      PORT: 'eighty',
      REMEDIATOR_DRY_RUN: 'maybe',
      API_MAX_REPLICAS: '0',
      STACK_NAME: 'bad name',
      DOCKER_HOST: 'https://docker:2376',
    });
    expect(problems.map((problem) => problem.split(':')[0])).toEqual(
      expect.arrayContaining(['PORT', 'REMEDIATOR_DRY_RUN', 'API_MAX_REPLICAS', 'STACK_NAME', 'DOCKER_HOST']),
    );
  });

  it('when the minimum exceeds the maximum, then start-up is refused', () => {
    expect(problemsOf({ REMEDIATOR_TOKEN_FILE: tokenFile, API_MIN_REPLICAS: '5', API_MAX_REPLICAS: '4' })).toEqual([
      'API_MIN_REPLICAS (5) must not exceed API_MAX_REPLICAS (4)',
    ]);
  });
});
