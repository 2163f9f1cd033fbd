import { Writable } from 'node:stream';
import { createLogger, createRedis, resolveTiers, type Finding, type RedisClient } from '@aegis/core';
import { CloudClients, createDefaultRegistry, DEFAULT_SETTINGS } from '@aegis/handlers';
import { getTestRedis, type TestRedis } from '@aegis/testkit';
// The sandbox runs in this process so the test can inject throttling and count calls.
import { startSandbox, type SandboxHandle } from '../../../services/aws-sandbox/src';
import {
  DispatchMetrics,
  RateBudget,
  SnapshotClient,
  StateStore,
  accountOfCredentials,
  planFindings,
  rateBudgetHook,
  remediateItem,
  resolveRates,
  type RemediateDeps,
} from '../src';

/**
 * Throttling is not a failure (DESIGN.md invariant 4): a throttled item goes back to the queue
 * without spending an attempt, whether AWS throttled it or our own rate budget had no token.
 */
let tr: TestRedis;
let redis: RedisClient;
let sb: SandboxHandle;

beforeAll(async () => {
  tr = await getTestRedis();
  redis = createRedis({ url: tr.url }, 'worker');
  sb = await startSandbox({ port: 0, throttling: false });
});
afterAll(async () => {
  await sb.close();
  redis.disconnect();
  await tr.stop();
});

const tiers = resolveTiers();
const calls = () => sb.stats()['ec2:DescribeSecurityGroups']?.calls ?? 0;

/** An executed one-item batch on the seeded open group, its item queued. */
async function queuedItem(store: StateStore, clients: CloudClients): Promise<{ batchId: string; findingId: string }> {
  const now = new Date().toISOString();
  const finding: Finding = {
    id: `thr-${Date.now()}`,
    handler: 'block-public-ssh',
    provider: 'aws',
    account_id: '123456789012',
    region: 'us-east-1',
    resource_id: sb.seeded()?.security_group_id ?? '',
    severity: 'high',
    title: '',
    dependencies: [],
    status: 'open',
    created_at: now,
    updated_at: now,
  };
  await store.upsertFindings([finding]);
  const items = await planFindings({ registry: createDefaultRegistry(), clients, settings: DEFAULT_SETTINGS, tiers }, [
    finding,
  ]);
  const batchId = await store.nextBatchId(new Date());
  await store.createPlannedBatch(
    { batch_id: batchId, created_at: now, finding_ids: [finding.id], estimated_duration_s: 1, requested_by: 'test' },
    items,
  );
  await store.claimExecution(batchId, { started_at: now, executed_by: 'test' });
  await store.initItems(batchId, [
    {
      batch_id: batchId,
      finding_id: finding.id,
      handler: finding.handler,
      tier: 'T1',
      resource_id: finding.resource_id,
      account_id: finding.account_id,
      region: finding.region,
      state: 'queued',
      attempts: 0,
      enqueued_at: now,
    },
  ]);
  return { batchId, findingId: finding.id };
}

function deps(store: StateStore, clients: CloudClients, metrics: DispatchMetrics): RemediateDeps {
  return {
    store,
    registry: createDefaultRegistry(),
    clients,
    // Never reached: the throttled call comes before the snapshot.
    snapshots: new SnapshotClient('http://127.0.0.1:9'),
    metrics,
    log: createLogger('test', 'silent'),
    tiers,
    settings: DEFAULT_SETTINGS,
    breaker: { maxFailurePct: 20, minFinished: 5 },
  };
}

it('sends an item AWS throttled back to the queue without spending an attempt', async () => {
  const store = new StateStore(redis, `${tr.prefix}-aws`);
  const metrics = new DispatchMetrics('test');
  const clients = new CloudClients({ cloud: 'sandbox', sandboxPort: sb.port, maxAttempts: 2 }, metrics.observeCall);
  try {
    const { batchId, findingId } = await queuedItem(store, clients);
    // Every SDK attempt of the inspection is throttled.
    sb.addFault({ service: 'ec2', operation: 'DescribeSecurityGroups', code: 'RequestLimitExceeded', times: 2 });
    const d = await remediateItem(deps(store, clients, metrics), batchId, findingId, new AbortController().signal);
    expect(d).toMatchObject({ kind: 'requeue', reason: 'throttled' });
    expect(await store.getItem(batchId, findingId)).toMatchObject({
      state: 'queued',
      attempts: 0,
      throttle_deferrals: 1,
      error: 'RequestLimitExceeded',
    });
    expect(await store.getCounts(batchId)).toMatchObject({ queued: 1, running: 0, failed: 0 });
    expect((await store.getMeta(batchId))?.status).toBe('running');
    expect((await metrics.retries.get()).values).toEqual([
      expect.objectContaining({ labels: { tier: 'T1', handler: 'block-public-ssh', class: 'throttled' }, value: 1 }),
    ]);
    expect((await metrics.remediations.get()).values).toEqual([]);
    expect((await metrics.cloudThrottles.get()).values[0]?.value).toBe(2);
  } finally {
    clients.destroy();
    sb.clearFaults();
  }
});

