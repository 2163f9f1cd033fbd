import { Writable } from 'node:stream';
import { createLogger, createRedis, type Finding, type RedisClient } from '@aegis/core';
import { CloudClients, createDefaultRegistry, DEFAULT_SETTINGS } from '@aegis/handlers';
import { getTestRedis, type TestRedis } from '@aegis/testkit';
import { Queue } from 'bullmq';
// The sandbox runs in this process: its seeded security group is open to the world on SSH.
import { startSandbox, type SandboxHandle } from '../../../services/aws-sandbox/src';
import {
  DispatchMetrics,
  StateStore,
  recheckItem,
  recheckJobId,
  scheduleRecheck,
  type ItemRecord,
  type RecheckDeps,
  type RemediateJob,
} from '../src';

let tr: TestRedis;
let redis: RedisClient;
let sb: SandboxHandle;
let clients: CloudClients;

beforeAll(async () => {
  tr = await getTestRedis();
  redis = createRedis({ url: tr.url }, 'worker');
  sb = await startSandbox({ port: 0, throttling: false });
  clients = new CloudClients({ cloud: 'sandbox', sandboxPort: sb.port, maxAttempts: 1 });
});
afterAll(async () => {
  clients.destroy();
  await sb.close();
  redis.disconnect();
  await tr.stop();
});

let n = 0;
const openGroup = () => sb.seeded()?.security_group_id ?? '';

/** A succeeded item of a one-item batch, its finding `remediated` by that batch. */
async function succeeded(
  store: StateStore,
  resourceId: string,
  finding: Partial<Finding> = {},
): Promise<{ batchId: string; item: ItemRecord }> {
  const batchId = `batch-20260226-${String(++n).padStart(3, '0')}`;
  const now = new Date().toISOString();
  const f: Finding = {
    id: `rc-${n}`,
    handler: 'block-public-ssh',
    provider: 'aws',
    account_id: '123456789012',
    region: 'us-east-1',
    resource_id: resourceId,
    severity: 'high',
    title: '',
    dependencies: [{ resource_id: 'lt-0abc1234def567890', relation: 'launch-template' }],
    status: 'remediated',
    created_at: now,
    updated_at: now,
    last_batch_id: batchId,
    ...finding,
  };
  await store.upsertFindings([f]);
  const item: ItemRecord = {
    batch_id: batchId,
    finding_id: f.id,
    handler: f.handler,
    tier: 'T1',
    resource_id: resourceId,
    account_id: f.account_id,
    region: f.region,
    state: 'succeeded',
    attempts: 1,
    enqueued_at: now,
  };
  await store.initItems(batchId, [item]);
  return { batchId, item };
}

function deps(store: StateStore) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const d: RecheckDeps = {
    store,
    registry: createDefaultRegistry(),
    clients,
    metrics: new DispatchMetrics('test'),
    log: createLogger('test', 'info', sink),
    settings: DEFAULT_SETTINGS,
  };
  return { d, lines };
}

const signal = () => new AbortController().signal;

describe('recheckItem', () => {
  it('turns a finding misconfigured again into regressed, counts it and names its dependencies', async () => {
    const store = new StateStore(redis, `${tr.prefix}-a`);
    const { batchId, item } = await succeeded(store, openGroup());
    const { d, lines } = deps(store);
    expect(await recheckItem(d, batchId, item.finding_id, signal())).toBe('regressed');
    expect((await store.getFinding(item.finding_id))?.status).toBe('regressed');
    expect((await d.metrics.regressions.get()).values).toEqual([
      expect.objectContaining({ labels: { tier: 'T1', handler: 'block-public-ssh' }, value: 1 }),
    ]);
    const warn = lines.filter((l) => l.level === 'warn');
    expect(warn).toEqual([
      expect.objectContaining({
        action: 'recheck',
        status: 'regressed',
        finding_id: item.finding_id,
        dependencies: [{ resource_id: 'lt-0abc1234def567890', relation: 'launch-template' }],
      }),
    ]);
    expect(String(warn[0]?.msg)).toContain('fix the root resource instead: lt-0abc1234def567890 (launch-template)');
  });

  it('leaves alone a finding that a rollback or a later batch owns, or an item that did not succeed', async () => {
    const store = new StateStore(redis, `${tr.prefix}-b`);
    const rolledBack = await succeeded(store, openGroup(), { status: 'rolled_back' });
    const replanned = await succeeded(store, openGroup(), { last_batch_id: 'batch-20260227-001' });
    const { d, lines } = deps(store);
    expect(await recheckItem(d, rolledBack.batchId, rolledBack.item.finding_id, signal())).toBe('skipped');
    expect(await recheckItem(d, replanned.batchId, replanned.item.finding_id, signal())).toBe('skipped');
    expect(await recheckItem(d, 'batch-20260226-999', 'rc-none', signal())).toBe('skipped');
    expect((await store.getFinding(rolledBack.item.finding_id))?.status).toBe('rolled_back');
    expect((await store.getFinding(replanned.item.finding_id))?.status).toBe('remediated');
    expect(lines).toEqual([]);
  });

  it('reports a resource that is gone, and throws throttling for the queue to retry', async () => {
    const store = new StateStore(redis, `${tr.prefix}-c`);
    const gone = await succeeded(store, 'sg-0000000000000dead');
    const { d } = deps(store);
    expect(await recheckItem(d, gone.batchId, gone.item.finding_id, signal())).toBe('resource_gone');
    expect((await store.getFinding(gone.item.finding_id))?.status).toBe('remediated');

    const busy = await succeeded(store, openGroup());
    sb.addFault({ service: 'ec2', operation: 'DescribeSecurityGroups', code: 'RequestLimitExceeded', times: 1 });
    await expect(recheckItem(d, busy.batchId, busy.item.finding_id, signal())).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
    });
    expect((await store.getFinding(busy.item.finding_id))?.status).toBe('remediated');
  });
});

describe('scheduleRecheck', () => {
  it('adds one delayed recheck job per item, however often the success is recorded', async () => {
    const store = new StateStore(redis, `${tr.prefix}-d`);
    const { item } = await succeeded(store, openGroup());
    const queue = new Queue<RemediateJob>('remediation-t1', {
      connection: { host: new URL(tr.url).hostname, port: Number(new URL(tr.url).port) },
      prefix: `${tr.prefix}-d`,
    });
    try {
      await scheduleRecheck(queue, item, 60_000);
      await scheduleRecheck(queue, item, 60_000);
      const delayed = await queue.getDelayed();
      expect(delayed.map((j) => [j.id, j.name, j.data])).toEqual([
        [
          recheckJobId(item.batch_id, item.finding_id),
          'recheck',
          { batch_id: item.batch_id, finding_id: item.finding_id },
        ],
      ]);
      expect(delayed[0]?.opts.delay).toBe(60_000);
    } finally {
      await queue.close();
    }
  });
});
