import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisClient } from '../../packages/core/src';
import { startStack, type Stack } from '../../packages/testkit/src';
import { ec2, ingest, openGroup, remediate, waitBatch } from '../../services/api-gateway/test/sandbox-helpers';
import { FigureSheet } from './figures';
import { errorBodyProblem, raw, redisText, type RawAnswer } from './http';
import { redisOf } from './support';

/**
 * The auth matrix: every endpoint × (no token, bad tokens, each scope alone) answers exactly
 * 401, 403 or 2xx; Bull Board takes a bearer or Basic token, read-only for remediation:read; and
 * no token ever shows up in the logs, in Redis (job data included) or in an answer.
 */
const sheet = new FigureSheet(__filename);
const SCOPES = [
  'findings:write',
  'remediation:read',
  'remediation:execute',
  'remediation:rollback',
  'remediation:admin',
] as const;
type Scope = (typeof SCOPES)[number];

const dir = mkdtempSync(join(tmpdir(), 'aegis-chaos-auth-'));
const tokens = Object.fromEntries(
  SCOPES.map((s) => [s, `chaos-${s.replace(':', '-')}-${randomBytes(24).toString('hex')}`]),
) as Record<Scope, string>;
const tokensFile = join(dir, 'tokens.json');
writeFileSync(
  tokensFile,
  JSON.stringify(
    SCOPES.map((s) => ({
      name: `chaos-${s.replace(':', '-')}`,
      sha256: createHash('sha256').update(tokens[s]).digest('hex'),
      scopes: [s],
    })),
  ),
);

let stack: Stack;
let redis: RedisClient;
let client: ReturnType<typeof ec2>;
const answers: RawAnswer[] = [];

/** Who asks: no header, bad credentials of several kinds, or one scope's token. */
type Who = { label: string; header: string | null; scope: Scope | null; basic?: boolean };
function callers(): Who[] {
  const admin = tokens['remediation:admin'];
  return [
    { label: 'no token', header: null, scope: null },
    { label: 'unknown token', header: `Bearer chaos-unknown-${randomBytes(24).toString('hex')}`, scope: null },
    { label: 'token with a suffix', header: `Bearer ${admin}x`, scope: null },
    {
      label: 'the token’s digest',
      header: `Bearer ${createHash('sha256').update(admin).digest('hex')}`,
      scope: null,
    },
    { label: 'another scheme', header: `Token ${admin}`, scope: null },
    { label: 'empty bearer', header: 'Bearer ', scope: null },
    ...SCOPES.map((s) => ({ label: s, header: `Bearer ${tokens[s]}`, scope: s })),
  ];
}

interface Endpoint {
  method: string;
  path: string;
  /** null: public. */
  scope: Scope | null;
  /** The body of a request that succeeds for the right scope. */
  body?: () => unknown;
  ok: number;
}

let batchId = '';
let toExecute = '';
let sg = '';

