// Bulk import and export of users. An import is read as a stream within byte and row limits, every row
// is validated, and only a file without a single bad row is written, in one transaction.
import { finished } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import type { ZodType } from 'zod';
import type { Config } from '../../config.js';
import type { Database } from '../../lib/db.js';
import { restoreCell } from '../../lib/csv-cells.js';
import { AppError, type FieldError } from '../../lib/errors.js';
import type { Metrics } from '../../lib/metrics.js';
import type { UserDto } from './users.schemas.js';
import { UsersTransferRepository } from './users-transfer.repository.js';
import {
  CSV_COLUMNS,
  CsvRow,
  NdjsonRow,
  type ImportResult,
  type ImportRow,
  type OnConflict,
  type TransferFormat,
} from './users-transfer.schemas.js';

const MAX_LISTED_ERRORS = 1_000;
const EXPORT_BATCH = 1_000;

type Problem = Omit<FieldError, 'line'>;
/** A record of the file before validation: the fields, or why it could not even be read. */
type RawRecord = { line: number; value: unknown } | { line: number; problem: Problem };

export interface ImportOptions {
  format: TransferFormat;
  onConflict: OnConflict;
  /** The Content-Length the client announced, if any: a body announced too large is refused unread. */
  declaredBytes?: number;
}

export class UsersTransferService {
  private readonly repository: UsersTransferRepository;

  constructor(
    readonly db: Database,
    readonly metrics: Metrics,
    readonly limits: Config['import'],
  ) {
    this.repository = new UsersTransferRepository(db);
  }

  async importUsers(body: AsyncIterable<Buffer>, options: ImportOptions): Promise<ImportResult> {
    if ((options.declaredBytes ?? 0) > this.limits.maxBytes) throw this.tooLarge();
    const text = decode(this.limitBytes(body));
    const records = options.format === 'csv' ? csvRecords(text) : ndjsonRecords(text);
    const { rows, lineOf } = await this.validate(records, options.format === 'csv' ? CsvRow : NdjsonRow);

    const { created, taken } = await this.repository.insertNew(rows, { skipTaken: options.onConflict === 'skip' });
    if (options.onConflict === 'fail' && taken.length > 0) {
      this.metrics.importRows.inc({ outcome: 'rejected' }, taken.length);
      const errors = taken
        .map((email) => ({ line: lineOf.get(email)!, field: 'email', reason: 'is taken by an existing user' }))
        .sort((a, b) => a.line - b.line);
      throw new AppError('email-taken', describeErrors(errors.length, 'emails exist already'), 409, {
        errors: errors.slice(0, MAX_LISTED_ERRORS),
      });
    }
    this.db.markWritten();
    const skipped = rows.length - created;
    this.metrics.importRows.inc({ outcome: 'created' }, created);
    this.metrics.importRows.inc({ outcome: 'skipped' }, skipped);
    return { created, skipped, total: rows.length };
  }

  /** Every user ordered by id, fetched in batches as the consumer asks for more. */
  async *exportUsers(filter: { active?: boolean | undefined }): AsyncGenerator<UserDto> {
    // Not `yield* batch`: when the client goes away, Node 24's Readable.from() calls throw() on this generator, and
    // an array's iterator has no throw() to delegate to (a TypeError, logged as an error after the response began).
    for await (const batch of this.repository.batches(filter, EXPORT_BATCH)) for (const user of batch) yield user;
  }

  private tooLarge() {
    return new AppError('payload-too-large', `the file is larger than ${this.limits.maxBytes} bytes`, 413);
  }

  private async *limitBytes(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let bytes = 0;
    try {
      for await (const chunk of body) {
        bytes += chunk.length;
        if (bytes > this.limits.maxBytes) throw this.tooLarge();
        yield chunk;
      }
    } catch (error) {
      if (error instanceof AppError) throw error;
      // The client went away mid-upload: its problem, not a 500.
      throw new AppError('request-aborted', 'the upload was interrupted', 400, { cause: error });
    }
  }

  /** Reads every record, and returns the rows only when all of them are valid; throws a 422 otherwise. */
  private async validate(records: AsyncIterable<RawRecord>, schema: ZodType<ImportRow>) {
    const rows: ImportRow[] = [];
    const lineOf = new Map<string, number>();
    const errors: FieldError[] = [];
    let errorCount = 0;
    let invalidRows = 0;
    let total = 0;
    for await (const record of records) {
      if (++total > this.limits.maxRows) {
        throw new AppError('too-many-rows', `the file has more than ${this.limits.maxRows} rows`, 413);
      }
      const checked = 'problem' in record ? { problems: [record.problem] } : checkRow(record.value, schema);
      let problems = checked.problems;
      if (checked.row) {
        const firstLine = lineOf.get(checked.row.email);
        if (firstLine === undefined) {
          rows.push(checked.row);
          lineOf.set(checked.row.email, record.line);
          continue;
        }
        problems = [{ field: 'email', reason: `duplicates the email of line ${firstLine}` }];
      }
      invalidRows++;
      errorCount += problems.length;
      for (const problem of problems) {
        if (errors.length < MAX_LISTED_ERRORS) errors.push({ line: record.line, ...problem });
      }
    }
    if (errorCount > 0) {
      this.metrics.importRows.inc({ outcome: 'rejected' }, invalidRows);
      throw new AppError(
        'import-invalid',
        `${describeErrors(errorCount, 'problems')} in ${invalidRows} of ${total} rows; nothing was imported`,
        422,
        { errors },
      );
    }
    return { rows, lineOf };
  }
}

