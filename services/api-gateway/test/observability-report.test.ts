import { createRedis, type ItemState, type RedisClient } from '@aegis/core';
import { StateStore, type OutcomeRecord } from '@aegis/dispatch';
import { getTestRedis, type TestRedis } from '@aegis/testkit';
import { buildReport } from '../src/report';

/*
 * The report's figures from outcome records written as the workers write them (StateStore on a
 * real Redis). The T1 SLA counts from enqueue, so an item that waited 400 s in the queue misses it
 * even though it ran for 3 s — a case the live stack cannot produce without waiting 5 minutes.
 */

const MIN = 60_000;
const DAY = 86_400_000;

describe('report figures (buildReport)', () => {
  let redis: TestRedis;
  let client: RedisClient;
  let store: StateStore;
  let emptyStore: StateStore;

  function outcome(
    id: string,
    handler: string,
    tier: string,
    status: ItemState,
    o: { agoMs: number; total_s: number; duration_s: number },
  ): OutcomeRecord {
    const finished = Date.now() - o.agoMs;
    return {
      batch_id: 'batch-20260226-001',
      finding_id: id,
      handler,
      tier,
      status,
      ...(status === 'failed' ? { error: 'AccessDenied' } : {}),
      enqueued_at: new Date(finished - o.total_s * 1000).toISOString(),
      finished_at: new Date(finished).toISOString(),
      duration_s: o.duration_s,
      total_s: o.total_s,
    };
  }

  beforeAll(async () => {
    redis = await getTestRedis();
    client = createRedis({ url: redis.url, cluster: false }, 'worker');
    store = new StateStore(client, redis.prefix);
    emptyStore = new StateStore(client, `${redis.prefix}-empty`);
    const recent = 10 * MIN;
    for (const o of [
      outcome('a', 'block-public-ssh', 'T1', 'succeeded', { agoMs: recent, total_s: 40, duration_s: 2 }),
      // Ran 3 s but waited in the queue: 400 s from enqueue, over the 300 s SLA.
      outcome('b', 'block-public-ssh', 'T1', 'succeeded', { agoMs: recent, total_s: 400, duration_s: 3 }),
      outcome('c', 's3-block-public-access', 'T1', 'failed', { agoMs: recent, total_s: 10, duration_s: 1 }),
      outcome('d', 's3-block-public-access', 'T1', 'noop', { agoMs: recent, total_s: 5, duration_s: 0.5 }),
      outcome('j', 's3-block-public-access', 'T1', 'succeeded', { agoMs: recent, total_s: 300, duration_s: 4 }),
      outcome('f', 'block-public-ssh', 'T1', 'cancelled', { agoMs: recent, total_s: 50, duration_s: 0 }),
      outcome('e', 'enforce-imdsv2', 'T2', 'succeeded', { agoMs: 2 * MIN, total_s: 900, duration_s: 20 }),
      outcome('g', 'rotate-iam-keys', 'T3', 'timed_out', { agoMs: recent, total_s: 650, duration_s: 600 }),
      outcome('h', 'block-public-ssh', 'T1', 'failed', { agoMs: 2.5 * DAY, total_s: 30, duration_s: 1 }),
      outcome('i', 'enable-guardduty', 'T2', 'succeeded', { agoMs: 10 * DAY, total_s: 60, duration_s: 5 }),
    ])
      await store.recordOutcome(o);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('counts successes (noop included) over finished items, cancelled ones apart', async () => {
    expect(await buildReport(store, '1h')).toEqual({
      period: '1h',
      total: 7,
      succeeded: 5,
      failed: 2,
      cancelled: 1,
      success_rate: 0.7143,
      avg_duration_s: 90.071,
      // T1 items a, b, c, d, j: a, d and j (exactly 300 s) within the SLA; b waited too long; c failed.
      sla_compliance_pct: 60,
      sla_items: 5,
      sla_target_s: 300,
    });
  });

  it('filters by period', async () => {
    expect(await buildReport(store, '7d')).toMatchObject({
      total: 8,
      succeeded: 5,
      failed: 3,
      success_rate: 0.625,
      sla_compliance_pct: 50,
      sla_items: 6,
    });
    expect(await buildReport(store, '30d')).toMatchObject({ total: 9, succeeded: 6, success_rate: 0.6667 });
    // Only the T2 item finished in the last 5 minutes: no T1 item, so nothing missed the SLA.
    expect(await buildReport(store, '5m')).toMatchObject({
      total: 1,
      success_rate: 1,
      sla_compliance_pct: 100,
      sla_items: 0,
    });
    expect(await buildReport(emptyStore, '7d')).toMatchObject({
      total: 0,
      success_rate: 0,
      avg_duration_s: 0,
      sla_compliance_pct: 100,
    });
  });

  it('groups by handler and by tier, sorted by name', async () => {
    expect(await buildReport(store, '7d', 'handler')).toEqual([
      {
        handler: 'block-public-ssh',
        total: 3,
        succeeded: 2,
        failed: 1,
        cancelled: 1,
        success_rate: 0.6667,
        avg_duration_s: 2,
      },
      {
        handler: 'enforce-imdsv2',
        total: 1,
        succeeded: 1,
        failed: 0,
        cancelled: 0,
        success_rate: 1,
        avg_duration_s: 20,
      },
      {
        handler: 'rotate-iam-keys',
        total: 1,
        succeeded: 0,
        failed: 1,
        cancelled: 0,
        success_rate: 0,
        avg_duration_s: 600,
      },
      {
        handler: 's3-block-public-access',
        total: 3,
        succeeded: 2,
        failed: 1,
        cancelled: 0,
        success_rate: 0.6667,
        avg_duration_s: 1.833,
      },
    ]);
    expect(await buildReport(store, '7d', 'tier')).toEqual([
      { tier: 'T1', total: 6, succeeded: 4, failed: 2, cancelled: 1, success_rate: 0.6667, avg_duration_s: 1.917 },
      { tier: 'T2', total: 1, succeeded: 1, failed: 0, cancelled: 0, success_rate: 1, avg_duration_s: 20 },
      { tier: 'T3', total: 1, succeeded: 0, failed: 1, cancelled: 0, success_rate: 0, avg_duration_s: 600 },
    ]);
  });
});
