import { z } from 'zod';
import { booleanQuery } from '../../lib/schemas.js';
import { email, RoleSchema, userName } from './users.schemas.js';

export const IMPORT_CONTENT_TYPES = { 'text/csv': 'csv', 'application/x-ndjson': 'ndjson' } as const;
export type TransferFormat = 'csv' | 'ndjson';

export const ImportQuery = z.object({ onConflict: z.enum(['fail', 'skip']).default('fail') });
export type OnConflict = z.output<typeof ImportQuery>['onConflict'];

export const ImportResultSchema = z
  .object({
    created: z.number().int(),
    skipped: z.number().int().describe('rows whose email existed already (onConflict=skip)'),
    total: z.number().int(),
  })
  .openapi('UsersImportResult');
export type ImportResult = z.infer<typeof ImportResultSchema>;

export const ExportQuery = z.object({
  format: z.enum(['csv', 'ndjson']).optional().describe('wins over the Accept header; default ndjson'),
  active: booleanQuery.optional(),
});

const rowFields = { email, name: userName, role: RoleSchema.default('user') };

/** A CSV row: every cell is text; empty role and active cells were removed and take their defaults. */
export const CsvRow = z.object({
  ...rowFields,
  active: z
    .enum(['true', 'false'])
    .transform((value) => value === 'true')
    .default(true),
});

export const NdjsonRow = z.strictObject({ ...rowFields, active: z.boolean().default(true) });

export type ImportRow = z.output<typeof NdjsonRow>;

export const CSV_COLUMNS = ['email', 'name', 'role', 'active'] as const;
export const EXPORT_COLUMNS = ['id', 'email', 'name', 'role', 'active', 'createdAt', 'updatedAt'] as const;
