// The only reader of process.env. Parsed once at start-up; every bad variable is named in one error.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
const emails = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((address) => address.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.email({ error: 'must be e-mail addresses, comma-separated' })).min(1));

const schema = z.object({
  PROMETHEUS_URL: httpUrl.default('http://prometheus:9090'),
  PROMETHEUS_TIMEOUT_MS: int(100, 600_000).default(30_000),
  // The lab's Prometheus asks every caller for basic auth (user prometheus): the file holding its password.
  PROMETHEUS_PASSWORD_FILE: z.string().min(1).optional(),
  SMTP_HOST: z.string().min(1).default('mailsink'),
  SMTP_PORT: int(1, 65_535).default(1025),
  // The lab's mail sink speaks plain SMTP only: with this set, nodemailer does not even try STARTTLS. Anywhere
  // else leave it unset, so a relay that offers STARTTLS gets it (with certificate checks).
  SMTP_LAB_SINK: z.stringbool().default(false),
  REPORT_FROM: z.email().default('report@lab.localhost'),
  REPORT_TO: emails.default(['ops@lab.localhost']),
  REPORTS_DIR: z.string().min(1).default('/var/lib/reports'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(0, 65_535).default(8080),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  SHUTDOWN_TIMEOUT_MS: int(100, 120_000).default(10_000),
  GIT_SHA: z.string().default('unknown'),
});

export function loadConfig(env: Env = process.env) {
  // Empty strings mean "unset", as they do in compose files.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}`));
  }
  const e = parsed.data;
  const password = e.PROMETHEUS_PASSWORD_FILE && readSecret('PROMETHEUS_PASSWORD_FILE', e.PROMETHEUS_PASSWORD_FILE);
  return Object.freeze({
    app: { name: 'swarmlab-reporter', gitSha: e.GIT_SHA },
    prometheus: {
      url: e.PROMETHEUS_URL.replace(/\/+$/, ''),
      timeoutMs: e.PROMETHEUS_TIMEOUT_MS,
      ...(password && { password }),
    },
    smtp: { host: e.SMTP_HOST, port: e.SMTP_PORT, labSink: e.SMTP_LAB_SINK },
    mail: { from: e.REPORT_FROM, to: e.REPORT_TO },
    reports: { dir: e.REPORTS_DIR },
    http: { host: e.HOST, port: e.PORT, shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS },
    log: { level: e.LOG_LEVEL },
  });
}

/** A secret's file, trimmed; a missing, unreadable or empty one is a configuration error naming its variable. */
function readSecret(variable: string, file: string): string {
  let value: string;
  try {
    value = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError([`${variable}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  if (!value) throw new ConfigError([`${variable}: ${file} is empty`]);
  return value;
}

export type Config = ReturnType<typeof loadConfig>;
