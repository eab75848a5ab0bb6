import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { neutraliseCell } from '../../lib/csv-cells.js';
import { AppError } from '../../lib/errors.js';
import { defineRoute, type RouteContext } from '../../lib/routes.js';
import {
  EXPORT_COLUMNS,
  ExportQuery,
  IMPORT_CONTENT_TYPES,
  ImportQuery,
  ImportResultSchema,
  type TransferFormat,
} from './users-transfer.schemas.js';
import type { UsersTransferService } from './users-transfer.service.js';

const MEDIA_TYPES: Record<TransferFormat, string> = { csv: 'text/csv', ndjson: 'application/x-ndjson' };

export function usersTransferRoutes(context: RouteContext, deps: { transfer: UsersTransferService }) {
  defineRoute(
    context,
    {
      method: 'post',
      path: '/import',
      summary: 'Create users from a CSV or NDJSON file, all or nothing',
      tags: ['users'],
      access: 'admin',
      query: ImportQuery,
      rawBody: {
        contentTypes: Object.keys(IMPORT_CONTENT_TYPES),
        description:
          'UTF-8. CSV: a header row with email and name, and optionally role (admin|user, default user) and ' +
          "active (true|false, default true); a cell starting with ' before =, +, -, @, tab or CR loses that one " +
          "quote (the export's guard against spreadsheet formulas). NDJSON: one object with the same fields per line. " +
          'Imported users have no password.',
      },
      responses: { 201: { description: 'every row was imported or skipped', schema: ImportResultSchema } },
      errors: [409, 413, 415, 422],
    },
    async ({ query }, req, res) => {
      const format = importFormat(req.headers['content-type'], req.headers['content-encoding']);
      const result = await deps.transfer.importUsers(
        // Not destroyed when the import stops early: the socket must live to send the error.
        req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>,
        { format, onConflict: query.onConflict, declaredBytes: Number(req.headers['content-length']) },
      );
      res.status(201).json(result);
    },
  );

  defineRoute(
    context,
    {
      method: 'get',
      path: '/export',
      summary: 'Download every user as CSV or NDJSON, ordered by id',
      tags: ['users'],
      access: 'admin',
      query: ExportQuery,
      responses: { 200: { description: 'the users, streamed', contentTypes: Object.values(MEDIA_TYPES) } },
    },
    async ({ query }, req, res) => {
      const format =
        query.format ?? (req.accepts(['application/x-ndjson', 'text/csv']) === 'text/csv' ? 'csv' : 'ndjson');
      const filename = `users-${new Date().toISOString().slice(0, 10)}.${format === 'csv' ? 'csv' : 'ndjson'}`;
      res.set({
        'Content-Type': `${MEDIA_TYPES[format]}; charset=utf-8`,
        'Content-Disposition': `attachment; filename="${filename}"`,
        'Cache-Control': 'no-store',
      });
      const users = Readable.from(deps.transfer.exportUsers({ active: query.active }));
      try {
        await pipeline(users, format === 'csv' ? csvWriter() : ndjsonWriter(), res);
      } catch (error) {
        // A client that goes away ends the export (and its queries); that is not an error of ours.
        if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
        throw error;
      }
    },
  );
}

function importFormat(contentType = '', contentEncoding = 'identity'): TransferFormat {
  const [type = '', ...parameters] = contentType
    .toLowerCase()
    .split(';')
    .map((part) => part.trim());
  const format = IMPORT_CONTENT_TYPES[type as keyof typeof IMPORT_CONTENT_TYPES];
  if (!format) {
    throw new AppError('unsupported-media-type', 'send the file as text/csv or application/x-ndjson', 415);
  }
  const charset = parameters.find((parameter) => parameter.startsWith('charset='))?.slice('charset='.length);
  const utf8 = charset === undefined || ['utf-8', 'utf8', '"utf-8"'].includes(charset);
  if (!utf8 || contentEncoding.toLowerCase() !== 'identity') {
    throw new AppError('unsupported-encoding', 'send the file as uncompressed UTF-8', 415);
  }
  return format;
}

function csvWriter() {
  return stringify({
    header: true,
    columns: [...EXPORT_COLUMNS],
    cast: { boolean: (value) => String(value), string: neutraliseCell },
  });
}

function ndjsonWriter() {
  return new Transform({
    writableObjectMode: true,
    transform(row, _encoding, done) {
      done(null, `${JSON.stringify(row)}\n`);
    },
  });
}