it('treats "no token in the rate budget" the same way, and nothing reaches the cloud', async () => {
  const store = new StateStore(redis, `${tr.prefix}-budget`);
  const metrics = new DispatchMetrics('test');
  // A small describe bucket (1 token, then one every 5.5 s) and a short longest wait.
  const rates = resolveRates(1, 'ec2:describe=2/0.2');
  const budget = new RateBudget(redis, `${tr.prefix}-budget`, rates, { maxWaitMs: 100, metrics });
  const plain = new CloudClients({ cloud: 'sandbox', sandboxPort: sb.port });
  const gated = new CloudClients({
    cloud: 'sandbox',
    sandboxPort: sb.port,
    beforeCall: rateBudgetHook(
      budget,
      accountOfCredentials('123456789012', () => Promise.resolve('unused')),
    ),
  });
  try {
    const { batchId, findingId } = await queuedItem(store, plain);
    // Someone else spent this account's describe bucket just now.
    const scope = { account: '123456789012', region: 'us-east-1', category: 'ec2:describe' as const };
    await budget.take(scope);
    const before = calls();
    const d = await remediateItem(deps(store, gated, metrics), batchId, findingId, new AbortController().signal);
    expect(d).toMatchObject({ kind: 'requeue', reason: 'throttled' });
    expect(await store.getItem(batchId, findingId)).toMatchObject({
      state: 'queued',
      attempts: 0,
      throttle_deferrals: 1,
      error: 'RateBudgetExhausted',
    });
    expect(calls()).toBe(before);
    expect((await metrics.budgetDeferrals.get()).values[0]).toMatchObject({
      labels: { category: 'ec2:describe' },
      value: 1,
    });
  } finally {
    plain.destroy();
    gated.destroy();
  }
});

it('finishes the steps after the outcome of an item whose worker died right after recording it, on redelivery', async () => {
  const store = new StateStore(redis, `${tr.prefix}-repair`);
  const metrics = new DispatchMetrics('test');
  const clients = new CloudClients({ cloud: 'sandbox', sandboxPort: sb.port });
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const d = { ...deps(store, clients, metrics), log: createLogger('test', 'info', sink) };
  try {
    const { batchId, findingId } = await queuedItem(store, clients);
    await store.setFindingStatus(findingId, 'remediating', batchId);
    // The outcome was recorded, then the worker was killed: no finish line, the finding still remediating.
    await store.transition(batchId, findingId, 'succeeded', ['queued'], {
      finished_at: new Date().toISOString(),
      duration_ms: 420,
      snapshot_id: 'snap-001',
      error: 'RequestLimitExceeded',
    });
    const before = calls();
    const run = () => remediateItem(d, batchId, findingId, new AbortController().signal);
    expect(await run()).toEqual({ kind: 'done', state: 'succeeded' });
    expect(await store.getFinding(findingId)).toMatchObject({ status: 'remediated', last_batch_id: batchId });
    const finish = lines.filter((l) => l.action === 'finish' && l.finding_id === findingId);
    expect(finish).toEqual([
      expect.objectContaining({ status: 'success', duration_ms: 420, snapshot_id: 'snap-001', batch_id: batchId }),
    ]);
    // An earlier attempt's error is not the outcome's.
    expect(finish[0]?.error).toBeUndefined();
    expect((await metrics.remediations.get()).values).toEqual([
      expect.objectContaining({ labels: { tier: 'T1', handler: 'block-public-ssh', status: 'success' }, value: 1 }),
    ]);
    // Nothing ran again in the cloud, and a second redelivery finds nothing left to do.
    expect(calls()).toBe(before);
    await run();
    expect(lines.filter((l) => l.action === 'finish')).toHaveLength(1);
    // A finding another batch has since taken over is left alone.
    await store.setFindingStatus(findingId, 'remediating', 'batch-20991231-001');
    await run();
    expect((await store.getFinding(findingId))?.status).toBe('remediating');
    expect(lines.filter((l) => l.action === 'finish')).toHaveLength(1);
  } finally {
    clients.destroy();
  }
});
