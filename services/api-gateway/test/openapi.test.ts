import request from 'supertest';
import type { Express } from 'express';
import { createQueues, createRuntime, SnapshotClient, type DispatchQueues, type Runtime } from '@aegis/dispatch';
import { getTestRedis, type TestRedis } from '@aegis/testkit';
import { createApp } from '../src/app';
import { SCOPES, TokenStore } from '../src/auth';
import { GatewayEnv } from '../src/config';
import { openApiDocument } from '../src/openapi';
import { RemediationService } from '../src/remediation-service';

/** The OpenAPI document against the real app: what it documents is what it serves, and back. */

interface LayerLike {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean | undefined> };
  handle?: { stack?: LayerLike[] };
}

/** `METHOD /path/{param}` for every route of an express app, mounted routers included. */
function servedRoutes(stack: LayerLike[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const { path, methods } = layer.route;
      const paths = (Array.isArray(path) ? path : [path]).filter((p): p is string => typeof p === 'string');
      const verbs = Object.keys(methods).filter((m) => methods[m] && m !== '_all');
      return paths.flatMap((p) => verbs.map((m) => `${m.toUpperCase()} ${prefix}${p.replace(/:(\w+)/g, '{$1}')}`));
    }
    if (layer.handle?.stack && typeof layer.rawPath === 'string')
      return servedRoutes(layer.handle.stack, layer.rawPath === '/' ? prefix : `${prefix}${layer.rawPath}`);
    return [];
  });
}

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}
type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme?: string }> };
};

const doc = () => openApiDocument() as unknown as Doc;
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];
const documented = () =>
  Object.entries(doc().paths).flatMap(([p, ops]) =>
    Object.keys(ops)
      .filter((m) => METHODS.includes(m))
      .map((m) => `${m.toUpperCase()} ${p}`),
  );

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refs(n, out);
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  return out;
}

