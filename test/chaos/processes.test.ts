import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { RedisClient } from '../../packages/core/src';
import { startStack, type Stack } from '../../packages/testkit/src';
import { ec2, ingest, openGroup, sandboxAdmin, waitBatch } from '../../services/api-gateway/test/sandbox-helpers';
import { FigureSheet } from './figures';
import {
  LARGE,
  auditBatch,
  batchStatus,
  dryRun,
  execute,
  imdsv1Instance,
  killAndAwaitRestart,
  pidOf,
  redisOf,
  resourceView,
  restartLines,
  sandboxState,
  sleep,
  snapshotFiles,
  until,
  userWithStaleKey,
  type Audit,
} from './support';

/**
 * Process faults against the real stack: workers SIGKILLed mid-batch on every tier, the gateway
 * killed, the snapshot store gone, Redis restarted. One stack (Redis with AOF) for all of them.
 */
const sheet = new FigureSheet(__filename);
let stack: Stack;
let redis: RedisClient;
let client: ReturnType<typeof ec2>;

const WIDE = [{ IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }];
/** What block-public-ssh leaves of `openGroup`'s rules, without and with the wide range. */
const SSH_FIXED = 'tcp 22-22 10.0.0.0/8, tcp 443-443 0.0.0.0/0';
const SSH_FIXED_WIDE =
  'tcp 0-21 0.0.0.0/0, tcp 22-22 10.0.0.0/8, tcp 23-3388 0.0.0.0/0, tcp 3390-65535 0.0.0.0/0, tcp 443-443 0.0.0.0/0';

type Expected = Map<string, { resourceId: string; initial: string; final: string }>;

let nextId = 0;
/** Open security groups (every other one with a 0-65535 range to narrow), as findings. */
async function sshFindings(prefix: string, n: number, expected: Expected): Promise<string[]> {
  const ids: string[] = [];
  const state = [];
  for (let i = 0; i < n; i++) {
    const wide = i % 2 === 1;
    const g = await openGroup(client, wide ? WIDE : []);
    const id = `${prefix}-${nextId++}`;
    ids.push(id);
    state.push({ id, handler: 'block-public-ssh', resource_id: g });
    expected.set(id, { resourceId: g, initial: '', final: wide ? SSH_FIXED_WIDE : SSH_FIXED });
  }
  await ingest(stack, state);
  return ids;
}

async function recordInitial(expected: Expected): Promise<void> {
  const s = await sandboxState(stack);
  for (const e of expected.values()) e.initial = resourceView(s, e.resourceId);
}

function count(audit: Audit, items: number): void {
  sheet.add('items', items);
  sheet.add('lost', audit.lost);
  sheet.add('unsnapshotted', audit.withoutSnapshot);
  sheet.add('duplicates', audit.duplicates);
}

beforeAll(async () => {
  stack = await startStack({
    appendonly: true,
    // A killed worker's jobs come back once their lock expires: short here, 30 s by default.
    env: { AEGIS_JOB_LOCK_DURATION: '3s' },
  });
  redis = redisOf(stack);
  client = ec2(stack);
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  client?.destroy();
  await stack?.stop();
  sheet.flush();
}, 60_000);

afterEach(async () => {
  if (stack) await sandboxAdmin(stack, 'DELETE', '/_sandbox/latency');
});

