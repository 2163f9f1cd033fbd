import { startStack, type Stack } from '@aegis/testkit';
import {
  ec2,
  grantsOf,
  ingest,
  metricsOf,
  openGroups,
  remediate,
  sample,
  sandboxAdmin,
  sandboxTotals,
  waitBatch,
  type EC2Client,
} from './helpers';

/**
 * Throttling-aware dispatch: with the sandbox throttling EC2 like AWS does, a 300-finding batch
 * completes with no failed item and (almost) no throttled call, because every worker and the
 * gateway's dry run wait on the shared rate budget (Redis token buckets) before they call. Without
 * it (AEGIS_RATE_BUDGET=off) the same batch meets ~5% throttled calls and requeued items.
 *
 * Time: at AWS's own figures 300 revokes alone need 50 s (mutate bucket: 50, then 5 per second).
 * To fit the test's time both sides run 3 times faster: the sandbox's buckets (DescribeSecurityGroups
 * 300/60 per s, Authorize/Revoke 150/15 per s) and ours (AEGIS_RATE_BUDGET_SCALE=3, of which the
 * budget plans 90%). The shape is unchanged: the batch needs several times what the bursts hold.
 */
const SCALE = 3;
const N = 300;
const RULE = [
  { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }] },
];

let stack: Stack;
let client: EC2Client;

beforeAll(async () => {
  stack = await startStack({ env: { AEGIS_RATE_BUDGET: 'on', AEGIS_RATE_BUDGET_SCALE: String(SCALE) } });
  client = ec2(stack);
}, 90_000);
afterAll(async () => {
  client?.destroy();
  await stack?.stop();
});

it(`completes a ${N}-finding block-public-ssh batch under EC2 throttling with no failed item`, async () => {
  // Setup is not what is measured: create the groups with throttling off.
  await sandboxAdmin(stack, 'POST', '/_sandbox/throttling', { enabled: false });
  const groups = await openGroups(client, N, RULE);
  await ingest(
    stack,
    groups.map((g, i) => ({ id: `thr-${i}`, handler: 'block-public-ssh', resource_id: g })),
  );
  const rate = (capacity: number, refill: number) => ({
    capacity: capacity * SCALE,
    refill_per_second: refill * SCALE,
  });
  await sandboxAdmin(stack, 'POST', '/_sandbox/throttling', {
    enabled: true,
    rates: {
      'ec2:DescribeSecurityGroups': rate(100, 20),
      'ec2:RevokeSecurityGroupIngress': rate(50, 5),
      'ec2:AuthorizeSecurityGroupIngress': rate(50, 5),
    },
  });
  await sandboxAdmin(stack, 'DELETE', '/_sandbox/stats');

  const t0 = Date.now();
  const batchId = await remediate(
    stack,
    groups.map((_, i) => `thr-${i}`),
  );
  const b = await waitBatch(stack, batchId, 75_000);
  const seconds = (Date.now() - t0) / 1000;
  const ec2Calls = await sandboxTotals(stack, 'ec2');
  const m = await metricsOf(stack, 'worker-t1');
  const figures = {
    findings: N,
    status: b.status,
    succeeded: b.counts.succeeded,
    failed: b.failed,
    seconds: Number(seconds.toFixed(1)),
    ec2_calls: ec2Calls.calls,
    ec2_throttled: ec2Calls.throttled,
    budget_waits_s: Number(sample(m, 'aegis_rate_budget_wait_seconds_sum').toFixed(1)),
    budget_deferrals: sample(m, 'aegis_rate_budget_deferrals_total'),
    requeued_throttled: sample(m, 'aegis_remediation_retries_total', { class: 'throttled' }),
  };
  console.log(`throttling: ${JSON.stringify(figures)}`);

  expect(b.status).toBe('completed');
  expect(b.counts.succeeded).toBe(N);
  expect(b.failed).toBe(0);
  // The budget did the pacing (the batch needed more than the bursts)...
  expect(figures.budget_waits_s).toBeGreaterThan(1);
  // ...so AWS (the sandbox) throttled almost nothing: at most 1% of the calls.
  expect(ec2Calls.throttled).toBeLessThanOrEqual(Math.ceil(ec2Calls.calls / 100));
  const after = await grantsOf(client, groups);
  expect(Object.values(after).every((g) => g.join() === 'tcp 22-22 10.0.0.0/8')).toBe(true);
}, 90_000);
