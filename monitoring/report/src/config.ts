// The only reader of process.env. Parsed once at start-up; every bad variable is named in one error.
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
  return Object.freeze({
    app: { name: 'swarmlab-reporter', gitSha: e.GIT_SHA },
    prometheus: { url: e.PROMETHEUS_URL.replace(/\/+$/, ''), timeoutMs: e.PROMETHEUS_TIMEOUT_MS },
    smtp: { host: e.SMTP_HOST, port: e.SMTP_PORT, labSink: e.SMTP_LAB_SINK },
    mail: { from: e.REPORT_FROM, to: e.REPORT_TO },
    reports: { dir: e.REPORTS_DIR },
    http: { host: e.HOST, port: e.PORT, shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS },
    log: { level: e.LOG_LEVEL },
  });
}

export type Config = ReturnType<typeof loadConfig>;
