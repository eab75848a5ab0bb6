// The report's command line, run inside the reporter container (cron on the manager and `npm run report` both
// `docker exec` it):
//   node dist/cli.js generate [--days 7] [--end ISO] [--mail] [--out /var/lib/reports] [--verbose]
// Logs go to stderr; the last line of stdout is the result as JSON: {"dir":"/var/lib/reports/2026-11-22","mailed":true}.
// Exit codes: 0 done, 1 failed (nothing written when Prometheus failed; the report is kept when only the mail
// failed), 2 bad usage or configuration.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Env } from './config.js';
import { generateReport } from './generate.js';
import { isMain } from './is-main.js';
import { createLogger } from './logger.js';
import { createMailer, MailError } from './mail.js';
import { createPrometheusClient, PrometheusError } from './prometheus.js';

export const HELP = `Usage: node dist/cli.js generate [options]

Generates the weekly report from Prometheus: <out>/<YYYY-MM-DD>/index.html with its charts (*.svg),
report.json and report.txt. Prints {"dir": ..., "mailed": ...} as the last line of stdout.

Options:
  --days <n>     length of the period in days, 1 to 30 (default 7; Prometheus keeps 30 days)
  --end <time>   end of the period, ISO 8601 (default: now, to the minute)
  --mail         also mail it (REPORT_TO, through SMTP_HOST:SMTP_PORT)
  --out <dir>    reports directory (default REPORTS_DIR, /var/lib/reports)
  --verbose      debug logs on stderr
  -h, --help     this help

Environment: PROMETHEUS_URL, PROMETHEUS_PASSWORD_FILE, PROMETHEUS_TIMEOUT_MS, SMTP_HOST, SMTP_PORT, SMTP_LAB_SINK, REPORT_FROM,
REPORT_TO, REPORTS_DIR (docs/monitoring.md, "Weekly report").`;

export interface CliIo {
  /** Default: the process's environment (read by config.ts). */
  env?: Env;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  now?: () => Date;
}

class UsageError extends Error {}

function parse(argv: string[], now: Date) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        days: { type: 'string', default: '7' },
        end: { type: 'string' },
        mail: { type: 'boolean', default: false },
        out: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true as const };
  if (positionals.length !== 1 || positionals[0] !== 'generate') {
    throw new UsageError(
      `expected the command "generate", got ${positionals.length ? `"${positionals.join(' ')}"` : 'none'}`,
    );
  }
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1 || days > 30) {
    throw new UsageError(`--days must be a whole number from 1 to 30, not "${values.days}"`);
  }
  let end = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  if (values.end !== undefined) {
    end = new Date(values.end);
    if (!/^\d{4}-\d{2}-\d{2}/.test(values.end) || Number.isNaN(end.getTime())) {
      throw new UsageError(`--end must be an ISO 8601 time such as 2026-11-23T06:00:00Z, not "${values.end}"`);
    }
    if (end.getTime() > now.getTime() + 60_000) throw new UsageError(`--end ${values.end} is in the future`);
  }
  return { help: false as const, days, end, mail: values.mail, out: values.out, verbose: values.verbose };
}

/** Runs the CLI; resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const now = io.now ?? (() => new Date());
  const say = (line: string) => io.stderr.write(`${line}\n`);
  let args: ReturnType<typeof parse>;
  let config: ReturnType<typeof loadConfig>;
  try {
    args = parse(argv, now());
    if (args.help) {
      io.stdout.write(`${HELP}\n`);
      return 0;
    }
    config = loadConfig(io.env);
  } catch (error) {
    if (error instanceof UsageError) {
      say(`${error.message}\n\n${HELP}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      say(error.message);
      return 2;
    }
    throw error;
  }

  const logger = createLogger({
    level: args.verbose ? 'debug' : config.log.level,
    service: `${config.app.name}-cli`,
    stream: io.stderr,
  });
  const prometheus = createPrometheusClient({
    url: config.prometheus.url,
    timeoutMs: config.prometheus.timeoutMs,
    ...(config.prometheus.password && { password: config.prometheus.password }),
    onWarning: (warning, query) => logger.warn('prometheus warning', { warning, query }),
  });

  let report;
  try {
    report = await generateReport({
      prometheus,
      out: args.out ?? config.reports.dir,
      end: args.end,
      days: args.days,
      logger,
      version: config.app.gitSha,
      now,
    });
  } catch (error) {
    if (error instanceof PrometheusError) {
      say(
        `report not generated: ${error.message}\nNothing was written. Check Prometheus (PROMETHEUS_URL) and run again.`,
      );
      return 1;
    }
    say(`report not generated: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }

  let mailed = false;
  let failed = false;
  if (args.mail) {
    const mailer = createMailer(config.smtp, config.mail);
    try {
      const sent = await mailer.send({ subject: report.title, html: report.mailHtml, text: report.text });
      logger.info('report mailed', { to: sent.accepted, messageId: sent.messageId });
      mailed = true;
    } catch (error) {
      if (!(error instanceof MailError)) throw error;
      say(`${error.message}\nThe report is saved in ${report.dir}; mail it again with --mail.`);
      failed = true;
    } finally {
      mailer.close();
    }
  }
  io.stdout.write(`${JSON.stringify({ dir: report.dir, mailed })}\n`);
  return failed ? 1 : 0;
}

if (isMain(import.meta.filename)) {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
  });
}
