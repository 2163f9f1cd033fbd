import { randomUUID } from 'node:crypto';
import { createRedis, type Finding, type RedisClient } from '@aegis/core';
import { getTestRedis, type TestRedis } from '@aegis/testkit';
import { LuaScript } from '../src/lua-script';
import type { ItemRecord, OutcomeRecord } from '../src/records';
import { StateStore } from '../src/state-store';

let tr: TestRedis;
let redis: RedisClient;
let store: StateStore;

beforeAll(async () => {
  tr = await getTestRedis();
  redis = createRedis({ url: tr.url }, 'worker');
  store = new StateStore(redis, tr.prefix);
});
afterAll(async () => {
  redis.disconnect();
  await tr.stop();
});

const B = 'batch-20261126-001';

function finding(id: string): Finding {
  return {
    id,
    handler: 'block-public-ssh',
    provider: 'aws',
    account_id: '123456789012',
    region: 'us-east-1',
    resource_id: 'sg-0123456789abcdef0',
    severity: 'high',
    title: 'open ssh',
    dependencies: [],
    status: 'remediating',
    created_at: '2026-11-26T00:00:00.000Z',
    updated_at: '2026-11-26T00:00:00.000Z',
  };
}

function item(id: string): ItemRecord {
  return {
    batch_id: B,
    finding_id: id,
    handler: 'block-public-ssh',
    tier: 'T1',
    resource_id: 'sg-0123456789abcdef0',
    account_id: '123456789012',
    region: 'us-east-1',
    state: 'queued',
    attempts: 0,
    enqueued_at: '2026-11-26T10:00:00.000Z',
  };
}

function outcome(id: string): OutcomeRecord {
  return {
    batch_id: B,
    finding_id: id,
    handler: 'block-public-ssh',
    tier: 'T1',
    status: 'succeeded',
    enqueued_at: '2026-11-26T10:00:00.000Z',
    finished_at: new Date().toISOString(),
    duration_s: 0.2,
    total_s: 1.5,
  };
}

describe('LuaScript', () => {
  it('runs a script the server has never seen (NOSCRIPT: sent once in full), then by its SHA alone', async () => {
    // A script no other test sends: the first call cannot find it cached.
    const s = new LuaScript(`-- ${randomUUID()}\nreturn {KEYS[1], ARGV[1], ARGV[2]}`);
    expect(await redis.script('EXISTS', s.sha)).toEqual([0]);
    expect(await s.run(redis, ['k'], ['a', 7])).toEqual(['k', 'a', '7']);
    expect(await redis.script('EXISTS', s.sha)).toEqual([1]);
    expect(await s.run(redis, ['k2'], ['b', 8])).toEqual(['k2', 'b', '8']);
  });

  it('passes a script error through (not mistaken for NOSCRIPT)', async () => {
    const s = new LuaScript(`-- ${randomUUID()}\nreturn redis.call('INCR', KEYS[1])`);
    await redis.set(`${tr.prefix}:text`, 'not a number');
    await expect(s.run(redis, [`${tr.prefix}:text`], [])).rejects.toThrow(/not an integer/);
  });
});

describe('StateStore item steps', () => {
  beforeEach(async () => {
    await store.upsertFindings([finding('f-1'), finding('f-2')]);
    await store.initItems(B, [item('f-1'), item('f-2')]);
    await redis.hset(store.keys.batchMeta(B), { status: 'running', executed: '1', executed_by: 'alice' });
  });

  it('reads an item, its batch, the emergency stop and an earlier snapshot number in one go', async () => {
    let ctx = await store.itemContext(B, 'f-1');
    expect(ctx.item?.state).toBe('queued');
    expect(ctx.planItem).toBeNull();
    expect(ctx.meta).toMatchObject({ status: 'running', executed: true, executed_by: 'alice' });
    expect(ctx.estop).toBeNull();
    expect(ctx.snapshotSeq).toBeNull();
    const seq = await store.snapshotSeq(B, 'f-1');
    await store.setEmergencyStop({ reason: 'drill', stopped_by: 'bob', stopped_at: new Date().toISOString() });
    ctx = await store.itemContext(B, 'f-1');
    expect(ctx.snapshotSeq).toBe(seq);
    expect(ctx.estop?.reason).toBe('drill');
    expect(await store.applyGates(B)).toEqual({ estop: true, batchStopped: false });
    await store.setEmergencyStop(null);
    await redis.hset(store.keys.batchMeta(B), 'status', 'stopped');
    expect(await store.applyGates(B)).toEqual({ estop: false, batchStopped: true });
  });

  it('finishes an item: state, counters, batch status and report outcome together, then the finding status', async () => {
    await store.transition(B, 'f-1', 'running', ['queued']);
    const r = await store.finish(
      item('f-1'),
      'succeeded',
      ['queued', 'running'],
      { snapshot_id: 'snap-001' },
      outcome('f-1'),
    );
    expect(r).toMatchObject({ applied: true, previous: 'running', batchStatus: 'running' });
    expect(r.finding).toMatchObject({ id: 'f-1', status: 'remediating' });
    expect((await store.getItem(B, 'f-1'))?.snapshot_id).toBe('snap-001');
    expect(await store.getCounts(B)).toMatchObject({ queued: 1, running: 0, succeeded: 1 });
    expect((await store.outcomesSince(0)).map((o) => o.finding_id)).toContain('f-1');
    await store.writeFindingStatus(r.finding, 'remediated', B);
    const f = await store.getFinding('f-1');
    expect(f).toMatchObject({ status: 'remediated', last_batch_id: B, dependencies: [] });
    expect(f?.updated_at).not.toBe('2026-11-26T00:00:00.000Z');

    // The last open item completes the batch.
    const last = await store.finish(item('f-2'), 'failed', ['queued', 'running'], {}, outcome('f-2'));
    expect(last.batchStatus).toBe('completed_with_failures');
  });

  it('changes nothing else when the item is no longer open (no second outcome)', async () => {
    await store.finish(item('f-1'), 'succeeded', ['queued', 'running'], {}, outcome('f-1'));
    const before = await redis.zcard(store.keys.outcomes());
    const again = await store.finish(item('f-1'), 'failed', ['queued', 'running'], {}, outcome('f-1'));
    expect(again).toMatchObject({ applied: false, previous: 'succeeded', finding: null });
    expect(await redis.zcard(store.keys.outcomes())).toBe(before);
    expect((await store.getItem(B, 'f-1'))?.state).toBe('succeeded');
  });

  it('records the outcome even when the finding was deleted meanwhile', async () => {
    await redis.del(store.keys.finding('f-2'));
    const r = await store.finish(item('f-2'), 'noop', ['queued', 'running'], {}, outcome('f-2'));
    expect(r).toMatchObject({ applied: true, finding: null });
    await store.writeFindingStatus(r.finding, 'remediated', B);
    expect(await store.getFinding('f-2')).toBeNull();
  });
});
