import { startStack, type Stack } from '@aegis/testkit';
import {
  FIXED_GRANTS,
  OPEN_RULES,
  batch,
  dryRun,
  ec2,
  execute,
  grantsOf,
  ingest,
  logLines,
  openGroups,
  sandboxAdmin,
  snapshotFiles,
  waitBatch,
  waitFor,
  type EC2Client,
} from './helpers';

/**
 * At-least-once delivery, exactly-once effect: SIGKILL the T1 worker in the middle of a batch. The
 * launcher restarts it (as Kubernetes restarts a pod), BullMQ hands the killed process's jobs out
 * again once their locks expire (AEGIS_JOB_LOCK_DURATION=6s here, 30 s by default), and every item
 * ends in exactly one terminal state with exactly the planned change, made once.
 */
let stack: Stack;
let client: EC2Client;

beforeAll(async () => {
  stack = await startStack({ env: { AEGIS_JOB_LOCK_DURATION: '6s', AEGIS_RECHECK_DELAY: '0' } });
  client = ec2(stack);
}, 90_000);
afterAll(async () => {
  client?.destroy();
  await stack?.stop();
});

// Half the groups also have every TCP port open to the world: that rule is narrowed, which takes
// three authorisations besides the revokes, so a re-run that authorised twice would show.
const WIDE = [...OPEN_RULES, { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }];
const WIDE_FIXED = [
  'tcp 0-21 0.0.0.0/0',
  'tcp 22-22 10.0.0.0/8',
  'tcp 23-3388 0.0.0.0/0',
  'tcp 3390-65535 0.0.0.0/0',
  'tcp 443-443 0.0.0.0/0',
];

it('finishes every item exactly once, with no duplicate effect, when a worker is SIGKILLed mid-batch', async () => {
  const plain = await openGroups(client, 12);
  const wide = await openGroups(client, 12, WIDE);
  const groups = [...plain, ...wide];
  const ids = groups.map((_, i) => `kill-${i}`);
  await ingest(
    stack,
    groups.map((g, i) => ({ id: `kill-${i}`, handler: 'block-public-ssh', resource_id: g })),
  );
  const batchId = await dryRun(stack, ids);
  // Slow cloud calls keep items in flight long enough to be caught by the kill.
  await sandboxAdmin(stack, 'POST', '/_sandbox/latency', { service: 'ec2', ms: 250 });
  expect((await execute(stack, batchId, ids)).status).toBe(202);

  const before = stack.state();
  const victim = before.pids['worker-t1'] as number;
  const atKill = await waitFor(
    'items done and items in flight',
    () => batch(stack, batchId),
    (b) => b.completed >= 2 && (b.counts.running ?? 0) >= 3,
  );
  process.kill(victim, 'SIGKILL');
  const inFlight = atKill.items.filter((i) => i.state === 'running').map((i) => i.finding_id);

  const done = await waitBatch(stack, batchId, 70_000);
  const after = stack.state();
  expect(after.restarts['worker-t1']).toBeGreaterThanOrEqual(1);
  expect(after.pids['worker-t1']).not.toBe(victim);

  // Every item in exactly one terminal state, and the counts add up.
  expect(done.status).toBe('completed');
  expect(done.items.map((i) => i.state)).toEqual(ids.map(() => 'succeeded'));
  expect(done.counts).toMatchObject({ succeeded: ids.length, queued: 0, running: 0, failed: 0, cancelled: 0 });
  expect(Object.values(done.counts).reduce((a, b) => a + b, 0)).toBe(ids.length);
  for (const id of ids) expect(logLines(stack, { action: 'finish', finding_id: id })).toHaveLength(1);
  // The items the kill interrupted ran again.
  for (const id of inFlight) expect(done.items.find((i) => i.finding_id === id)?.attempts).toBeGreaterThanOrEqual(2);

  // Exactly the planned change, once: no duplicate or missing rule anywhere.
  const now = await grantsOf(client, groups);
  for (const g of plain) expect(now[g]).toEqual(FIXED_GRANTS);
  for (const g of wide) expect(now[g]).toEqual(WIDE_FIXED);
  // One snapshot per item, whatever the number of runs.
  const snaps = Object.values(snapshotFiles(stack, batchId));
  expect(snaps).toHaveLength(ids.length);
  expect(new Set(snaps.map((s) => s.finding_id)).size).toBe(ids.length);
  console.log(
    `worker kill: ${inFlight.length} items in flight at the kill, batch done in ${done.elapsed_s} s, ` +
      `${done.items.filter((i) => i.attempts > 1).length} items ran twice`,
  );
}, 90_000);