it('SIGKILLed workers on every tier, again and again: each item ends once, snapshotted, as a single run leaves it', async () => {
  const n = LARGE ? { t1: 24, t2: 10, t3: 6, rounds: 4 } : { t1: 8, t2: 4, t3: 3, rounds: 2 };
  const expected: Expected = new Map();
  const ids = await sshFindings('wk', n.t1, expected);
  const more: { id: string; handler: string; resource_id: string }[] = [];
  for (let i = 0; i < n.t2; i++) {
    const inst = await imdsv1Instance(stack);
    const id = `wk-imds-${i}`;
    more.push({ id, handler: 'enforce-imdsv2', resource_id: inst });
    expected.set(id, { resourceId: inst, initial: '', final: 'tokens=required endpoint=enabled hops=2' });
  }
  for (let i = 0; i < n.t3; i++) {
    const u = await userWithStaleKey(stack);
    const id = `wk-keys-${i}`;
    more.push({ id, handler: 'rotate-iam-keys', resource_id: u.user });
    expected.set(id, {
      resourceId: u.user,
      initial: '',
      final: [`${u.stale}=Inactive`, `${u.fresh}=Active`].sort().join(', '),
    });
  }
  await ingest(stack, more);
  ids.push(...more.map((m) => m.id));
  await recordInitial(expected);
  const batch = await dryRun(stack, ids);
  // Slow cloud calls keep jobs in flight long enough to die in the middle of one.
  await sandboxAdmin(stack, 'POST', '/_sandbox/latency', {
    rules: [
      { service: 'ec2', ms: 400 },
      { service: 'iam', ms: 300 },
    ],
  });
  await execute(stack, batch.batchId, ids);

  const kills: Record<string, number> = { T1: 0, T2: 0, T3: 0 };
  // The launcher rewrites its state file on every restart: a reader must never find it half written.
  let reading = true;
  const torn: string[] = [];
  let reads = 0;
  const reader = (async () => {
    while (reading) {
      try {
        stack.state();
      } catch (err) {
        torn.push((err as Error).message);
      }
      reads++;
      await sleep(1);
    }
  })();
  await Promise.all(
    (['T1', 'T2', 'T3'] as const).map(async (tier) => {
      const name = `worker-${tier.toLowerCase()}`;
      // Running items at the last kill, with their attempt: a kill waits for a new attempt in flight.
      const seen = new Map<string, number>();
      for (let round = 0; round < n.rounds; round++) {
        const inFlight = await until(`a ${tier} item in flight`, 90_000, async () => {
          const s = await batchStatus(stack, batch.batchId);
          const mine = s.items.filter((i) => i.tier === tier);
          if (mine.every((i) => ['succeeded', 'noop', 'failed', 'timed_out', 'cancelled'].includes(i.state))) return [];
          const running = mine.filter((i) => i.state === 'running' && (seen.get(i.finding_id) ?? 0) < i.attempts);
          return running.length ? running : undefined;
        });
        if (!inFlight.length) break;
        for (const i of inFlight) seen.set(i.finding_id, i.attempts);
        await killAndAwaitRestart(stack, name, 'worker ready');
        kills[tier] = (kills[tier] ?? 0) + 1;
        sheet.add('faults');
      }
    }),
  );

  reading = false;
  await reader;
  expect(torn).toEqual([]);
  expect(reads).toBeGreaterThan(100);
  await waitBatch(stack, batch.batchId, 180_000);
  const audit = await auditBatch(stack, redis, batch, expected);
  count(audit, ids.length);
  expect(audit.problems).toEqual([]);
  expect(audit.status.items.filter((i) => i.state !== 'succeeded')).toEqual([]);
  expect(audit.status.items.some((i) => i.attempts > 1)).toBe(true);
  // The launcher said so for every kill, and restarted exactly those processes.
  for (const tier of ['T1', 'T2', 'T3'] as const) {
    expect(kills[tier]).toBe(n.rounds);
    const name = `worker-${tier.toLowerCase()}`;
    expect(restartLines(stack, name)).toHaveLength(n.rounds);
    expect(restartLines(stack, name).every((l) => l.includes('(SIGKILL)'))).toBe(true);
    expect(stack.state().restarts[name]).toBe(n.rounds);
  }
}, 420_000);

it('the gateway killed mid-batch: the batch still finishes, and its status is complete and correct', async () => {
  const expected: Expected = new Map();
  const ids = await sshFindings('gw', LARGE ? 20 : 6, expected);
  await recordInitial(expected);
  const batch = await dryRun(stack, ids);
  await sandboxAdmin(stack, 'POST', '/_sandbox/latency', { service: 'ec2', ms: 500 });
  await execute(stack, batch.batchId, ids);
  await until('an item running', 30_000, async () =>
    (await batchStatus(stack, batch.batchId)).items.some((i) => i.state === 'running') ? true : undefined,
  );
  const before = restartLines(stack, 'api-gateway').length;
  await killAndAwaitRestart(stack, 'api-gateway', 'api-gateway ready');
  sheet.add('faults');
  await waitBatch(stack, batch.batchId, 120_000);
  const audit = await auditBatch(stack, redis, batch, expected);
  count(audit, ids.length);
  expect(audit.problems).toEqual([]);
  expect(audit.status).toMatchObject({ status: 'completed', completed: ids.length, failed: 0, pending: 0 });
  expect(restartLines(stack, 'api-gateway')).toHaveLength(before + 1);
}, 240_000);

