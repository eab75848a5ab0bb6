// winston JSON logs to stdout. Anything under a secret-looking key is redacted, so a token never reaches a log.
import winston from 'winston';

const SECRET_KEY = /secret|token|authorization|password/i;

const redactSecrets = winston.format((info) => {
  for (const key of Object.keys(info)) if (SECRET_KEY.test(key)) info[key] = '[redacted]';
  if (info.error instanceof Error) {
    info.error = { name: info.error.name, message: info.error.message, stack: info.error.stack };
  }
  return info;
});

export function createLogger(options: { level: string; stream?: NodeJS.WritableStream }) {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level,
    defaultMeta: { service: 'swarmlab-remediator' },
    format: winston.format.combine(redactSecrets(), winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
}

export type Logger = winston.Logger;