function endpoints(): Endpoint[] {
  return [
    { method: 'GET', path: '/healthz', scope: null, ok: 200 },
    { method: 'GET', path: '/readyz', scope: null, ok: 200 },
    { method: 'GET', path: '/metrics', scope: null, ok: 200 },
    { method: 'GET', path: '/openapi.json', scope: null, ok: 200 },
    { method: 'GET', path: '/api/v1/openapi.json', scope: null, ok: 200 },
    {
      method: 'POST',
      path: '/api/v1/findings',
      scope: 'findings:write',
      body: () => ({
        findings: [
          {
            id: 'au-new',
            handler: 'block-public-ssh',
            provider: 'aws',
            account_id: '123456789012',
            region: 'us-east-1',
            resource_id: sg,
          },
        ],
      }),
      ok: 200,
    },
    { method: 'GET', path: '/api/v1/findings/au-1', scope: 'remediation:read', ok: 200 },
    {
      method: 'POST',
      path: '/api/v1/remediations',
      scope: 'remediation:execute',
      body: () => ({ finding_ids: ['au-1'], dry_run: true }),
      ok: 200,
    },
    {
      method: 'POST',
      path: '/api/v1/remediations',
      scope: 'remediation:execute',
      body: () => ({ batch_id: toExecute, finding_ids: ['au-2'], dry_run: false }),
      ok: 202,
    },
    {
      method: 'POST',
      path: '/api/v1/remediations/handlers/block-public-ssh',
      scope: 'remediation:execute',
      body: () => ({ resource_id: sg, provider: 'aws', dry_run: true }),
      ok: 200,
    },
    { method: 'GET', path: '/api/v1/remediations/report?period=1d', scope: 'remediation:read', ok: 200 },
    { method: 'GET', path: `/api/v1/remediations/${batchId}`, scope: 'remediation:read', ok: 200 },
    { method: 'GET', path: `/api/v1/remediations/${batchId}/snapshots`, scope: 'remediation:read', ok: 200 },
    {
      method: 'POST',
      path: `/api/v1/remediations/${batchId}/rollback`,
      scope: 'remediation:rollback',
      body: () => ({ dry_run: true }),
      ok: 200,
    },
    { method: 'GET', path: '/api/v1/handlers', scope: 'remediation:read', ok: 200 },
    { method: 'GET', path: '/api/v1/emergency-stop', scope: 'remediation:admin', ok: 200 },
    {
      method: 'POST',
      path: '/api/v1/emergency-stop',
      scope: 'remediation:admin',
      body: () => ({ reason: 'auth matrix' }),
      ok: 200,
    },
    { method: 'DELETE', path: '/api/v1/emergency-stop', scope: 'remediation:admin', ok: 200 },
  ];
}

