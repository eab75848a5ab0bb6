// One declaration per route: it mounts the handler behind authentication and input validation, and
// registers the same zod schemas in the OpenAPI document, so the docs cannot drift from the code.
import { OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { Request, RequestHandler, Response, Router } from 'express';
import { z, type ZodType } from 'zod';
import type { AuthUser } from '../modules/auth/auth.service.js';
import { AppError, forbidden, unauthenticated, type FieldError } from './errors.js';
import { PROBLEM_CONTENT_TYPE, ProblemSchema } from './problem.js';

export type Access = 'public' | 'user' | 'admin';

interface ResponseSpec {
  description: string;
  schema?: ZodType;
  /** Content types other than JSON (CSV, NDJSON): documented as strings. */
  contentTypes?: string[];
}

export interface RouteSpec<P extends ZodType, Q extends ZodType, B extends ZodType> {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  path: string;
  summary: string;
  tags: string[];
  access: Access;
  params?: P;
  query?: Q;
  /** A JSON body. Routes that take other bodies (imports) leave this out and read the request stream. */
  body?: B;
  /** Documentation of a non-JSON request body. */
  rawBody?: { contentTypes: string[]; description: string };
  responses: Record<number, ResponseSpec>;
  /** Problem statuses this route documents besides the ones every route can answer. */
  errors?: number[];
}

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The authenticated caller; undefined only on public routes. */
  user: AuthUser | undefined;
}

export interface RouteContext {
  router: Router;
  registry: OpenAPIRegistry;
  /** Mount path of `router`, e.g. `/v1/users`. */
  prefix: string;
  authenticate: RequestHandler;
}

const SECURITY_SCHEME = 'bearerAuth';

export function registerSecurity(registry: OpenAPIRegistry) {
  registry.registerComponent('securitySchemes', SECURITY_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
}

function fieldErrors(error: z.ZodError, where: string): FieldError[] {
  return error.issues.map((issue) => ({
    field: [where, ...issue.path.map(String)].join('.'),
    reason: issue.message,
  }));
}

function toOpenApiPath(path: string) {
  return path.replace(/:([A-Za-z_]+)/g, '{$1}');
}

function documentRoute(context: RouteContext, spec: RouteSpec<ZodType, ZodType, ZodType>) {
  const common = [400, ...(spec.access === 'public' ? [] : [401]), ...(spec.access === 'admin' ? [403] : [])];
  const errorStatuses = [...new Set([...common, ...(spec.errors ?? [])])].sort();
  const responses: RouteConfig['responses'] = {};
  for (const [status, response] of Object.entries(spec.responses)) {
    const content: Record<string, { schema: ZodType | { type: 'string' } }> = {};
    if (response.schema) content['application/json'] = { schema: response.schema };
    for (const type of response.contentTypes ?? []) content[type] = { schema: { type: 'string' } };
    responses[status] = { description: response.description, ...(Object.keys(content).length ? { content } : {}) };
  }
  for (const status of errorStatuses) {
    responses[status] ??= {
      description: 'problem details (RFC 9457)',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    };
  }
  const request: NonNullable<RouteConfig['request']> = {};
  if (spec.params) request.params = spec.params as never;
  if (spec.query) request.query = spec.query as never;
  if (spec.body) request.body = { content: { 'application/json': { schema: spec.body } }, required: true };
  if (spec.rawBody) {
    request.body = {
      description: spec.rawBody.description,
      required: true,
      content: Object.fromEntries(spec.rawBody.contentTypes.map((type) => [type, { schema: { type: 'string' } }])),
    };
  }
  context.registry.registerPath({
    method: spec.method,
    path: toOpenApiPath(`${context.prefix}${spec.path}`),
    summary: spec.summary,
    tags: spec.tags,
    // Who may call it (public, user, admin); tests use it to check every route's access rules.
    'x-access': spec.access,
    ...(spec.access === 'public' ? {} : { security: [{ [SECURITY_SCHEME]: [] }] }),
    request,
    responses,
  });
}

function authorize(access: Access): RequestHandler {
  return (_req, res, next) => {
    const user = res.locals.user;
    if (access === 'public') return next();
    if (!user) return next(unauthenticated());
    if (access === 'admin' && user.role !== 'admin') return next(forbidden());
    next();
  };
}

export function defineRoute<P extends ZodType = ZodType, Q extends ZodType = ZodType, B extends ZodType = ZodType>(
  context: RouteContext,
  spec: RouteSpec<P, Q, B>,
  handler: (
    input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>,
    req: Request,
    res: Response,
  ) => Promise<void> | void,
) {
  documentRoute(context, spec as RouteSpec<ZodType, ZodType, ZodType>);
  const validate: RequestHandler = async (req, res) => {
    if (spec.body && !req.is('application/json')) {
      throw new AppError('unsupported-media-type', 'send the body as application/json', 415);
    }
    const errors: FieldError[] = [];
    const parse = <S extends ZodType>(schema: S | undefined, value: unknown, where: string) => {
      if (!schema) return undefined;
      const result = schema.safeParse(value);
      if (!result.success) errors.push(...fieldErrors(result.error, where));
      return result.success ? result.data : undefined;
    };
    const params = parse(spec.params, req.params, 'params');
    const query = parse(spec.query, req.query, 'query');
    const body = parse(spec.body, req.body, 'body');
    if (errors.length > 0) {
      throw new AppError('validation-failed', 'the request is not valid', 400, { errors });
    }
    await handler(
      { params, query, body, user: res.locals.user } as RouteInput<z.output<P>, z.output<Q>, z.output<B>>,
      req,
      res,
    );
  };
  const template = `${context.prefix}${spec.path}` || '/';
  const recordRoute: RequestHandler = (_req, res, next) => {
    res.locals.route = template;
    next();
  };
  const chain: RequestHandler[] =
    spec.access === 'public'
      ? [recordRoute, validate]
      : [recordRoute, context.authenticate, authorize(spec.access), validate];
  context.router[spec.method](spec.path, ...chain);
}
