import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { createLogger, createRedis, type RedisClient } from '@aegis/core';
import {
  DispatchMetrics,
  StateStore,
  assessRollback,
  claimRollbacks,
  executeRollback,
  failOpenRollback,
  getRollbackRecords,
  refreshRollbackStatus,
  type RollbackRecord,
  type SnapshotDoc,
} from '@aegis/dispatch';
import { CloudClients, DEFAULT_SETTINGS, createDefaultRegistry, planHash } from '@aegis/handlers';
import { startSandbox, type SandboxHandle } from '@aegis/aws-sandbox';
import { getTestRedis, type TestRedis } from '@aegis/testkit';

/**
 * executeRollback and the batch's rollback_status against a real Redis and an in-process
 * aws-sandbox: the parts of a rollback a stack test cannot stage (a crash between restore and
 * record, throttling beyond the SDK's retries, the status arithmetic).
 */
let tr: TestRedis;
let redis: RedisClient;
let sb: SandboxHandle;
let ec2: EC2Client;
let clients: CloudClients;
const registry = createDefaultRegistry();
const settings = { ...DEFAULT_SETTINGS, pollIntervalMs: 20 };
const log = createLogger('rollback-test', 'silent');

beforeAll(async () => {
  tr = await getTestRedis();
  redis = createRedis({ url: tr.url }, 'worker');
  sb = await startSandbox({ port: 0, seed: false, throttling: false });
  ec2 = new EC2Client({
    endpoint: sb.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  clients = new CloudClients({ cloud: 'sandbox', sandboxPort: sb.port, endpoint: sb.url, maxAttempts: 2 });
});
afterAll(async () => {
  clients?.destroy();
  ec2?.destroy();
  await sb?.close();
  redis?.disconnect();
  await tr?.stop();
});

let seq = 0;
function setup() {
  const store = new StateStore(redis, `${tr.prefix}-${seq++}`);
  const metrics = new DispatchMetrics('snapshot');
  const deps = { store, registry, clients, settings, windowMs: 3_600_000, metrics, log, retry: { baseDelayMs: 10 } };
  return { store, metrics, deps };
}

const BATCH = 'batch-20260226-001';
let groups = 0;

/** A group open to the world on 22 and 443, remediated by block-public-ssh; returns its snapshot. */
async function remediatedGroup(snapshotId = 'snap-001'): Promise<{ doc: SnapshotDoc; groupId: string }> {
  const g = await ec2.send(new CreateSecurityGroupCommand({ GroupName: `rb-${groups++}`, Description: 'test' }));
  const groupId = g.GroupId as string;
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      ],
    }),
  );
  const h = registry.get('block-public-ssh');
  const target = { resource_id: groupId, account_id: '123456789012', region: 'us-east-1' };
  const ctx = { clients, settings, now: () => new Date() };
  const state = await h.inspect(ctx, target);
  const plan = h.plan(state, target, settings, new Date());
  await h.apply(ctx, target, plan, state);
  const doc: SnapshotDoc = {
    snapshot_id: snapshotId,
    batch_id: BATCH,
    finding_id: `f-${groupId}`,
    handler: 'block-public-ssh',
    provider: 'aws',
    ...target,
    taken_at: new Date().toISOString(),
    previous_state: state,
    planned_state: plan.planned_state,
    changes: plan.changes,
    plan_hash: planHash(plan.ops),
    ops: plan.ops,
  };
  return { doc, groupId };
}

async function rules(groupId: string): Promise<string[]> {
  const out = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return (out.SecurityGroups?.[0]?.IpPermissions ?? [])
    .flatMap((p) => (p.IpRanges ?? []).map((r) => `${p.IpProtocol} ${p.FromPort}-${p.ToPort} ${r.CidrIp}`))
    .sort();
}

/** What the batch's record says now, without recomputing it. */
const statusOf = (store: StateStore) => redis.hget(store.keys.batchMeta(BATCH), 'rollback_status');

const record = (id: string, state: RollbackRecord['state']): RollbackRecord => ({
  snapshot_id: id,
  finding_id: `f-${id}`,
  handler: 'block-public-ssh',
  resource_id: 'sg-0123456789abcdef0',
  state,
  requested_at: new Date().toISOString(),
});

async function metric(metrics: DispatchMetrics, status: string): Promise<number> {
  const m = await metrics.rollbacks.get();
  return m.values.find((v) => v.labels.status === status && v.labels.handler === 'block-public-ssh')?.value ?? 0;
}

