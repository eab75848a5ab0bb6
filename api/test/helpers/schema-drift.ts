// Compares schema.prisma (through Prisma's own parser, offline) with a migrated database: tables, columns,
// types, nullability, defaults, enums, unique and plain indexes. Returns one line per difference.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import internals from '@prisma/internals';
import pg from 'pg';

export const SCHEMA_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/schema.prisma');

interface Column {
  type: string;
  notNull: boolean;
  default: string | null;
}

export interface SchemaShape {
  tables: Map<string, Map<string, Column>>;
  enums: Map<string, string[]>;
  /** `table(col1,col2)` for unique indexes (primary keys included) and `table(col) plain` for the others. */
  indexes: Set<string>;
}

type DmmfField = Awaited<ReturnType<typeof internals.getDMMF>>['datamodel']['models'][number]['fields'][number];

const SCALAR_TYPES: Record<string, string> = {
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  String: 'text',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

function nativeType(native: [string, string[]]): string {
  const [name, args] = native;
  const size = args.length ? `(${args.join(',')})` : '';
  switch (name) {
    case 'VarChar':
      return `character varying${size}`;
    case 'Char':
      return `character${size}`;
    case 'Timestamptz':
      return `timestamp${size} with time zone`;
    case 'Timestamp':
      return `timestamp${size} without time zone`;
    default:
      return `${name.toLowerCase()}${size}`;
  }
}

function expectedDefault(field: DmmfField, enumDbName: (name: string) => string): string | null {
  if (!field.hasDefaultValue || field.default === undefined) return null;
  const value = field.default as unknown;
  if (typeof value === 'object' && value !== null && 'name' in value) {
    const fn = (value as { name: string }).name;
    if (fn === 'autoincrement') return 'identity';
    if (fn === 'now') return 'now()';
    return `${fn}()`;
  }
  if (Array.isArray(value)) return `'{${value.join(',')}}'`;
  if (field.kind === 'enum') return `'${String(value)}'::${enumDbName(field.type)}`;
  if (typeof value === 'string') return `'${value}'`;
  return String(value);
}

/** What schema.prisma says the database must look like. */
export async function shapeFromPrisma(): Promise<SchemaShape> {
  const dmmf = await internals.getDMMF({ datamodel: await readFile(SCHEMA_PATH, 'utf8') });
  const { models, enums, indexes } = dmmf.datamodel;
  const enumDbName = (name: string) => enums.find((e) => e.name === name)?.dbName ?? name;
  const shape: SchemaShape = { tables: new Map(), enums: new Map(), indexes: new Set() };
  for (const e of enums)
    shape.enums.set(
      e.dbName ?? e.name,
      e.values.map((v) => v.dbName ?? v.name),
    );

  const columnName = new Map<string, string>();
  for (const model of models) {
    const table = model.dbName ?? model.name;
    const columns = new Map<string, Column>();
    for (const field of model.fields) {
      if (field.kind === 'object') continue;
      const column = field.dbName ?? field.name;
      columnName.set(`${model.name}.${field.name}`, column);
      const base =
        field.kind === 'enum'
          ? enumDbName(field.type)
          : field.nativeType
            ? nativeType(field.nativeType as [string, string[]])
            : (SCALAR_TYPES[field.type] ?? field.type);
      columns.set(column, {
        type: field.isList ? `${base}[]` : base,
        notNull: field.isRequired,
        default: expectedDefault(field, enumDbName),
      });
    }
    shape.tables.set(table, columns);
  }
  for (const index of indexes) {
    const model = models.find((m) => m.name === index.model)!;
    const cols = index.fields.map((f) => columnName.get(`${model.name}.${f.name}`) ?? f.name).join(',');
    const unique = index.type === 'id' || index.type === 'unique';
    shape.indexes.add(`${model.dbName ?? model.name}(${cols})${unique ? '' : ' plain'}`);
  }
  return shape;
}

function normaliseDefault(raw: string | null, identity: boolean): string | null {
  if (identity || raw?.startsWith('nextval(')) return 'identity';
  if (raw === null) return null;
  if (raw === 'CURRENT_TIMESTAMP') return 'now()';
  return raw
    .replace(/::(text|character varying)(\[\])?$/, '')
    .replace(/::app\.(\w+)$/, '::$1')
    .replace(/^'\{\}'$/, "'{}'");
}

/** What the database (schema `app`) actually looks like. */
export async function shapeFromDatabase(url: string, schema = 'app'): Promise<SchemaShape> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const shape: SchemaShape = { tables: new Map(), enums: new Map(), indexes: new Set() };
    const columns = await client.query<{
      table: string;
      column: string;
      type: string;
      not_null: boolean;
      default: string | null;
      identity: boolean;
      enum_type: string | null;
    }>(
      `SELECT c.relname AS table, a.attname AS column,
              format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
              pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity <> '' AS identity,
              CASE WHEN t.typtype = 'e' THEN t.typname END AS enum_type
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = $1
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped
        ORDER BY c.relname, a.attnum`,
      [schema],
    );
    for (const row of columns.rows) {
      if (!shape.tables.has(row.table)) shape.tables.set(row.table, new Map());
      shape.tables.get(row.table)!.set(row.column, {
        type: row.enum_type ?? row.type.replace(/^app\./, ''),
        notNull: row.not_null,
        default: normaliseDefault(row.default, row.identity),
      });
    }
    const enums = await client.query<{ name: string; labels: string[] }>(
      `SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = $1
        GROUP BY t.typname`,
      [schema],
    );
    for (const row of enums.rows) shape.enums.set(row.name, row.labels);
    const indexes = await client.query<{ table: string; columns: string[]; unique: boolean }>(
      `SELECT c.relname AS table, i.indisunique AS unique,
              array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = $1`,
      [schema],
    );
    for (const row of indexes.rows) {
      shape.indexes.add(`${row.table}(${row.columns.join(',')})${row.unique ? '' : ' plain'}`);
    }
    return shape;
  } finally {
    await client.end();
  }
}

export function compareShapes(expected: SchemaShape, actual: SchemaShape): string[] {
  const problems: string[] = [];
  const names = (map: Map<string, unknown>) => [...map.keys()];
  for (const table of new Set([...names(expected.tables), ...names(actual.tables)])) {
    const want = expected.tables.get(table);
    const have = actual.tables.get(table);
    if (!want || !have) {
      problems.push(`table ${table}: ${want ? 'missing from the database' : 'not in schema.prisma'}`);
      continue;
    }
    for (const column of new Set([...names(want), ...names(have)])) {
      const w = want.get(column);
      const h = have.get(column);
      if (!w || !h) {
        problems.push(`column ${table}.${column}: ${w ? 'missing from the database' : 'not in schema.prisma'}`);
        continue;
      }
      for (const key of ['type', 'notNull', 'default'] as const) {
        if (w[key] !== h[key]) {
          problems.push(
            `column ${table}.${column}: ${key} is ${String(h[key])} in the database, ${String(w[key])} in schema.prisma`,
          );
        }
      }
    }
  }
  for (const name of new Set([...names(expected.enums), ...names(actual.enums)])) {
    const w = expected.enums.get(name)?.join(',');
    const h = actual.enums.get(name)?.join(',');
    if (w !== h)
      problems.push(`enum ${name}: [${h ?? 'missing'}] in the database, [${w ?? 'missing'}] in schema.prisma`);
  }
  for (const index of expected.indexes)
    if (!actual.indexes.has(index)) problems.push(`index ${index}: missing from the database`);
  for (const index of actual.indexes)
    if (!expected.indexes.has(index)) problems.push(`index ${index}: not in schema.prisma`);
  return problems;
}
