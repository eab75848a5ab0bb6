// The only reader of process.env. Parsed once at start-up; every bad variable is named in one error.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export const MIN_TOKEN_LENGTH = 32;
const DEFAULT_TOKEN_FILE = '/run/secrets/remediator_webhook_token';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
// Docker object names: what a stack or service name may be.
const name = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must be a Docker object name');
const nameList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  )
  .pipe(z.array(name).min(1, 'must name at least one service'));

const schema = z.object({
  HOST: z.string().default('0.0.0.0'),
  PORT: int(0, 65535).default(8080),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  STACK_NAME: name.default('swarmlab'),
  REMEDIATOR_DRY_RUN: z.stringbool().default(false),
  API_SERVICE: name.default('api'),
  API_MIN_REPLICAS: int(1, 100).default(3),
  API_MAX_REPLICAS: int(1, 100).default(6),
  // Services a restart may target (short names); API_SERVICE when unset.
  RESTART_ALLOWLIST: nameList.optional(),
  COOLDOWN_SECONDS: int(0, 86_400).default(300),
  MAX_ACTIONS_PER_HOUR: int(1, 1000).default(12),
  AUDIT_FILE: z.string().min(1).default('/var/lib/remediator/audit.jsonl'),
  // The Engine API: the lab's socket proxy (tcp://host:port, plain HTTP on an internal network) or a Unix socket.
  DOCKER_HOST: z
    .string()
    .regex(/^(unix:\/\/\/.+|tcp:\/\/[a-zA-Z0-9.-]+:\d{1,5})$/, 'must be unix:///path or tcp://host:port')
    .default('unix:///var/run/docker.sock'),
  SHUTDOWN_TIMEOUT_MS: int(100, 120_000).default(10_000),
});

/** The webhook token, from its file; a missing, empty or short token is a problem, never a default. */
function readToken(file: string, problems: string[]): string | undefined {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    problems.push(
      `REMEDIATOR_TOKEN_FILE: cannot read ${file} (${code}); mount the remediator_webhook_token secret there`,
    );
    return undefined;
  }
  if (token.length === 0) {
    problems.push(`REMEDIATOR_TOKEN_FILE: ${file} is empty; it must hold the webhook token`);
    return undefined;
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    problems.push(
      `REMEDIATOR_TOKEN_FILE: the token in ${file} has ${token.length} characters; at least ${MIN_TOKEN_LENGTH} are required`,
    );
    return undefined;
  }
  return token;
}

/** dockerode's connection options for a DOCKER_HOST already checked by the schema. */
function dockerEndpoint(url: string): { socketPath: string } | { host: string; port: number; protocol: 'http' } {
  if (url.startsWith('unix://')) return { socketPath: url.slice('unix://'.length) };
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port), protocol: 'http' };
}

export function loadConfig(env: Env = process.env) {
  const problems: string[] = [];
  // Empty strings mean "unset", as they do in compose files.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  if (e && e.API_MIN_REPLICAS > e.API_MAX_REPLICAS) {
    problems.push(`API_MIN_REPLICAS (${e.API_MIN_REPLICAS}) must not exceed API_MAX_REPLICAS (${e.API_MAX_REPLICAS})`);
  }
  const token = readToken(env.REMEDIATOR_TOKEN_FILE || DEFAULT_TOKEN_FILE, problems);
  if (problems.length > 0 || !e || !token) throw new ConfigError(problems);

  return Object.freeze({
    http: { host: e.HOST, port: e.PORT, shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS },
    log: { level: e.LOG_LEVEL },
    auth: { token },
    dryRun: e.REMEDIATOR_DRY_RUN,
    stack: e.STACK_NAME,
    docker: dockerEndpoint(e.DOCKER_HOST),
    policy: Object.freeze({
      apiService: e.API_SERVICE,
      restartAllowlist: Object.freeze(e.RESTART_ALLOWLIST ?? [e.API_SERVICE]),
      backupService: 'backup',
    }),
    bounds: Object.freeze({ minReplicas: e.API_MIN_REPLICAS, maxReplicas: e.API_MAX_REPLICAS }),
    guards: Object.freeze({ cooldownSeconds: e.COOLDOWN_SECONDS, maxActionsPerHour: e.MAX_ACTIONS_PER_HOUR }),
    audit: { file: e.AUDIT_FILE },
  });
}

export type Config = ReturnType<typeof loadConfig>;