describe('rollback_status of a batch', () => {
  it('counts only reversible snapshots: partial, complete, failed, and back to rolling_back on a retry', async () => {
    const { store, metrics } = setup();
    expect(await refreshRollbackStatus(store, BATCH)).toBe('none');
    // Three reversible snapshots in the batch; one requested.
    expect(await claimRollbacks(store, BATCH, [record('snap-001', 'queued')], 3)).toEqual([]);
    expect(await statusOf(store)).toBe('rolling_back');
    await redis.hset(store.keys.batchRollbacks(BATCH), 'snap-001', JSON.stringify(record('snap-001', 'rolled_back')));
    expect(await refreshRollbackStatus(store, BATCH)).toBe('partially_rolled_back');
    // The other two: one fails, one succeeds.
    expect(await claimRollbacks(store, BATCH, [record('snap-002', 'queued'), record('snap-003', 'queued')], 3)).toEqual(
      [],
    );
    expect(await refreshRollbackStatus(store, BATCH)).toBe('rolling_back');
    await redis.hset(store.keys.batchRollbacks(BATCH), 'snap-002', JSON.stringify(record('snap-002', 'rolled_back')));
    await failOpenRollback({ store, metrics, log }, BATCH, 'snap-003', 'AccessDenied', 'denied');
    expect(await refreshRollbackStatus(store, BATCH)).toBe('partially_rolled_back');
    expect(await metric(metrics, 'failed')).toBe(1);
    // A failed rollback may be asked for again; the done ones may not.
    expect(
      await claimRollbacks(
        store,
        BATCH,
        [record('snap-001', 'queued'), record('snap-002', 'queued'), record('snap-003', 'queued')],
        3,
      ),
    ).toEqual(['snap-001', 'snap-002']);
    expect(await refreshRollbackStatus(store, BATCH)).toBe('rolling_back');
    await redis.hset(store.keys.batchRollbacks(BATCH), 'snap-003', JSON.stringify(record('snap-003', 'rolled_back')));
    expect(await refreshRollbackStatus(store, BATCH)).toBe('rolled_back');
  });

  it('is failed when every accepted rollback failed, rolled_back when the only reversible snapshot is restored', async () => {
    const a = setup();
    await claimRollbacks(a.store, BATCH, [record('snap-001', 'queued')], 2);
    await failOpenRollback({ store: a.store, metrics: a.metrics, log }, BATCH, 'snap-001', 'verify_failed', 'x');
    expect(await refreshRollbackStatus(a.store, BATCH)).toBe('failed');
    // A batch of one reversible and one irreversible snapshot (scope 1).
    const b = setup();
    await claimRollbacks(b.store, BATCH, [record('snap-002', 'queued')], 1);
    await redis.hset(b.store.keys.batchRollbacks(BATCH), 'snap-002', JSON.stringify(record('snap-002', 'rolled_back')));
    expect(await refreshRollbackStatus(b.store, BATCH)).toBe('rolled_back');
  });

  it('lets one of two concurrent requests claim a snapshot', async () => {
    const { store } = setup();
    const [x, y] = await Promise.all([
      claimRollbacks(store, BATCH, [record('snap-001', 'queued')], 1),
      claimRollbacks(store, BATCH, [record('snap-001', 'queued')], 1),
    ]);
    expect([...(x ?? []), ...(y ?? [])]).toEqual(['snap-001']);
  });
});

