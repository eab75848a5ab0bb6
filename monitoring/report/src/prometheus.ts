// A small client for Prometheus's HTTP API: /api/v1/query and /api/v1/query_range, with a timeout. Every failure
// is a PrometheusError naming the URL and the PromQL, so "Prometheus is down" and "this query is wrong" read apart.

export type Labels = Record<string, string>;

export interface InstantSample {
  metric: Labels;
  /** NaN, Infinity and -Infinity as Prometheus returns them ("NaN", "+Inf", "-Inf"). */
  value: number;
}

export interface Point {
  /** Unix time in milliseconds. */
  t: number;
  v: number;
}

export interface RangeSeries {
  metric: Labels;
  points: Point[];
}

export class PrometheusError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly query: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n  url:   ${url}\n  query: ${query}`, options);
    this.name = 'PrometheusError';
  }
}

interface ApiAnswer {
  status?: 'success' | 'error';
  errorType?: string;
  error?: string;
  warnings?: string[];
  data?: { resultType: string; result: unknown };
}

type RawVectorItem = { metric: Labels; value: [number, string] };
type RawMatrixItem = { metric: Labels; values: [number, string][] };

export const parseValue = (raw: string): number =>
  raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);

const unixSeconds = (date: Date) => (date.getTime() / 1000).toFixed(3);

/** "connection refused (ECONNREFUSED)" and the like, from what undici throws. */
function describeFetchError(error: unknown, timeoutMs: number): string {
  const err = error as Error & { cause?: Error & { code?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const code = err.cause?.code;
  const hints: Record<string, string> = {
    ECONNREFUSED: 'connection refused: is Prometheus running?',
    ENOTFOUND: 'unknown host: is the reporter on the monitoring network?',
    EAI_AGAIN: 'host name lookup failed: is the reporter on the monitoring network?',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
  };
  if (code) return `${hints[code] ?? err.cause?.message ?? 'request failed'} (${code})`;
  return err.cause?.message ?? err.message;
}

export interface PrometheusClientOptions {
  url: string;
  timeoutMs?: number;
  /** The basic auth password of user prometheus, which the lab's Prometheus asks every caller for. */
  password?: string;
  /** Called with Prometheus's warnings (a partial answer, a query that is too heavy, ...). */
  onWarning?: (warning: string, query: string) => void;
}

export function createPrometheusClient(options: PrometheusClientOptions) {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const auth: Record<string, string> = options.password
    ? { authorization: `Basic ${Buffer.from(`prometheus:${options.password}`).toString('base64')}` }
    : {};

  async function call(endpoint: string, query: string, params: Record<string, string>) {
    const url = `${base}${endpoint}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...auth },
        body: new URLSearchParams({ query, ...params }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new PrometheusError(`Prometheus is unreachable: ${describeFetchError(error, timeoutMs)}`, url, query, {
        cause: error,
      });
    }
    const text = await response.text().catch(() => '');
    if (response.status === 401) {
      throw new PrometheusError(
        `Prometheus refused ${options.password ? 'the password' : 'a caller without a password'} (HTTP 401): ` +
          'set PROMETHEUS_PASSWORD_FILE to the file of the prometheus_password secret',
        url,
        query,
      );
    }
    let answer: ApiAnswer | undefined;
    try {
      answer = JSON.parse(text) as ApiAnswer;
    } catch {
      // Not Prometheus answering (a proxy's error page, another service on that port).
    }
    if (!answer?.status) {
      throw new PrometheusError(
        `Prometheus answered HTTP ${response.status} without an API answer: ${text.slice(0, 200).trim() || '(empty body)'}`,
        url,
        query,
      );
    }
    if (answer.status !== 'success' || !answer.data) {
      throw new PrometheusError(
        `Prometheus refused the query (HTTP ${response.status}, ${answer.errorType ?? 'error'}): ${answer.error ?? 'no detail'}`,
        url,
        query,
      );
    }
    for (const warning of answer.warnings ?? []) options.onWarning?.(warning, query);
    return answer.data;
  }

  return {
    url: base,

    /** An instant query at `time`: one sample per series (a scalar becomes one sample without labels). */
    async query(query: string, time: Date): Promise<InstantSample[]> {
      const data = await call('/api/v1/query', query, { time: unixSeconds(time) });
      if (data.resultType === 'scalar') {
        const [, raw] = data.result as [number, string];
        return [{ metric: {}, value: parseValue(raw) }];
      }
      if (data.resultType !== 'vector') {
        throw new PrometheusError(`expected a vector, Prometheus answered a ${data.resultType}`, base, query);
      }
      return (data.result as RawVectorItem[]).map((item) => ({
        metric: item.metric,
        value: parseValue(item.value[1]),
      }));
    },

    /** A range query from `start` to `end` every `stepSeconds`. */
    async queryRange(query: string, start: Date, end: Date, stepSeconds: number): Promise<RangeSeries[]> {
      const data = await call('/api/v1/query_range', query, {
        start: unixSeconds(start),
        end: unixSeconds(end),
        step: String(stepSeconds),
      });
      if (data.resultType !== 'matrix') {
        throw new PrometheusError(`expected a matrix, Prometheus answered a ${data.resultType}`, base, query);
      }
      return (data.result as RawMatrixItem[]).map((item) => ({
        metric: item.metric,
        points: item.values.map(([t, raw]) => ({ t: Math.round(t * 1000), v: parseValue(raw) })),
      }));
    },
  };
}

export type PrometheusClient = ReturnType<typeof createPrometheusClient>;
