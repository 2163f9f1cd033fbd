import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, startStack, type Stack } from '@aegis/testkit';
// The gateway package does not depend on the AWS SDK; the handlers package does, and its copy is
// the one the workers use against the same sandbox.
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { openApiDocument } from '../src/openapi';

/*
 * Observability end to end, on the real stack (`pnpm start`'s processes): a batch with known
 * outcomes (two successes, one AccessDenied injected in the sandbox), then the runbook's metrics,
 * log pipelines and report, Bull Board behind the tokens, and the answers against the OpenAPI
 * document.
 */

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const newToken = () => `obs-${randomBytes(16).toString('hex')}`;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  line: string;
}

/** Prometheus text exposition → samples (enough of the format for prom-client's output). */
function parseMetrics(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) return [];
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    return [{ name: m[1] ?? '', labels, value: Number(m[3]), line }];
  });
}

const families = (text: string) => new Set([...text.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1] ?? ''));

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const params = (template: string) => (template.match(/\{/g) ?? []).length;

/** JSON pointer escaping of one path segment. */
const ptr = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

describe('observability on the real stack', () => {
  let stack: Stack;
  let dir: string;
  const reader = newToken();
  const admin = newToken();
  const writer = newToken();
  let g1 = '';
  let g2 = '';
  const bucket = `obs-bucket-${randomBytes(4).toString('hex')}`;
  let batchId = '';
  const answers: { path: string; method: string; status: number; body: unknown }[] = [];

  /** Every process that serves /metrics, as Prometheus would scrape it: name -> exposition text. */
  async function scrape(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    out['api-gateway'] = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    for (const [name, port] of Object.entries(stack.state().ports)) {
      if (!name.startsWith('worker-') && name !== 'snapshot') continue;
      out[name] = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    }
    return out;
  }

  async function call(method: string, path: string, body?: unknown) {
    const r = await stack.api(method, path, body);
    answers.push({ path: path.split('?')[0] ?? path, method: method.toLowerCase(), status: r.status, body: r.body });
    return r;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aegis-obs-'));
    const tokensFile = join(dir, 'tokens.json');
    writeFileSync(
      tokensFile,
      JSON.stringify([
        { name: 'reader', sha256: sha256(reader), scopes: ['remediation:read'] },
        { name: 'admin', sha256: sha256(admin), scopes: ['remediation:admin'] },
        { name: 'writer', sha256: sha256(writer), scopes: ['findings:write'] },
      ]),
    );
    stack = await startStack({ env: { AEGIS_API_TOKENS_FILE: tokensFile } });

    const cfg = {
      endpoint: stack.sandboxUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    };
    const ec2 = new EC2Client(cfg);
    const s3 = new S3Client({ ...cfg, forcePathStyle: true });
    for (const n of [1, 2]) {
      const g = await ec2.send(
        new CreateSecurityGroupCommand({ GroupName: `obs-${n}-${Date.now()}`, Description: 'observability' }),
      );
      const id = g.GroupId ?? '';
      await ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: id,
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
            { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        }),
      );
      if (n === 1) g1 = id;
      else g2 = id;
    }
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    ec2.destroy();
    s3.destroy();
    // The workers' role may not revoke rules of g2: the runbook's "Permission Denied" case.
    const fault = await fetch(`${stack.sandboxUrl}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'ec2',
        operation: 'RevokeSecurityGroupIngress',
        resource_id: g2,
        code: 'AccessDenied',
        message: 'not authorized to perform ec2:RevokeSecurityGroupIngress',
        always: true,
      }),
    });
    expect(fault.status).toBe(201);

    const finding = (id: string, handler: string, resource_id: string) => ({
      id,
      handler,
      resource_id,
      provider: 'aws',
      account_id: '123456789012',
      region: 'us-east-1',
      severity: 'high',
      title: 'observability',
    });
    const ingest = await call('POST', '/api/v1/findings', {
      findings: [
        finding('obs-1', 'block-public-ssh', g1),
        finding('obs-2', 's3-block-public-access', bucket),
        finding('obs-3', 'block-public-ssh', g2),
      ],
    });
    expect(ingest.status).toBe(200);
    const ids = ['obs-1', 'obs-2', 'obs-3'];
    const dry = await call('POST', '/api/v1/remediations', { finding_ids: ids, dry_run: true, executor_tier: 'T1' });
    expect(dry.status).toBe(200);
    batchId = (dry.body as { batch_id: string }).batch_id;
    const ex = await call('POST', '/api/v1/remediations', { batch_id: batchId, finding_ids: ids, dry_run: false });
    expect(ex.status).toBe(202);
    const done = await eventually(
      () => stack.api('GET', `/api/v1/remediations/${batchId}`),
      (r) => (r.body as { pending?: number; status?: string }).pending === 0,
      30_000,
    );
    answers.push({ path: `/api/v1/remediations/${batchId}`, method: 'get', status: done.status, body: done.body });
    // Starting six processes takes about 25 s on a quiet machine; more when the cores are shared.
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ends the batch with the known outcomes', async () => {
    const r = await stack.api('GET', `/api/v1/remediations/${batchId}`);
    const b = r.body as { status: string; completed: number; failed: number; items: Record<string, unknown>[] };
    expect(b).toMatchObject({ status: 'completed_with_failures', completed: 2, failed: 1 });
    const byId = Object.fromEntries(b.items.map((i) => [i.finding_id, i]));
    expect(byId['obs-1']).toMatchObject({ state: 'succeeded', resource_id: g1 });
    expect(byId['obs-2']).toMatchObject({ state: 'succeeded', resource_id: bucket });
    expect(byId['obs-3']).toMatchObject({ state: 'failed', error: 'AccessDenied', resource_id: g2 });
  });

  it('serves the runbook metrics from the processes that own them', async () => {
    const sampled = await eventually(
      async () => {
        const texts = await scrape();
        return { texts, all: Object.values(texts).flatMap(parseMetrics) };
      },
      ({ all }) =>
        find(all, 'aegis_remediation_duration_seconds_count', { tier: 'T1', handler: 'block-public-ssh' })[0]?.value ===
        2,
    );
    const { texts, all } = sampled;
    expect(Object.keys(texts).sort()).toEqual(['api-gateway', 'snapshot', 'worker-t1', 'worker-t2', 'worker-t3']);
    const t1 = parseMetrics(texts['worker-t1'] ?? '');
    const total = (labels: Record<string, string>) =>
      find(all, 'aegis_remediations_total', labels).reduce((s, x) => s + x.value, 0);

    // aegis_remediations_total{tier,handler,status}, counted by the T1 worker.
    const ssh = { tier: 'T1', handler: 'block-public-ssh' };
    expect(find(t1, 'aegis_remediations_total', { ...ssh, status: 'success' })).toHaveLength(1);
    expect(total({ ...ssh, status: 'success' })).toBe(1);
    expect(total({ ...ssh, status: 'failed' })).toBe(1);
    expect(total({ tier: 'T1', handler: 's3-block-public-access', status: 'success' })).toBe(1);
    expect(find(all, 'aegis_remediations_total', { tier: 'T2' })).toEqual([]);

    // The duration histogram: a bucket at 300 s, `le` written last (label-order-sensitive greps).
    const b300 = find(t1, 'aegis_remediation_duration_seconds_bucket', { ...ssh, le: '300' });
    expect(b300.map((s) => s.value)).toEqual([2]);
    expect(b300[0]?.line).toMatch(/handler="block-public-ssh"[^}]*,le="300"\}/);
    expect(find(t1, 'aegis_remediation_duration_seconds_bucket', { ...ssh, le: '+Inf' })[0]?.value).toBe(2);

    // Nothing runs any more; the gauge exists for the tier that ran.
    expect(find(t1, 'aegis_remediations_active', { tier: 'T1' }).map((s) => s.value)).toEqual([0]);

    // Queue depth per queue and state, from the gateway.
    const gw = parseMetrics(texts['api-gateway'] ?? '');
    for (const q of ['remediation-t1', 'remediation-t2', 'remediation-t3', 'rollbacks', 'webhooks'])
      expect(find(gw, 'aegis_queue_jobs', { queue: q, state: 'waiting' }).map((s) => s.value)).toEqual([0]);
    const t1Jobs = find(gw, 'aegis_queue_jobs', { queue: 'remediation-t1' });
    expect(
      t1Jobs.filter((s) => ['completed', 'failed'].includes(s.labels.state ?? '')).reduce((s, x) => s + x.value, 0),
    ).toBe(3);

    // Not stopped: every process that watches the flag says 0.
    for (const name of ['api-gateway', 'worker-t1', 'worker-t2', 'worker-t3'])
      expect(find(parseMetrics(texts[name] ?? ''), 'aegis_dispatcher_paused', {}).map((s) => s.value)).toEqual([0]);

    // Snapshots before each change (the denied one too: the snapshot precedes the apply).
    expect(find(t1, 'aegis_snapshots_total', { handler: 'block-public-ssh', status: 'stored' })[0]?.value).toBe(2);
    expect(find(t1, 'aegis_snapshots_total', { handler: 's3-block-public-access', status: 'stored' })[0]?.value).toBe(
      1,
    );

    // Cloud calls per service and operation: the dry run's reads in the gateway, the changes in the worker.
    expect(
      find(gw, 'aegis_cloud_api_calls_total', {
        aws_service: 'ec2',
        operation: 'DescribeSecurityGroups',
        outcome: 'ok',
      })[0]?.value,
    ).toBeGreaterThanOrEqual(2);
    expect(
      find(t1, 'aegis_cloud_api_calls_total', {
        aws_service: 'ec2',
        operation: 'RevokeSecurityGroupIngress',
        outcome: 'ok',
      })[0]?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      find(t1, 'aegis_cloud_api_calls_total', {
        aws_service: 's3',
        operation: 'PutPublicAccessBlock',
        outcome: 'ok',
      })[0]?.value,
    ).toBeGreaterThanOrEqual(1);

    // Every metric family of DESIGN.md, and every one the dashboard and the rules query, exists.
    const known = new Set(Object.values(texts).flatMap((t) => [...families(t)]));
    for (const f of [
      'aegis_remediations_total',
      'aegis_remediations_active',
      'aegis_remediation_duration_seconds',
      'aegis_queue_jobs',
      'aegis_dispatcher_paused',
      'aegis_snapshots_total',
      'aegis_rollbacks_total',
      'aegis_cloud_api_calls_total',
      'aegis_cloud_api_throttles_total',
    ])
      expect(known).toContain(f);
    const dashboard = readFileSync(join(REPO_ROOT, 'charts/aegis/files/dashboards/aegis.json'), 'utf8');
    const rules = readFileSync(join(REPO_ROOT, 'charts/aegis/files/rules/aegis-rules.yaml'), 'utf8');
    const used = new Set(
      [...`${dashboard}\n${rules}`.matchAll(/(?<![\w:])(aegis_[a-z_]+?)(?:_bucket|_count|_sum)?(?![\w:])/g)].map(
        (m) => m[1] ?? '',
      ),
    );
    expect([...used].filter((f) => !known.has(f))).toEqual([]);
  });

  it('writes the JSON log lines the runbook pipelines read', () => {
    const lines = stack.output().split('\n');
    const json = (l: string) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>;

    // grep '"error":"AccessDenied"' | jq '{finding_id, resource_id, action}'
    const denied = lines.filter((l) => l.includes('"error":"AccessDenied"')).map(json);
    expect(
      denied.map((d) => ({ finding_id: d.finding_id, resource_id: d.resource_id, action: d.action })),
    ).toContainEqual({
      finding_id: 'obs-3',
      resource_id: g2,
      action: 'finish',
    });
    for (const d of denied) expect(typeof d.finding_id === 'string' && typeof d.resource_id === 'string').toBe(true);

    // grep '"level":"error"' | jq '{handler, finding_id, error}'
    const errors = lines.filter((l) => l.includes('"level":"error"')).map(json);
    expect(errors.map((e) => ({ handler: e.handler, finding_id: e.finding_id, error: e.error }))).toContainEqual({
      handler: 'block-public-ssh',
      finding_id: 'obs-3',
      error: 'AccessDenied',
    });

    // grep '"status":"success"' | jq -r '[.handler, .finding_id, .resource_id] | @tsv'
    const ok = lines.filter((l) => l.includes('"status":"success"')).map(json);
    const tsv = ok.map((o) => [o.handler, o.finding_id, o.resource_id].join('\t'));
    expect(tsv).toEqual(
      expect.arrayContaining([`block-public-ssh\tobs-1\t${g1}`, `s3-block-public-access\tobs-2\t${bucket}`]),
    );
    for (const o of ok) expect([o.handler, o.finding_id, o.resource_id].every((v) => typeof v === 'string')).toBe(true);
    const success = ok.find((o) => o.finding_id === 'obs-1');
    expect(success).toMatchObject({
      level: 'info',
      batch_id: batchId,
      tier: 'T1',
      action: 'finish',
      status: 'success',
    });
    expect(typeof success?.duration_ms).toBe('number');
  });

  it('reports the figures of the batch', async () => {
    const sum = await call('GET', '/api/v1/remediations/report?period=7d');
    expect(sum.status).toBe(200);
    expect(sum.body).toMatchObject({
      period: '7d',
      total: 3,
      succeeded: 2,
      failed: 1,
      cancelled: 0,
      success_rate: 0.6667,
      sla_compliance_pct: 66.67,
      sla_items: 3,
      sla_target_s: 300,
    });
    const byHandler = await call('GET', '/api/v1/remediations/report?period=7d&group_by=handler');
    const byTier = await call('GET', '/api/v1/remediations/report?period=1h&group_by=tier');
    expect(byHandler.body).toEqual([
      expect.objectContaining({ handler: 'block-public-ssh', total: 2, succeeded: 1, failed: 1, success_rate: 0.5 }),
      expect.objectContaining({ handler: 's3-block-public-access', total: 1, succeeded: 1, success_rate: 1 }),
    ]);
    expect(byTier.body).toEqual([expect.objectContaining({ tier: 'T1', total: 3, success_rate: 0.6667 })]);
  });

  it('keeps Bull Board behind the tokens: bearer or Basic, read-only for remediation:read', async () => {
    const board = `${stack.apiUrl}/admin/queues`;
    const get = (path: string, auth?: string) =>
      fetch(`${board}${path}`, auth ? { headers: { authorization: auth } } : {});
    const basic = (tok: string) => `Basic ${Buffer.from(`anyone:${tok}`).toString('base64')}`;

    const anon = await get('/');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await get('/', 'Bearer not-a-token')).status).toBe(401);
    expect((await get('/', basic('not-a-token'))).status).toBe(401);
    expect((await get('/', `Bearer ${writer}`)).status).toBe(403);

    const bearer = await get('/', `Bearer ${stack.token}`);
    expect(bearer.status).toBe(200);
    expect(bearer.headers.get('content-type')).toMatch(/text\/html/);
    expect((await get('/', basic(stack.token))).status).toBe(200);
    expect((await get('/', basic(reader))).status).toBe(200);

    type Queues = { queues: { name: string; readOnlyMode: boolean; isPaused: boolean }[] };
    const list = async (auth: string) => ((await (await get('/api/queues', auth)).json()) as Queues).queues;
    const full = await list(`Bearer ${admin}`);
    expect(full.map((q) => q.name).sort()).toEqual([
      'remediation-t1',
      'remediation-t2',
      'remediation-t3',
      'rollbacks',
      'webhooks',
    ]);
    expect(full.every((q) => !q.readOnlyMode)).toBe(true);
    const ro = await list(basic(reader));
    expect(ro.map((q) => q.name).sort()).toEqual([
      'remediation-t1',
      'remediation-t2',
      'remediation-t3',
      'rollbacks',
      'webhooks',
    ]);
    expect(ro.every((q) => q.readOnlyMode)).toBe(true);

    // A reader cannot pause a queue through the board.
    const pause = await fetch(`${board}/api/queues/remediation-t1/pause`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(pause.status).toBe(405);
    expect((await list(`Bearer ${admin}`)).find((q) => q.name === 'remediation-t1')?.isPaused).toBe(false);
  });

  it('never writes a token to the logs', () => {
    const out = stack.output();
    expect(out.length).toBeGreaterThan(1000);
    for (const t of [stack.token, reader, admin, writer]) expect(out).not.toContain(t);
    // The launcher prints curl examples with a `$API_TOKEN` placeholder; nothing else carries credentials.
    expect(out).not.toMatch(/Bearer (?!\$API_TOKEN)\S{8,}|Basic [A-Za-z0-9+/=]{8,}/);
  });

  // The call observer must wrap the SDK's deserializer, or a refused call would count as `ok`.
  it('counts a refused cloud call as an error with its AWS code', async () => {
    const t1 = parseMetrics((await scrape())['worker-t1'] ?? '');
    const revoke = { aws_service: 'ec2', operation: 'RevokeSecurityGroupIngress' };
    expect(find(t1, 'aegis_cloud_api_calls_total', { ...revoke, outcome: 'ok' })[0]?.value).toBe(1);
    expect(find(t1, 'aegis_cloud_api_calls_total', { ...revoke, outcome: 'error' })[0]?.value).toBe(1);
    expect(find(t1, 'aegis_cloud_api_errors_total', { ...revoke, code: 'AccessDenied' })[0]?.value).toBe(1);
  });

  // The duration counts from the item's first start, not from a record read before it started.
  it("measures an item's real run time in the histogram, the log line and the report", async () => {
    const t1 = parseMetrics((await scrape())['worker-t1'] ?? '');
    expect(
      find(t1, 'aegis_remediation_duration_seconds_sum', { tier: 'T1', handler: 'block-public-ssh' })[0]?.value,
    ).toBeGreaterThan(0);
    const line = stack.logs().find((l) => l.finding_id === 'obs-1' && l.status === 'success');
    expect(line?.duration_ms).toBeGreaterThan(0);
    const r = await stack.api('GET', '/api/v1/remediations/report?period=7d&group_by=handler');
    for (const g of r.body as { avg_duration_s: number }[]) expect(g.avg_duration_s).toBeGreaterThan(0);
  });

  it('answers as the OpenAPI document says', () => {
    const doc = openApiDocument() as unknown as { paths: Record<string, Record<string, unknown>> };
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: 'openapi' });
    const templates = Object.keys(doc.paths).map((p) => ({
      p,
      re: new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`),
    }));
    expect(answers.length).toBeGreaterThanOrEqual(7);
    for (const a of answers) {
      // The most specific template (literal segments win over parameters: /report before /{batch_id}).
      const t = templates.filter((x) => x.re.test(a.path)).sort((x, y) => params(x.p) - params(y.p))[0];
      expect(t).toBeDefined();
      const ref = `openapi#/paths/${ptr(t?.p ?? '')}/${a.method}/responses/${a.status}/content/${ptr('application/json')}/schema`;
      const validate = ajv.compile({ $ref: ref });
      const valid = validate(a.body);
      if (!valid) throw new Error(`${a.method} ${a.path} ${a.status}: ${ajv.errorsText(validate.errors)}`);
    }
  });

  it('has the rule file the runbook and the escalation table need', () => {
    const rules = parseYaml(readFileSync(join(REPO_ROOT, 'charts/aegis/files/rules/aegis-rules.yaml'), 'utf8')) as {
      groups: { name: string; rules: { record?: string; alert?: string; expr: string; for?: string }[] }[];
    };
    const all = rules.groups.flatMap((g) => g.rules);
    const sla = all.find((r) => r.record === 'aegis:t1_completed_within_5m:ratio_rate7d');
    expect(sla?.expr.replace(/\s+/g, ' ').trim()).toBe(
      'sum(rate(aegis_remediation_duration_seconds_bucket{tier="T1",le="300"}[7d])) / sum(rate(aegis_remediation_duration_seconds_count{tier="T1"}[7d]))',
    );
    const alert = (name: string) => all.find((r) => r.alert === name);
    expect(alert('AegisRemediationFailureRateHigh')?.expr).toMatch(/> 0\.2/);
    expect(alert('AegisT1SlaBelowTarget')?.expr).toMatch(/aegis:t1_completed_within_5m:ratio_rate7d < 0\.9/);
    expect(alert('AegisRollbackFailed')?.expr).toContain('aegis_rollbacks_total{status="failed"}');
    expect(alert('AegisDispatcherPausedTooLong')).toMatchObject({
      expr: 'max(aegis_dispatcher_paused) == 1',
      for: '30m',
    });
    for (const r of all) {
      let depth = 0;
      for (const c of r.expr) {
        depth += c === '(' ? 1 : c === ')' ? -1 : 0;
        expect(depth).toBeGreaterThanOrEqual(0);
      }
      expect(depth).toBe(0);
    }
  });
});