describe('OpenAPI document', () => {
  let redis: TestRedis;
  let rt: Runtime;
  let queues: DispatchQueues;
  let app: Express;
  const token = 'openapi-test-token-0123456789';

  beforeAll(async () => {
    redis = await getTestRedis();
    const env = GatewayEnv.parse({ REDIS_URL: redis.url, AEGIS_QUEUE_PREFIX: redis.prefix, LOG_LEVEL: 'silent' });
    rt = createRuntime('api-gateway', env, 'producer');
    queues = createQueues(rt.bullConnection, env.AEGIS_QUEUE_PREFIX);
    app = createApp({
      rt,
      tokens: TokenStore.fromConfig({ devToken: token }),
      queues,
      snapshots: new SnapshotClient('http://127.0.0.1:9'),
      service: new RemediationService(rt, queues, {
        planTtlMs: env.AEGIS_PLAN_TTL,
        productionAccounts: new Set(),
        changeTicketPattern: /^[A-Z]+-\d+$/,
        maxBatchItems: 100,
      }),
      defaultAccount: async () => '123456789012',
      allowedAccounts: null,
      basePath: '',
    });
  });
  afterAll(async () => {
    await queues?.close();
    await rt?.close();
    await redis?.stop();
  });

  it('is an OpenAPI 3.1 document with the API table of DESIGN.md', () => {
    const d = doc();
    expect(d.openapi).toMatch(/^3\.1\.\d+$/);
    expect(d.info.title).toBeTruthy();
    expect(d.info.version).toBeTruthy();
    expect(Object.keys(d.paths).length).toBeGreaterThanOrEqual(8);
    expect(documented()).toEqual(
      expect.arrayContaining([
        'POST /api/v1/findings',
        'GET /api/v1/findings/{id}',
        'POST /api/v1/remediations',
        'GET /api/v1/remediations/{batch_id}',
        'POST /api/v1/remediations/handlers/{handler}',
        'GET /api/v1/remediations/{batch_id}/snapshots',
        'POST /api/v1/remediations/{batch_id}/rollback',
        'GET /api/v1/remediations/report',
        'POST /api/v1/emergency-stop',
        'DELETE /api/v1/emergency-stop',
        'GET /api/v1/emergency-stop',
        'GET /api/v1/handlers',
        'GET /api/v1/openapi.json',
      ]),
    );
    expect(openApiDocument()).toBe(openApiDocument()); // generated once
  });

  it('documents every route the app serves under /api/v1, and serves every documented route', () => {
    const router = (app as unknown as { router: { stack: LayerLike[] } }).router;
    const served = servedRoutes(router.stack);
    const api = served.filter((r) => r.includes(' /api/v1/'));
    expect(api.length).toBeGreaterThanOrEqual(13);
    const docs = documented();
    expect(api.filter((r) => !docs.includes(r))).toEqual([]);
    expect(docs.filter((r) => !served.includes(r))).toEqual([]);
  });

  it('is structurally sound: unique operation ids, resolvable $refs, declared path parameters, responses', () => {
    const d = doc();
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(d.paths)) {
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops)) {
        expect(op.operationId).toBeTruthy();
        expect(ids.has(op.operationId ?? '')).toBe(false);
        ids.add(op.operationId ?? '');
        expect(op.summary).toBeTruthy();
        const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
        expect(pathParams.map((p) => p.name).sort()).toEqual([...templated].sort());
        expect(pathParams.every((p) => p.required)).toBe(true);
        const statuses = Object.keys(op.responses);
        expect(statuses.some((s) => s.startsWith('2'))).toBe(true);
        for (const r of Object.values(op.responses)) expect(r.description).toBeTruthy();
        if (method === 'post') expect(op.requestBody?.content['application/json']?.schema).toBeDefined();
      }
    }
    for (const ref of refs(d)) {
      const m = /^#\/components\/schemas\/(\w+)$/.exec(ref);
      expect(m && d.components.schemas[m[1] ?? '']).toBeTruthy();
    }
  });

  it('names the bearer scheme and, per operation, its scope; errors share the error body', () => {
    const d = doc();
    expect(d.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [path, ops] of Object.entries(d.paths)) {
      for (const op of Object.values(ops)) {
        const scope = op.security?.[0]?.bearerAuth?.[0];
        if (path === '/api/v1/openapi.json' || !path.startsWith('/api/v1/')) {
          expect(op.security).toEqual([]);
          continue;
        }
        expect(SCOPES).toContain(scope);
        expect(op.description).toContain(`Scope: \`${scope}\``);
        for (const s of ['401', '403']) {
          expect(op.responses[s]?.content?.['application/json']?.schema).toEqual({
            $ref: '#/components/schemas/Error',
          });
        }
      }
    }
    expect(d.components.schemas.Error).toMatchObject({
      properties: { error: { properties: { code: {}, message: {}, details: {} }, required: ['code', 'message'] } },
      required: ['error'],
    });
    const scopeOf = (p: string, m: string) => d.paths[p]?.[m]?.security?.[0]?.bearerAuth?.[0];
    expect(scopeOf('/api/v1/findings', 'post')).toBe('findings:write');
    expect(scopeOf('/api/v1/remediations', 'post')).toBe('remediation:execute');
    expect(scopeOf('/api/v1/remediations/{batch_id}/rollback', 'post')).toBe('remediation:rollback');
    expect(scopeOf('/api/v1/emergency-stop', 'delete')).toBe('remediation:admin');
    expect(scopeOf('/api/v1/remediations/report', 'get')).toBe('remediation:read');
  });

  it('takes its request bodies from the validating schemas', () => {
    const d = doc();
    const body = (p: string) => d.paths[p]?.post?.requestBody?.content['application/json']?.schema;
    expect(body('/api/v1/findings')).toEqual({ $ref: '#/components/schemas/FindingsRequest' });
    expect(body('/api/v1/remediations')).toEqual({ $ref: '#/components/schemas/RemediationRequest' });
    expect(body('/api/v1/remediations/handlers/{handler}')).toEqual({
      $ref: '#/components/schemas/SingleHandlerRequest',
    });
    expect(body('/api/v1/remediations/{batch_id}/rollback')).toEqual({ $ref: '#/components/schemas/RollbackRequest' });
    expect(body('/api/v1/emergency-stop')).toEqual({ $ref: '#/components/schemas/EmergencyStopRequest' });
    expect(d.components.schemas.RemediationRequest).toMatchObject({
      type: 'object',
      required: ['finding_ids', 'dry_run'],
      additionalProperties: false,
      properties: { executor_tier: { enum: ['T1', 'T2', 'T3'] }, batch_id: { pattern: '^batch-\\d{8}-\\d{3,}$' } },
    });
    const report = d.paths['/api/v1/remediations/report']?.get;
    expect(report?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual(['query:period', 'query:group_by']);
    const remediate = d.paths['/api/v1/remediations']?.post?.responses;
    expect(Object.keys(remediate ?? {})).toEqual(expect.arrayContaining(['200', '202', '400', '404', '409', '422']));
  });

  it('is served without a token at /api/v1/openapi.json, and /api/docs lists the operations', async () => {
    const r = await request(app).get('/api/v1/openapi.json').expect(200);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(r.body).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    const page = await request(app).get('/api/docs').expect(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).not.toMatch(/<script|https?:\/\//);
    for (const op of documented()) {
      const [method, path] = op.split(' ');
      expect(page.text).toContain(`<code>${method}</code></td><td><code>${path}</code>`);
    }
  });

  it('matches the validation the routes do: a body the document forbids is refused', async () => {
    const extra = await request(app)
      .post('/api/v1/remediations')
      .set('Authorization', `Bearer ${token}`)
      .send({ finding_ids: ['f-1'], dry_run: true, surprise: 1 })
      .expect(400);
    expect(extra.body).toMatchObject({ error: { code: 'validation_failed' } });
    const noBatch = await request(app)
      .post('/api/v1/remediations')
      .set('Authorization', `Bearer ${token}`)
      .send({ finding_ids: ['f-1'], dry_run: false })
      .expect(400);
    expect(noBatch.body).toMatchObject({ error: { code: 'validation_failed', details: [{ field: 'batch_id' }] } });
    await request(app).get('/api/v1/handlers').expect(401);
  });
});