it('the gateway killed in the middle of an execute: the items it recorded still run, once', async () => {
  const expected: Expected = new Map();
  const ids = await sshFindings('gx', LARGE ? 40 : 6, expected);
  await recordInitial(expected);
  const batch = await dryRun(stack, ids);
  const answer = stack
    .api('POST', '/api/v1/remediations', { batch_id: batch.batchId, finding_ids: ids, dry_run: false })
    .catch(() => null);
  const counts = `aegis:batch:${batch.batchId}:counts`;
  const deadline = Date.now() + 20_000;
  while (!(await redis.exists(counts)) && Date.now() < deadline);
  // Redis holds every write for a moment (a slow disk, a busy server): the gateway dies after
  // recording the items and before its jobs are in the queue.
  await redis.call('CLIENT', 'PAUSE', '3000', 'WRITE');
  await killAndAwaitRestart(stack, 'api-gateway', 'api-gateway ready');
  sheet.add('faults');
  await answer;
  const jobs = await Promise.all(ids.map((id) => redis.exists(`aegis:remediation-t1:${batch.batchId}__${id}`)));
  expect(jobs.filter((j) => j === 0).length).toBeGreaterThan(0);
  // Looking at the batch finishes what the dead execute started.
  await waitBatch(stack, batch.batchId, 120_000);
  expect(stack.logs().some((l) => l.action === 'resume_enqueue' && l.batch_id === batch.batchId)).toBe(true);
  const audit = await auditBatch(stack, redis, batch, expected);
  count(audit, ids.length);
  expect(audit.problems).toEqual([]);
  expect(audit.status).toMatchObject({ status: 'completed', completed: ids.length, failed: 0, pending: 0 });
}, 240_000);

it('the snapshot store gone mid-run: items fail snapshot_failed and nothing changes; once it is back a new batch succeeds', async () => {
  const expected: Expected = new Map();
  // Fewer than the breaker's minimum, so every item meets the broken store itself.
  const ids = await sshFindings('ss', 3, expected);
  await recordInitial(expected);
  const broken = await dryRun(stack, ids);
  const away = `${stack.snapshotDir}.away`;
  renameSync(stack.snapshotDir, away);
  writeFileSync(stack.snapshotDir, 'not a folder: every snapshot write fails');
  sheet.add('faults');
  try {
    await execute(stack, broken.batchId, ids);
    const done = await waitBatch(stack, broken.batchId, 60_000);
    sheet.add('items', ids.length);
    expect(done.items.map((i) => [i.state, i.error])).toEqual(ids.map(() => ['failed', 'snapshot_failed']));
    const s = await sandboxState(stack);
    const changed = [...expected.values()].filter((e) => resourceView(s, e.resourceId) !== e.initial);
    sheet.add('unsnapshotted', changed.length);
    expect(changed).toEqual([]);
  } finally {
    rmSync(stack.snapshotDir, { force: true });
    renameSync(away, stack.snapshotDir);
  }
  expect(snapshotFiles(stack, broken.batchId)).toEqual([]);

  const again = await dryRun(stack, ids);
  await execute(stack, again.batchId, ids);
  await waitBatch(stack, again.batchId, 60_000);
  const audit = await auditBatch(stack, redis, again, expected);
  count(audit, ids.length);
  expect(audit.problems).toEqual([]);
  expect(audit.status).toMatchObject({ status: 'completed', completed: ids.length });
  expect(snapshotFiles(stack, again.batchId)).toHaveLength(ids.length);
}, 180_000);

it('Redis restarted during a batch: no batch, item or outcome lost, and every service reconnects without a restart', async () => {
  const expected: Expected = new Map();
  const ids = await sshFindings('rr', LARGE ? 20 : 8, expected);
  await recordInitial(expected);
  const batch = await dryRun(stack, ids);
  const restartsBefore = stack.state().restarts;
  const pidsBefore = stack.state().pids;
  const linesBefore = restartLines(stack).length;
  await sandboxAdmin(stack, 'POST', '/_sandbox/latency', { service: 'ec2', ms: 400 });
  await execute(stack, batch.batchId, ids);
  await until('an item running', 30_000, async () =>
    (await batchStatus(stack, batch.batchId)).items.some((i) => i.state === 'running') ? true : undefined,
  );
  if (!stack.redis) throw new Error('the stack has no Redis of its own');
  await stack.redis.restart();
  sheet.add('faults');
  await waitBatch(stack, batch.batchId, 120_000);
  const audit = await auditBatch(stack, redis, batch, expected);
  count(audit, ids.length);
  expect(audit.problems).toEqual([]);
  expect(audit.status).toMatchObject({ status: 'completed', completed: ids.length, failed: 0 });
  expect(await redis.zscore('aegis:batches', batch.batchId)).not.toBeNull();
  for (const id of ids)
    expect((await stack.api('GET', `/api/v1/findings/${id}`)).body).toMatchObject({ status: 'remediated' });
  expect(restartLines(stack)).toHaveLength(linesBefore);
  expect(stack.state().restarts).toEqual(restartsBefore);
  expect(stack.state().pids).toEqual(pidsBefore);
  expect(pidOf(stack, 'api-gateway')).toBe(pidsBefore['api-gateway']);
}, 240_000);

it('keeps every must-be-0 figure at 0', () => {
  expect(sheet.nonZero()).toEqual([]);
});