function describeErrors(count: number, what: string) {
  return count > MAX_LISTED_ERRORS
    ? `${count} ${what} (the first ${MAX_LISTED_ERRORS} are listed)`
    : `${count} ${what}`;
}

function checkRow(value: unknown, schema: ZodType<ImportRow>): { row?: ImportRow; problems: Problem[] } {
  // The decoder turned bytes that are not UTF-8 into U+FFFD.
  const undecodable = Object.entries(typeof value === 'object' && value !== null ? value : {})
    .filter(([, field]) => typeof field === 'string' && field.includes('\uFFFD'))
    .map(([field]) => ({ field, reason: 'is not valid UTF-8' }));
  if (undecodable.length > 0) return { problems: undecodable };
  const result = schema.safeParse(value);
  if (result.success) return { row: result.data, problems: [] };
  return {
    problems: result.error.issues.map((issue) => ({ field: issue.path.join('.') || 'row', reason: issue.message })),
  };
}

/** UTF-8 text of the body, split anywhere; invalid bytes become U+FFFD and a leading BOM is dropped. */
async function* decode(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks) yield decoder.decode(chunk, { stream: true });
  yield decoder.decode();
}

async function* ndjsonRecords(text: AsyncIterable<string>): AsyncGenerator<RawRecord> {
  let line = 0;
  for await (const content of lines(text)) {
    line++;
    if (content.trim() === '') continue;
    try {
      yield { line, value: JSON.parse(content) };
    } catch {
      yield { line, problem: { field: 'row', reason: 'is not valid JSON' } };
    }
  }
}

/** Lines without their \n or \r\n; each chunk is searched once, so a huge line costs no more than its size. */
async function* lines(text: AsyncIterable<string>): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of text) {
    const parts = chunk.split('\n');
    if (parts.length === 1) {
      pending += chunk;
      continue;
    }
    parts[0] = pending + parts[0];
    pending = parts.pop()!;
    for (const part of parts) yield part.endsWith('\r') ? part.slice(0, -1) : part;
  }
  if (pending !== '') yield pending;
}

async function* csvRecords(text: AsyncIterable<string>): AsyncGenerator<RawRecord> {
  // csv-parse counts a \r\n inside quotes as two lines, so lines are counted here: a record starts on the
  // line after the previous one ended, and spans one line more per newline inside its quoted fields.
  let line = 1;
  // Records are collected as they are parsed, not read from the stream: a CSV error destroys the stream
  // with the records it still buffers, and those must be checked too.
  const parsed: { line: number; fields: string[] }[] = [];
  const parser = parse({
    relax_column_count: true,
    record_delimiter: ['\r\n', '\n'],
    on_record: (fields: string[]) => {
      parsed.push({ line, fields });
      line += 1 + fields.reduce((count, field) => count + field.split('\n').length - 1, 0);
      return null;
    },
  });
  parser.resume();
  // Errors are taken from write()'s callback and from finished(); unheard, the event would crash the process.
  parser.on('error', () => {});
  const write = (chunk: string) =>
    new Promise<void>((resolve, reject) => parser.write(chunk, (error) => (error ? reject(error) : resolve())));
  let columns: string[] | undefined;
  let failure: Problem | undefined;
  try {
    for await (const chunk of text) {
      await write(chunk);
      yield* records(parsed.splice(0));
    }
    parser.end();
    await finished(parser);
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    failure = { field: 'row', reason: csvReason(error) };
  } finally {
    parser.destroy();
  }
  yield* records(parsed.splice(0));
  if (failure) yield { line, problem: failure };
  if (!columns) throw headerError(1, ['the header row (email,name,role,active) is missing']);

  function* records(batch: typeof parsed): Generator<RawRecord> {
    for (const { line, fields } of batch) {
      if (fields.length === 1 && fields[0]!.trim() === '') continue;
      if (!columns) {
        columns = readHeader(fields, line);
        continue;
      }
      if (fields.length !== columns.length) {
        yield {
          line,
          problem: { field: 'row', reason: `has ${fields.length} fields where the header has ${columns.length}` },
        };
        continue;
      }
      // An empty cell of an optional column takes the column's default.
      const cells = columns.map((column, i) => [column, restoreCell(fields[i]!)] as const);
      yield { line, value: Object.fromEntries(cells.filter(([column, cell]) => cell !== '' || isRequired(column))) };
    }
  }
}

const isRequired = (column: string) => column === 'email' || column === 'name';

function readHeader(fields: string[], line: number): string[] {
  const columns = fields.map((field) => field.trim().toLowerCase());
  const known: readonly string[] = CSV_COLUMNS;
  const reasons = [
    ...columns.filter((column) => !known.includes(column)).map((column) => `unknown column "${column}"`),
    ...columns.filter((column, i) => columns.indexOf(column) !== i).map((column) => `column "${column}" repeats`),
    ...['email', 'name'].filter((column) => !columns.includes(column)).map((column) => `column "${column}" is missing`),
  ];
  if (reasons.length > 0) throw headerError(line, reasons);
  return columns;
}

function headerError(line: number, reasons: string[]) {
  return new AppError('import-invalid', 'the CSV header row is not valid; nothing was imported', 422, {
    errors: reasons.map((reason) => ({ line, field: 'header', reason })),
  });
}

function csvReason(error: CsvError) {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is not closed';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a closing quote must be followed by a comma or the end of the line';
    default:
      return 'is not valid CSV';
  }
}
