// winston JSON logs: the server logs to stdout; the CLI to stderr, since its stdout's last line is its result.
import winston from 'winston';

export function createLogger(options: { level: string; service: string; stream?: NodeJS.WritableStream }) {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level,
    defaultMeta: { service: options.service },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports: [transport],
  });
}

/** A logger that drops everything (tests, library use). */
export const silentLogger = () =>
  winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });

export type Logger = winston.Logger;
