// The only reader of process.env. Parsed once at start-up; every bad variable is named in one error.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import packageJson from '../package.json' with { type: 'json' };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Resolves NAME from NAME or NAME_FILE (Docker secrets). Reading the file is part of parsing, so an
 * unreadable secret is reported like any other bad variable.
 */
function fromEnvOrFile(env: Env, name: string, problems: string[], { fileOnly = false } = {}): string | undefined {
  const file = env[`${name}_FILE`];
  const direct = fileOnly ? undefined : env[name];
  if (file && direct) {
    problems.push(`${name} and ${name}_FILE: set only one of them`);
    return undefined;
  }
  if (!file) return direct;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

const postgresUrl = z.string().refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgresql:// URL');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bytes = z
  .string()
  .regex(/^\d+(b|kb|mb)$/i, 'must look like 100kb or 50mb')
  .transform((value) => {
    const match = /^(\d+)(b|kb|mb)$/i.exec(value)!;
    const unit = { b: 1, kb: 1024, mb: 1024 * 1024 }[match[2]!.toLowerCase() as 'b' | 'kb' | 'mb'];
    return Number(match[1]) * unit;
  });

const schema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('production'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(0, 65535).default(3000),
  METRICS_PORT: int(0, 65535).default(9464),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'debug']).default('http'),
  TRUST_PROXY_HOPS: int(0, 10).default(1),
  BODY_LIMIT: bytes.default(100 * 1024),
  IMPORT_MAX_BYTES: bytes.default(50 * 1024 * 1024),
  IMPORT_MAX_ROWS: int(1, 1_000_000).default(100_000),
  SHUTDOWN_DELAY_MS: int(0, 60_000).default(0),
  SHUTDOWN_TIMEOUT_MS: int(100, 120_000).default(10_000),
  DATABASE_URL: postgresUrl,
  DATABASE_REPLICA_URL: postgresUrl.optional(),
  REPLICA_MAX_LAG_SECONDS: z.coerce.number().min(0).max(3600).default(5),
  REPLICA_CHECK_INTERVAL_MS: int(100, 60_000).default(1000),
  DB_POOL_MAX: int(1, 200).default(10),
  DB_WAIT_SECONDS: z.coerce.number().min(0).max(60).default(8),
  READY_GRACE_SECONDS: z.coerce.number().min(0).max(300).default(15),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (use a random 256-bit value)'),
  JWT_TTL_SECONDS: int(60, 86_400).default(900),
  JWT_ISSUER: z.string().min(1).default('swarmlab'),
  LOGIN_MAX_FAILURES: int(1, 1000).default(5),
  LOGIN_BLOCK_SECONDS: int(1, 86_400).default(900),
  ADMIN_EMAIL: z.email().max(128).optional(),
  ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').max(256).optional(),
  GIT_SHA: z.string().default('unknown'),
});

export function loadConfig(env: Env = process.env) {
  const problems: string[] = [];
  const raw = {
    ...env,
    DATABASE_URL: fromEnvOrFile(env, 'DATABASE_URL', problems),
    DATABASE_REPLICA_URL: fromEnvOrFile(env, 'DATABASE_REPLICA_URL', problems),
    JWT_SECRET: fromEnvOrFile(env, 'JWT_SECRET', problems, { fileOnly: true }),
    ADMIN_PASSWORD: fromEnvOrFile(env, 'ADMIN_PASSWORD', problems, { fileOnly: true }),
  };
  // Empty strings mean "unset", as they do in compose files.
  const cleaned = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const reported = problems.join('\n');
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]);
      if (reported.includes(`${name}_FILE`)) continue; // already explained (unreadable or doubly set)
      const secret = name === 'JWT_SECRET' || name === 'ADMIN_PASSWORD';
      const fileNote = secret && issue.code === 'invalid_type' ? ` (set ${name}_FILE to a file holding it)` : '';
      problems.push(`${name}: ${issue.code === 'invalid_type' ? 'required' : issue.message}${fileNote}`);
    }
  }
  const e = parsed.data;
  if (e && Boolean(e.ADMIN_EMAIL) !== Boolean(e.ADMIN_PASSWORD)) {
    problems.push('ADMIN_EMAIL and ADMIN_PASSWORD_FILE: set both to create the first admin, or neither');
  }
  if (problems.length > 0 || !e) throw new ConfigError(problems);

  return Object.freeze({
    env: e.NODE_ENV,
    app: { name: 'swarmlab-api', version: packageJson.version, gitSha: e.GIT_SHA },
    http: {
      host: e.HOST,
      port: e.PORT,
      metricsPort: e.METRICS_PORT,
      trustProxyHops: e.TRUST_PROXY_HOPS,
      bodyLimitBytes: e.BODY_LIMIT,
      shutdownDelayMs: e.SHUTDOWN_DELAY_MS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    },
    log: { level: e.LOG_LEVEL },
    db: {
      url: e.DATABASE_URL,
      replicaUrl: e.DATABASE_REPLICA_URL,
      replicaMaxLagSeconds: e.REPLICA_MAX_LAG_SECONDS,
      replicaCheckIntervalMs: e.REPLICA_CHECK_INTERVAL_MS,
      poolMax: e.DB_POOL_MAX,
      waitMs: e.DB_WAIT_SECONDS * 1000,
      readyGraceMs: e.READY_GRACE_SECONDS * 1000,
    },
    auth: {
      jwtSecret: e.JWT_SECRET,
      jwtTtlSeconds: e.JWT_TTL_SECONDS,
      jwtIssuer: e.JWT_ISSUER,
      loginMaxFailures: e.LOGIN_MAX_FAILURES,
      loginBlockSeconds: e.LOGIN_BLOCK_SECONDS,
    },
    import: { maxBytes: e.IMPORT_MAX_BYTES, maxRows: e.IMPORT_MAX_ROWS },
    admin: e.ADMIN_EMAIL && e.ADMIN_PASSWORD ? { email: e.ADMIN_EMAIL, password: e.ADMIN_PASSWORD } : undefined,
  });
}

export type Config = ReturnType<typeof loadConfig>;

/** Configuration of the one-shot migration command (src/migrate.ts). */
export function loadMigrationConfig(env: Env = process.env) {
  const problems: string[] = [];
  const url = fromEnvOrFile(env, 'MIGRATION_DATABASE_URL', problems);
  const parsed = postgresUrl.safeParse(url);
  if (!parsed.success) problems.push(`MIGRATION_DATABASE_URL: ${url ? 'must be a postgresql:// URL' : 'required'}`);
  const wait = int(0, 3600)
    .default(60)
    .safeParse(env.MIGRATION_WAIT_SECONDS || undefined);
  if (!wait.success) problems.push('MIGRATION_WAIT_SECONDS: must be a whole number of seconds, 0 to 3600');
  if (problems.length > 0 || !parsed.success || !wait.success) throw new ConfigError(problems);
  return Object.freeze({ databaseUrl: parsed.data, waitSeconds: wait.data });
}