async function call(method: string, path: string, header: string | null, body?: unknown): Promise<RawAnswer> {
  const headers: Record<string, string> = {};
  if (header !== null) headers.authorization = header;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const a = await raw(stack, method, path, {
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  answers.push(a);
  sheet.add('authCases');
  if (a.status >= 500) sheet.add('answers5xx');
  return a;
}

/** What went wrong with an answer, or null. */
function verdict(a: RawAnswer, expected: number, code?: string): string | null {
  if (a.status !== expected) return `answered ${a.status}, expected ${expected}: ${a.text.slice(0, 160)}`;
  if (expected >= 400) return errorBodyProblem(a) ?? (code && !a.text.includes(`"code":"${code}"`) ? a.text : null);
  return null;
}

beforeAll(async () => {
  stack = await startStack({ env: { AEGIS_API_TOKENS_FILE: tokensFile } });
  redis = redisOf(stack);
  client = ec2(stack);
  sg = await openGroup(client);
  const sg2 = await openGroup(client);
  await ingest(stack, [
    { id: 'au-1', handler: 'block-public-ssh', resource_id: sg },
    { id: 'au-2', handler: 'block-public-ssh', resource_id: sg2 },
  ]);
  batchId = await remediate(stack, ['au-1']);
  await waitBatch(stack, batchId);
  const dry = await stack.api('POST', '/api/v1/remediations', { finding_ids: ['au-2'], dry_run: true });
  toExecute = (dry.body as { batch_id: string }).batch_id;
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  client?.destroy();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
  sheet.flush();
}, 60_000);

it('every endpoint × every caller answers exactly 401, 403 or 2xx', async () => {
  const wrong: string[] = [];
  for (const ep of endpoints()) {
    // The right scope last: its request is the one that does something.
    const who = callers().sort((a, b) => Number(a.scope === ep.scope) - Number(b.scope === ep.scope));
    for (const w of who) {
      const a = await call(ep.method, ep.path, w.header, ep.body?.());
      const expected = ep.scope === null || w.scope === ep.scope ? ep.ok : w.scope === null ? 401 : 403;
      const code = expected === 401 ? 'unauthorized' : expected === 403 ? 'forbidden' : undefined;
      const v = verdict(a, expected, code);
      if (v) wrong.push(`${ep.method} ${ep.path} as ${w.label}: ${v}`);
      if (expected === 403 && !a.text.includes(`"missing_scope":"${ep.scope}"`))
        wrong.push(`${ep.method} ${ep.path} as ${w.label}: 403 without the missing scope: ${a.text}`);
    }
  }
  expect(wrong).toEqual([]);
  await waitBatch(stack, toExecute);
}, 120_000);

it('Bull Board: bearer or Basic, full for remediation:admin, read-only for remediation:read, refused otherwise', async () => {
  const basic = (t: string) => `Basic ${Buffer.from(`anyone:${t}`).toString('base64')}`;
  const wrong: string[] = [];
  for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
    for (const w of callers()) {
      const expected =
        w.scope === 'remediation:admin' || w.scope === 'remediation:read' ? 200 : w.scope === null ? 401 : 403;
      for (const header of w.header?.startsWith('Bearer ') && w.scope
        ? [w.header, basic(tokens[w.scope])]
        : [w.header]) {
        const a = await call('GET', path, header);
        const v = verdict(a, expected);
        if (v) wrong.push(`GET ${path} as ${w.label} (${header?.split(' ')[0] ?? 'none'}): ${v}`);
        if (expected === 401 && !a.headers['www-authenticate'])
          wrong.push(`GET ${path} as ${w.label}: 401 without WWW-Authenticate`);
      }
    }
    const a = await call('GET', path, basic(`chaos-unknown-${randomBytes(8).toString('hex')}`));
    if (a.status !== 401) wrong.push(`GET ${path} with an unknown Basic password: ${a.status}`);
  }
  expect(wrong).toEqual([]);

  type Board = { queues: { name: string; readOnlyMode: boolean; isPaused: boolean }[] };
  const board = async (t: string) =>
    JSON.parse((await call('GET', '/admin/queues/api/queues', `Bearer ${t}`)).text) as Board;
  expect((await board(tokens['remediation:read'])).queues.every((q) => q.readOnlyMode)).toBe(true);
  expect((await board(tokens['remediation:admin'])).queues.every((q) => !q.readOnlyMode)).toBe(true);
  // The read-only board refuses to change anything, by the API as well as in the page.
  const read = `Bearer ${tokens['remediation:read']}`;
  expect((await call('PUT', '/admin/queues/api/queues/remediation-t1/pause', read)).status).toBe(405);
  expect((await call('PUT', '/admin/queues/api/queues/remediation-t1/clean/completed', read)).status).toBe(405);
  expect(
    (await call('POST', '/admin/queues/api/queues/remediation-t1/add', read, { name: 'x', data: {} })).status,
  ).toBe(405);
  await call('PUT', '/admin/queues/api/queues/pause', read);
  expect((await board(tokens['remediation:admin'])).queues.filter((q) => q.isPaused)).toEqual([]);
  // A scope that may not see the board cannot reach its API either.
  const exec = `Bearer ${tokens['remediation:execute']}`;
  expect((await call('PUT', '/admin/queues/api/queues/remediation-t1/pause', exec)).status).toBe(403);
  expect((await call('PUT', '/admin/queues/api/queues/remediation-t1/pause', null)).status).toBe(401);
}, 120_000);

it('no token shows up in the logs, in Redis (job data included) or in any answer', async () => {
  const secrets = [stack.token, ...Object.values(tokens)];
  const logs = stack.output();
  const stored = await redisText(redis);
  expect(stored).toMatch(/"batch_id"/); // the job hashes are there to look into
  for (const s of secrets) {
    expect(logs.includes(s)).toBe(false);
    expect(stored.includes(s)).toBe(false);
    expect(answers.filter((a) => a.text.includes(s)).map((a) => a.text.slice(0, 200))).toEqual([]);
  }
});

it('keeps every must-be-0 figure at 0', () => {
  expect(sheet.nonZero()).toEqual([]);
});
