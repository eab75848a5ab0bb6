import pg from 'pg';

/** Runs one statement on a connection of its own, closed again whatever happens. */
export async function queryOnce<R extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  statement: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await client.query<R>(statement, params);
  } finally {
    await client.end();
  }
}
