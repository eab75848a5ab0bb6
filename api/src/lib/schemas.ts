// Building blocks for input schemas: text without NUL or control characters, emails normalised to lower
// case, ids and pagination values that refuse NaN, negatives and absurd sizes.
import { z } from 'zod';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';

extendZodWithOpenApi(z);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Single-line or multi-line text: trimmed, no NUL/control characters, bounded. */
export const text = (max: number, { min = 1 } = {}) =>
  z
    .string()
    .trim()
    .min(min)
    .max(max)
    .refine((value) => !CONTROL.test(value), 'must not contain control characters');

export const email = z
  .string()
  .trim()
  .toLowerCase()
  .max(128)
  .pipe(z.email('must be a valid email address'))
  .openapi({ example: 'ada@example.com' });

export const password = z.string().min(12, 'must be at least 12 characters').max(256);

/** A positive int4 id, as a JSON number or as a path/query string of digits (no `0x10`, `1e3`, `1.5`). */
export const id = z.preprocess(
  (value) => (typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value),
  z.number().int().min(1).max(2_147_483_647),
);
export const IdParams = z.object({ id });

export const limit = z.coerce.number().int().min(1).max(100).default(20);

export const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');

/** An opaque keyset cursor: base64url JSON of the last row's sort value and id. */
export const cursor = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9_-]+$/, 'is not a valid cursor');

export function encodeCursor(value: unknown, lastId: number): string {
  return Buffer.from(JSON.stringify([value, lastId])).toString('base64url');
}

export function decodeCursor(raw: string): { value: unknown; id: number } | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && Number.isInteger(parsed[1])) {
      return { value: parsed[0], id: parsed[1] as number };
    }
  } catch {
    // fall through: not a cursor we made
  }
  return undefined;
}
