import request from 'supertest';
import { parseEnv } from '@aegis/core';
import { createQueues, createRuntime, SnapshotClient, type DispatchQueues, type Runtime } from '@aegis/dispatch';
import { getTestRedis, type TestRedis } from '@aegis/testkit';
import { startSandbox, type SandboxHandle } from '@aegis/aws-sandbox';
import { createApp } from '../src/app';
import { TokenStore, SCOPES, type Scope } from '../src/auth';
import { GatewayEnv } from '../src/config';
import { RemediationService } from '../src/remediation-service';
import { createHash } from 'node:crypto';

/** The gateway in-process over a real Redis and the aws-sandbox: validation, auth and refusals. */
describe('API gateway: validation and auth', () => {
  let redis: TestRedis;
  let sandbox: SandboxHandle;
  let rt: Runtime;
  let queues: DispatchQueues;
  let app: ReturnType<typeof createApp>;
  let service: RemediationService;
  const DEV = 'dev-token-0123456789abcdef';
  const scoped = Object.fromEntries(SCOPES.map((s) => [s, `tok-${s.replace(':', '-')}-0123456789`])) as Record<
    Scope,
    string
  >;

  beforeAll(async () => {
    redis = await getTestRedis();
    sandbox = await startSandbox({ port: 0, seed: true });
    const env = parseEnv(GatewayEnv, {
      REDIS_URL: redis.url,
      AEGIS_QUEUE_PREFIX: redis.prefix,
      AEGIS_CLOUD: 'sandbox',
      AEGIS_SANDBOX_PORT: String(sandbox.port),
      AEGIS_API_TOKEN: DEV,
      LOG_LEVEL: 'silent',
    });
    rt = createRuntime('api-gateway-test', env, 'producer');
    queues = createQueues(rt.bullConnection, env.AEGIS_QUEUE_PREFIX);
    const tokens = new TokenStore([
      { name: 'dev', sha256: createHash('sha256').update(DEV).digest('hex'), scopes: [...SCOPES] },
      ...SCOPES.map((s) => ({ name: s, sha256: createHash('sha256').update(scoped[s]).digest('hex'), scopes: [s] })),
    ]);
    service = new RemediationService(rt, queues, {
      planTtlMs: 60_000,
      productionAccounts: new Set(['123456789012']),
      changeTicketPattern: /^CHG-\d+$/,
      maxBatchItems: 100,
    });
    app = createApp({
      rt,
      tokens,
      queues,
      snapshots: new SnapshotClient('http://127.0.0.1:1'),
      service,
      defaultAccount: async () => '123456789012',
      allowedAccounts: null,
      basePath: '',
    });
  });
  afterAll(async () => {
    await queues.close();
    await rt.close();
    await sandbox.close();
    await redis.stop();
  });

  const auth = (t = DEV) => ({ Authorization: `Bearer ${t}` });
  const finding = (patch: Record<string, unknown> = {}) => ({
    id: 'f-ok-1',
    handler: 'block-public-ssh',
    provider: 'aws',
    account_id: '123456789012',
    region: 'us-east-1',
    resource_id: sandbox.seeded()?.security_group_id ?? 'sg-0',
    ...patch,
  });

  it.each([
    ['id', { id: '../../etc/passwd' }],
    ['handler', { handler: 'rm-rf' }],
    ['provider', { provider: 'azure' }],
    ['account_id', { account_id: 'abc' }],
    ['region', { region: 'moon-1' }],
    ['resource_id', { resource_id: "sg-1' OR 1=1" }],
    ['severity', { severity: 'meh' }],
    ['dependencies.0.relation', { dependencies: [{ resource_id: 'lt-1' }] }],
  ])('POST /findings names the bad field %s', async (field, patch) => {
    const r = await request(app)
      .post('/api/v1/findings')
      .set(auth())
      .send({ findings: [finding(patch)] });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('validation_failed');
    expect(r.body.error.details.map((d: { field: string }) => d.field)).toContain(`findings.0.${field}`);
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/);
  });

  it('refuses unknown fields, an empty list and a handler/resource mismatch', async () => {
    expect(
      (
        await request(app)
          .post('/api/v1/findings')
          .set(auth())
          .send({ findings: [finding({ extra: 1 })] })
      ).status,
    ).toBe(400);
    expect((await request(app).post('/api/v1/findings').set(auth()).send({ findings: [] })).status).toBe(400);
    const mm = await request(app)
      .post('/api/v1/findings')
      .set(auth())
      .send({ findings: [finding({ handler: 'enforce-imdsv2', resource_id: 'my-bucket' })] });
    expect(mm.status).toBe(422);
    expect(mm.body.error.code).toBe('resource_mismatch');
  });

  it('parses JSON whatever the declared type; refuses what is not JSON', async () => {
    const ok = await request(app)
      .post('/api/v1/findings')
      .set(auth())
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send(JSON.stringify({ findings: [finding()] }));
    expect(ok.status).toBe(200);
    const bad = await request(app)
      .post('/api/v1/findings')
      .set(auth())
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('a=1&b=2');
    expect(bad.status).toBe(415);
    const broken = await request(app)
      .post('/api/v1/findings')
      .set(auth())
      .set('Content-Type', 'application/json')
      .send('{"findings": [');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('invalid_json');
  });

  it('validates remediation requests field by field', async () => {
    const cases: [unknown, string][] = [
      [{ finding_ids: [], dry_run: true }, 'finding_ids'],
      [{ finding_ids: ['f-ok-1'] }, 'dry_run'],
      [{ finding_ids: ['f-ok-1'], dry_run: true, executor_tier: 'T9' }, 'executor_tier'],
      [{ finding_ids: ['f-ok-1'], dry_run: false }, 'batch_id'],
      [{ finding_ids: ['f-ok-1'], dry_run: false, batch_id: 'batch-x' }, 'batch_id'],
      [{ finding_ids: ['f-ok-1'], dry_run: true, change_ticket: 'a b' }, 'change_ticket'],
    ];
    for (const [body, field] of cases) {
      const r = await request(app)
        .post('/api/v1/remediations')
        .set(auth())
        .send(body as object);
      expect(r.status).toBe(400);
      expect(r.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });

  it('lists unknown finding ids, and findings outside the requested tier', async () => {
    const r = await request(app)
      .post('/api/v1/remediations')
      .set(auth())
      .send({ finding_ids: ['f-ok-1', 'f-nope', 'f-nope-2'], dry_run: true });
    expect(r.status).toBe(404);
    expect(r.body.error.details.unknown_finding_ids).toEqual(['f-nope', 'f-nope-2']);
    const t = await request(app)
      .post('/api/v1/remediations')
      .set(auth())
      .send({ finding_ids: ['f-ok-1'], dry_run: true, executor_tier: 'T3' });
    expect(t.status).toBe(422);
    expect(t.body.error).toMatchObject({ code: 'tier_mismatch', details: { finding_ids: ['f-ok-1'] } });
  });

  it('asks for a change ticket on production accounts before enqueuing anything', async () => {
    const sg = sandbox.seeded()?.security_group_id as string;
    await request(app)
      .post('/api/v1/findings')
      .set(auth())
      .send({ findings: [finding({ id: 'f-prod', resource_id: sg })] });
    const dry = await request(app)
      .post('/api/v1/remediations')
      .set(auth())
      .send({ finding_ids: ['f-prod'], dry_run: true });
    expect(dry.status).toBe(200);
    const none = await request(app)
      .post('/api/v1/remediations')
      .set(auth())
      .send({ batch_id: dry.body.batch_id, finding_ids: ['f-prod'], dry_run: false });
    expect(none.status).toBe(422);
    expect(none.body.error).toMatchObject({ code: 'change_ticket_required', details: { accounts: ['123456789012'] } });
    const bad = await request(app)
      .post('/api/v1/remediations')
      .set(auth())
      .send({ batch_id: dry.body.batch_id, finding_ids: ['f-prod'], dry_run: false, change_ticket: 'TICKET' });
    expect(bad.status).toBe(422);
    expect(await queues.tiers.T1.count()).toBe(0);
    const st = await request(app).get(`/api/v1/remediations/${dry.body.batch_id}`).set(auth());
    expect(st.body.status).toBe('planned');
  });

  describe('auth', () => {
    const endpoints: [string, string, Scope][] = [
      ['post', '/api/v1/findings', 'findings:write'],
      ['get', '/api/v1/findings/f-ok-1', 'remediation:read'],
      ['post', '/api/v1/remediations', 'remediation:execute'],
      ['get', '/api/v1/remediations/batch-20260101-001', 'remediation:read'],
      ['post', '/api/v1/remediations/handlers/block-public-ssh', 'remediation:execute'],
      ['get', '/api/v1/remediations/batch-20260101-001/snapshots', 'remediation:read'],
      ['post', '/api/v1/remediations/batch-20260101-001/rollback', 'remediation:rollback'],
      ['get', '/api/v1/remediations/report', 'remediation:read'],
      ['post', '/api/v1/emergency-stop', 'remediation:admin'],
      ['get', '/api/v1/emergency-stop', 'remediation:admin'],
      ['delete', '/api/v1/emergency-stop', 'remediation:admin'],
      ['get', '/api/v1/handlers', 'remediation:read'],
    ];
    it.each(endpoints)(
      '%s %s: 401 without or with a bad token, 403 naming %s otherwise',
      async (method, path, scope) => {
        const call = (headers: Record<string, string>) => {
          const agent = request(app);
          const req = method === 'get' ? agent.get(path) : method === 'post' ? agent.post(path) : agent.delete(path);
          return req.set(headers);
        };
        expect((await call({})).status).toBe(401);
        expect((await call({ Authorization: 'Bearer not-a-real-token' })).status).toBe(401);
        for (const s of SCOPES) {
          const r = await call(auth(scoped[s]));
          if (s === scope) expect([401, 403]).not.toContain(r.status);
          else {
            expect(r.status).toBe(403);
            expect(r.body.error.details.missing_scope).toBe(scope);
          }
        }
      },
    );
  });

  it('audits callers it can name, and keeps what a refused body carries bounded', async () => {
    const len = () => rt.redis.xlen(rt.audit.key);
    const before = await len();
    for (let i = 0; i < 5; i++)
      expect(
        (
          await request(app)
            .post('/api/v1/remediations')
            .send({ finding_ids: ['x'], dry_run: true })
        ).status,
      ).toBe(401);
    await new Promise((r) => setTimeout(r, 50));
    expect(await len()).toBe(before);
    const junk = Array.from({ length: 5000 }, (_, i) => `f-junk-${i}`);
    expect(
      (await request(app).post('/api/v1/remediations').set(auth()).send({ finding_ids: junk, dry_run: true })).status,
    ).toBe(400);
    await new Promise((r) => setTimeout(r, 50));
    const [last] = await rt.redis.xrevrange(rt.audit.key, '+', '-', 'COUNT', 1);
    const entry = JSON.parse(last?.[1][1] ?? '{}') as { actor: string; outcome: string; finding_ids: string[] };
    expect(entry).toMatchObject({ actor: 'dev', outcome: 'validation_failed' });
    expect(entry.finding_ids.length).toBe(100);
  });

  it('finishes the enqueueing of an execute that died half-way, without anybody asking', async () => {
    const sg = sandbox.seeded()?.security_group_id as string;
    await request(app)
      .post('/api/v1/findings')
      .set(auth())
      .send({ findings: [finding({ id: 'f-half', resource_id: sg })] });
    const dry = await request(app)
      .post('/api/v1/remediations')
      .set(auth())
      .send({ finding_ids: ['f-half'], dry_run: true });
    const batchId = dry.body.batch_id as string;
    // What a gateway killed between recording the items and enqueueing their jobs leaves behind.
    const startedAt = new Date().toISOString();
    expect(await rt.store.claimExecution(batchId, { started_at: startedAt, executed_by: 'dev' })).toBe(true);
    const [p] = await rt.store.getPlanItems(batchId);
    await rt.store.initItems(batchId, [
      {
        batch_id: batchId,
        finding_id: 'f-half',
        handler: 'block-public-ssh',
        tier: 'T1',
        resource_id: sg,
        account_id: p?.account_id ?? '',
        region: 'us-east-1',
        state: 'queued',
        attempts: 0,
        enqueued_at: startedAt,
      },
    ]);
    const waiting = () => queues.tiers.T1.getJobCounts('waiting', 'prioritized');
    const before = await waiting();
    expect(await service.sweepUnfinishedEnqueues()).toBe(1);
    const after = await waiting();
    expect((after.waiting ?? 0) + (after.prioritized ?? 0)).toBe((before.waiting ?? 0) + (before.prioritized ?? 0) + 1);
    expect(await service.sweepUnfinishedEnqueues()).toBe(0);
  });

  it('lists the six handlers with tiers and IAM actions', async () => {
    const r = await request(app).get('/api/v1/handlers').set(auth());
    expect(r.body.handlers).toHaveLength(6);
    for (const h of r.body.handlers) {
      expect(h.tier).toMatch(/^T[123]$/);
      expect(h.iam_actions.length).toBeGreaterThan(0);
    }
    expect(r.body.handlers.find((h: { name: string }) => h.name === 'run-patch-baseline').reversible).toBe(false);
  });
});
