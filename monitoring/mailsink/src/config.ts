// The only reader of process.env. Parsed once at start-up; every bad variable is named in one error.
// Hand-written checks rather than zod: six variables, all numbers or paths.
import path from 'node:path';
import packageJson from '../package.json' with { type: 'json' };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'debug'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** Reads the variables of one config; each reader records its problem and returns a placeholder. */
function reader(env: Env, problems: string[]) {
  // Empty strings mean "unset", as they do in compose files.
  const raw = (name: string) => (env[name] === '' ? undefined : env[name]);

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      problems.push(`${name}: must be a whole number from ${min} to ${max} (got "${value}")`);
      return fallback;
    }
    return Number(value);
  };

  /** 10485760, 10mb, 512kb, 100b. */
  const bytes = (name: string, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    const match = /^(\d+)(b|kb|mb)?$/i.exec(value);
    const unit = { b: 1, kb: 1024, mb: 1024 * 1024 }[(match?.[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb'];
    const parsed = match ? Number(match[1]) * unit : NaN;
    if (!(parsed >= min && parsed <= max)) {
      problems.push(`${name}: must be a size from ${min} to ${max} bytes, like 10mb or 512kb (got "${value}")`);
      return fallback;
    }
    return parsed;
  };

  /** An absolute path; with no fallback, the variable is required. */
  const absolutePath = (name: string, fallback: string): string => {
    const value = raw(name) ?? fallback;
    if (value === '') problems.push(`${name}: required, an absolute path`);
    else if (!path.isAbsolute(value)) problems.push(`${name}: must be an absolute path (got "${value}")`);
    return value;
  };

  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      problems.push(`${name}: must be one of ${allowed.join(', ')} (got "${value}")`);
      return fallback;
    }
    return value as T;
  };

  return { raw, int, bytes, absolutePath, oneOf };
}

export function loadConfig(env: Env = process.env) {
  const problems: string[] = [];
  const read = reader(env, problems);
  const config = {
    app: { name: 'swarmlab-mailsink', version: packageJson.version, gitSha: read.raw('GIT_SHA') ?? 'unknown' },
    /** Both servers listen on this address. */
    host: read.raw('HOST') ?? '0.0.0.0',
    smtp: {
      port: read.int('SMTP_PORT', 1025, 0, 65535),
      maxBytes: read.bytes('MAILSINK_MAX_BYTES', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    },
    http: {
      port: read.int('HTTP_PORT', 8025, 0, 65535),
      /** The file that holds the password of the pages and the API (a Docker secret); required. */
      passwordFile: read.absolutePath('MAILSINK_PASSWORD_FILE', ''),
    },
    store: {
      dataDir: read.absolutePath('MAILSINK_DATA_DIR', '/var/lib/mailsink'),
      maxMessages: read.int('MAILSINK_MAX_MESSAGES', 1000, 1, 100_000),
    },
    log: { level: read.oneOf<LogLevel>('LOG_LEVEL', LOG_LEVELS, 'info') },
    shutdown: { timeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 120_000) },
  };
  if (config.smtp.port !== 0 && config.smtp.port === config.http.port) {
    problems.push(`SMTP_PORT and HTTP_PORT: must differ (both ${config.smtp.port})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

export type Config = ReturnType<typeof loadConfig>;