describe('executeRollback', () => {
  it('restores, verifies, records, counts and refreshes the batch status', async () => {
    const { store, metrics, deps } = setup();
    const { doc, groupId } = await remediatedGroup();
    expect(await rules(groupId)).toEqual(['tcp 443-443 0.0.0.0/0']);
    await claimRollbacks(store, BATCH, [record(doc.snapshot_id, 'queued')], 1);
    const rec = await executeRollback(deps, doc, { force: false, requestedBy: 'test' });
    expect(rec).toMatchObject({ state: 'rolled_back', force: false });
    expect(rec.error).toBeUndefined();
    expect(await rules(groupId)).toEqual(['tcp 22-22 0.0.0.0/0', 'tcp 443-443 0.0.0.0/0']);
    expect(await statusOf(store)).toBe('rolled_back');
    expect(await metric(metrics, 'success')).toBe(1);
    // A redelivered job of a finished rollback changes nothing and reports the same record.
    expect(await executeRollback(deps, doc, { force: false })).toEqual(rec);
    expect(await metric(metrics, 'success')).toBe(1);
  });

  it('resumes a rollback whose process died after restoring (record left running) instead of calling it drift', async () => {
    const { store, deps } = setup();
    const { doc, groupId } = await remediatedGroup();
    const h = registry.get('block-public-ssh');
    if (!h.rollback.reversible) throw new Error('block-public-ssh must be reversible');
    // The first run restored, then died before writing its outcome.
    await h.rollback.restore({ clients, settings, now: () => new Date() }, doc, {
      previous_state: doc.previous_state,
      planned_state: doc.planned_state,
      ops: doc.ops,
    });
    await redis.hset(
      store.keys.batchRollbacks(BATCH),
      doc.snapshot_id,
      JSON.stringify(record(doc.snapshot_id, 'running')),
    );
    const rec = await executeRollback(deps, doc, { force: false });
    expect(rec.state).toBe('rolled_back');
    expect(await rules(groupId)).toEqual(['tcp 22-22 0.0.0.0/0', 'tcp 443-443 0.0.0.0/0']);
    // The same resource found restored by a fresh (queued) rollback is drift: someone else changed it.
    const other = setup();
    await claimRollbacks(other.store, BATCH, [record(doc.snapshot_id, 'queued')], 1);
    const fresh = await executeRollback(other.deps, doc, { force: false });
    expect(fresh).toMatchObject({ state: 'failed', error: 'drifted' });
  });

  it('retries throttling beyond the SDK retries, and fails AccessDenied at once without retrying', async () => {
    const { store, metrics, deps } = setup();
    const { doc, groupId } = await remediatedGroup();
    // Three throttled answers: the SDK (2 attempts) gives up once, our retry goes on.
    sb.addFault({
      operation: 'AuthorizeSecurityGroupIngress',
      resource_id: groupId,
      code: 'RequestLimitExceeded',
      times: 3,
    });
    await claimRollbacks(store, BATCH, [record(doc.snapshot_id, 'queued')], 1);
    expect((await executeRollback(deps, doc, { force: false })).state).toBe('rolled_back');
    sb.clearFaults();

    const second = await remediatedGroup('snap-002');
    const fault = sb.addFault({
      operation: 'AuthorizeSecurityGroupIngress',
      resource_id: second.groupId,
      code: 'UnauthorizedOperation',
      always: true,
    });
    await claimRollbacks(store, BATCH, [record('snap-002', 'queued')], 2);
    const rec = await executeRollback(deps, second.doc, { force: false });
    expect(rec).toMatchObject({ state: 'failed', error: 'UnauthorizedOperation' });
    expect(fault.fired).toBe(1);
    expect(await metric(metrics, 'failed')).toBe(1);
    expect(await refreshRollbackStatus(store, BATCH)).toBe('partially_rolled_back');
    sb.clearFaults();
    // Nothing was changed by the failed attempt: a retry needs no force and succeeds.
    await claimRollbacks(store, BATCH, [record('snap-002', 'queued')], 2);
    expect((await executeRollback(deps, second.doc, { force: false })).state).toBe('rolled_back');
    expect(await refreshRollbackStatus(store, BATCH)).toBe('rolled_back');
    expect((await getRollbackRecords(store, BATCH)).map((r) => r.state)).toEqual(['rolled_back', 'rolled_back']);
  });

  it('rolls drift back only with force, keeping the rules others added, and says so', async () => {
    const { store, deps } = setup();
    const { doc, groupId } = await remediatedGroup();
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, IpRanges: [{ CidrIp: '10.1.0.0/16' }] }],
      }),
    );
    const a = await assessRollback(deps, doc, { force: false });
    expect(a.refused?.code).toBe('drifted');
    expect(a.drift).toContain('8080');
    const forced = await assessRollback(deps, doc, { force: true });
    expect(forced.refused).toBeUndefined();
    await claimRollbacks(store, BATCH, [record(doc.snapshot_id, 'queued')], 1);
    const rec = await executeRollback(deps, doc, { force: true });
    expect(rec.state).toBe('rolled_back');
    expect(rec.message).toContain('8080');
    expect(await rules(groupId)).toEqual(['tcp 22-22 0.0.0.0/0', 'tcp 443-443 0.0.0.0/0', 'tcp 8080-8080 10.1.0.0/16']);
  });

  it('refuses an expired window at request time but not a job accepted in time; never an irreversible handler', async () => {
    const { deps } = setup();
    const { doc } = await remediatedGroup();
    const old = { ...doc, taken_at: new Date(Date.now() - 2 * 3_600_000).toISOString() };
    expect((await assessRollback(deps, old, { force: false })).refused?.code).toBe('outside_window');
    const late = await assessRollback(deps, old, { force: false, inspectRefused: true });
    expect(late.refused?.code).toBe('outside_window');
    expect(late.current_state).not.toBeNull();
    expect((await assessRollback(deps, old, { force: false, ignoreWindow: true })).refused).toBeUndefined();
    const patch = { ...doc, handler: 'run-patch-baseline' as const, resource_id: 'i-0123456789abcdef0' };
    expect((await assessRollback(deps, patch, { force: true })).refused?.code).toBe('irreversible');
    const running = await assessRollback(deps, doc, { force: false, itemState: 'running' });
    expect(running.refused?.code).toBe('remediation_running');
  });
});
