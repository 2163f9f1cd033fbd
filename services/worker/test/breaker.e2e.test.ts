import { startStack, type Stack } from '@aegis/testkit';
import {
  FIXED_GRANTS,
  OPEN_GRANTS,
  dryRun,
  ec2,
  execute,
  grantsOf,
  ingest,
  logLines,
  metricsOf,
  openGroups,
  sample,
  sandboxAdmin,
  waitBatch,
  type EC2Client,
} from './helpers';

/**
 * The batch breaker (DESIGN.md invariant 5): a batch whose failure rate passes 20% stops itself.
 * 40% of the groups refuse the change (AccessDenied injected per resource id, after the dry run).
 * With one T1 item at a time nothing else finishes once the breaker trips, so the figures are
 * exact: it trips at the first failure that takes the rate past 20% once 5 items finished
 * (AEGIS_BATCH_MIN_FINISHED), and cancels the rest.
 */
let stack: Stack;
let client: EC2Client;

beforeAll(async () => {
  stack = await startStack({ env: { AEGIS_T1_CONCURRENCY: '1', AEGIS_RECHECK_DELAY: '0' } });
  client = ec2(stack);
}, 90_000);
afterAll(async () => {
  client?.destroy();
  await stack?.stop();
});

it('stops a batch whose failure rate passes 20%, cancelling the queued items', async () => {
  const N = 20;
  const groups = await openGroups(client, N);
  const ids = groups.map((_, i) => `brk-${i}`);
  await ingest(
    stack,
    groups.map((g, i) => ({ id: ids[i] as string, handler: 'block-public-ssh', resource_id: g })),
  );
  const batchId = await dryRun(stack, ids);
  // 2 in every 5: 40% of the resources, after the dry run saw them fine.
  const denied = groups.filter((_, i) => i % 5 === 1 || i % 5 === 3);
  for (const g of denied)
    await sandboxAdmin(stack, 'POST', '/_sandbox/faults', {
      service: 'ec2',
      operation: 'RevokeSecurityGroupIngress',
      resource_id: g,
      code: 'AccessDenied',
    });
  expect((await execute(stack, batchId, ids)).status).toBe(202);
  const b = await waitBatch(stack, batchId);

  expect(b.status).toBe('stopped');
  const f = b.stop_figures as { failed: number; finished: number; failure_pct: number; threshold_pct: number };
  expect(b.stop_reason).toBe(
    `failure rate ${f.failure_pct.toFixed(1)}% (${f.failed} of ${f.finished} finished) exceeded 20%`,
  );
  expect(f.threshold_pct).toBe(20);
  // It tripped at the first failure that took the rate past 20% with enough items finished (the
  // items' own finish order, as the workers took them), not later.
  const finished = b.items
    .filter((i) => i.state === 'succeeded' || i.state === 'failed')
    .sort((x, y) => Date.parse(x.finished_at ?? '') - Date.parse(y.finished_at ?? ''));
  let fails = 0;
  const tripAt = finished.findIndex((i, k) => {
    if (i.state === 'failed') fails++;
    return i.state === 'failed' && k + 1 >= 5 && fails / (k + 1) > 0.2;
  });
  expect(tripAt).toBe(finished.length - 1);
  expect(f).toMatchObject({ finished: finished.length, failed: fails });
  expect(f.failure_pct).toBeGreaterThan(20);
  expect(b.failed).toBe(f.failed);
  expect(b.completed + b.failed).toBe(f.finished);
  expect(b.counts.cancelled).toBe(N - f.finished);
  expect((b.counts.queued ?? 0) + (b.counts.running ?? 0)).toBe(0);

  // Failed items carry the AWS code; cancelled ones say why and were never touched.
  const items = b.items;
  for (const it of items.filter((i) => i.state === 'failed')) expect(it.error).toBe('AccessDenied');
  const cancelled = items.filter((i) => i.state === 'cancelled');
  for (const it of cancelled) expect(it.error).toBe('batch_stopped');
  const now = await grantsOf(client, groups);
  for (const it of cancelled) expect(now[it.resource_id]).toEqual(OPEN_GRANTS);
  for (const it of items.filter((i) => i.state === 'succeeded')) expect(now[it.resource_id]).toEqual(FIXED_GRANTS);

  const warn = logLines(stack, { action: 'breaker', batch_id: batchId });
  expect(warn).toEqual([expect.objectContaining({ level: 'warn', status: 'stopped', cancelled: cancelled.length })]);
  expect(String(warn[0]?.msg)).toContain(b.stop_reason as string);
  const m = await metricsOf(stack, 'worker-t1');
  expect(sample(m, 'aegis_batches_stopped_total', { reason: 'failure_rate' })).toBe(1);
  console.log(`breaker: ${b.stop_reason}; ${cancelled.length} of ${N} items cancelled`);
}, 60_000);
