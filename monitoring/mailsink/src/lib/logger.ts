// winston JSON logs to stdout, one object per line. Errors become { name, message, stack, code }.
import winston from 'winston';

function serialize(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const { code } = value as NodeJS.ErrnoException;
  return { name: value.name, message: value.message, stack: value.stack, ...(code ? { code } : {}) };
}

const errorsAsObjects = winston.format((info) => {
  for (const key of Object.keys(info)) if (key !== 'level' && key !== 'message') info[key] = serialize(info[key]);
  return info;
});

export function createLogger(options: { level: string; service: string; stream?: NodeJS.WritableStream }) {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level,
    defaultMeta: { service: options.service },
    format: winston.format.combine(errorsAsObjects(), winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
}

export type Logger = winston.Logger;
