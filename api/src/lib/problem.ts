// RFC 9457 problem details: the body of every error response.
import { z } from 'zod';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';

extendZodWithOpenApi(z);

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const ProblemSchema = z
  .object({
    type: z.string().describe('URI reference identifying the problem type'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().describe('stable, kebab-case error code'),
    instance: z.string().describe('the request path'),
    requestId: z.string(),
    errors: z
      .array(z.object({ line: z.number().int().optional(), field: z.string(), reason: z.string() }))
      .optional()
      .describe('one entry per invalid field (or per invalid line of an import)'),
  })
  .openapi('Problem');

export type Problem = z.infer<typeof ProblemSchema>;

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problemTitle(status: number) {
  return TITLES[status] ?? 'Error';
}

export function problemType(code: string) {
  return `https://swarmlab.dev/problems/${code}`;
}
