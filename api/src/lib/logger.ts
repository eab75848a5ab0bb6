// winston JSON logs to stdout. Every line carries the current request id; secrets are redacted by key.
import winston from 'winston';
import { requestContext } from './request-context.js';

const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|hash/i;

function redact(value: unknown, depth = 0): unknown {
  if (depth > 5 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, SECRET_KEY.test(key) ? '[redacted]' : redact(item, depth + 1)]),
  );
}

const withContext = winston.format((info) => {
  const context = requestContext.get();
  if (context && info.requestId === undefined) info.requestId = context.requestId;
  for (const key of Object.keys(info)) {
    if (SECRET_KEY.test(key)) info[key] = '[redacted]';
    else if (key !== 'level' && key !== 'message') info[key] = redact(info[key]);
  }
  return info;
});

export function createLogger(options: { level: string; service: string; stream?: NodeJS.WritableStream }) {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level,
    defaultMeta: { service: options.service },
    format: winston.format.combine(withContext(), winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
}

export type Logger = winston.Logger;
