import { randomBytes } from 'node:crypto';
import { CommonEnv } from '../../packages/core/src/config';
import type { Finding } from '../../packages/core/src/schemas';
import { createQueues } from '../../packages/dispatch/src/queues';
import type { PlanItem } from '../../packages/dispatch/src/records';
import { createRuntime } from '../../packages/dispatch/src/runtime';
import { RemediationService } from '../../services/api-gateway/src/remediation-service';
import { rssBytes } from '../lib/proc';
import { ACCOUNT, REGION, dropGroups, seedOpenSshGroups } from '../lib/sandbox';
import { PREFIX, keys, planBatch, redisUsedMemory, type BenchStack } from '../lib/stack';
import { round } from '../lib/stats';
import type { Sizes } from '../lib/config';

export interface MemoryPoint {
  queued: number;
  /** Findings plus the dry run's plan items, bytes per item. */
  redis_bytes_per_planned_item: number;
  /** What execute adds: item records, counters and the BullMQ jobs, bytes per item. */
  redis_bytes_per_queued_item: number;
  enqueue_s: number;
  enqueue_items_per_s: number;
  gateway_rss_mib: number;
  worker_t1_rss_mib: number;
  /** GET /remediations/:id through the gateway when the items are one batch (at most 10,000), ms. */
  status_get_ms: number | null;
}

export interface MemoryResult {
  idle: { gateway_rss_mib: number; worker_t1_rss_mib: number };
  points: MemoryPoint[];
}

/** The gateway's cap on one batch (AEGIS_MAX_BATCH_ITEMS default, RemediationRequest.finding_ids). */
const MAX_API_BATCH = 10_000;

const mib = (b: number | null) => round((b ?? 0) / 2 ** 20, 1);

/**
 * Redis bytes and process RSS with many items waiting: the T1 queue is paused, the items are
 * planned from a real dry-run item and enqueued by the gateway's own execute (RemediationService,
 * run in this process against the stack's Redis, in batches of at most 10,000 as the API caps them:
 * dry runs of 100,000 findings through the API would inspect 100,000 resources first).
 */
export async function runMemory(bs: BenchStack, sizes: Sizes, say: (m: string) => void): Promise<MemoryResult> {
  const env = CommonEnv.parse({ REDIS_URL: bs.stack.redisUrl, LOG_LEVEL: 'warn', AEGIS_QUEUE_PREFIX: PREFIX });
  const rt = createRuntime('bench-enqueue', env, 'producer');
  const queues = createQueues(rt.bullConnection, PREFIX);
  const svc = new RemediationService(rt, queues, {
    planTtlMs: 86_400_000,
    productionAccounts: new Set(),
    changeTicketPattern: /^.*$/,
    maxBatchItems: Number.MAX_SAFE_INTEGER,
  });
  const sg = seedOpenSshGroups(bs.sandbox, 1);
  const pids = { gateway: bs.pidOf('api-gateway'), t1: bs.pidOf('worker-t1') };
  const rss = async () => {
    // Let the gateway build what a scrape builds (queue depth per tier and state) before reading its RSS.
    await fetch(`${bs.stack.apiUrl}/metrics`).then((r) => r.arrayBuffer());
    return { gateway_rss_mib: mib(rssBytes(pids.gateway ?? 0)), worker_t1_rss_mib: mib(rssBytes(pids.t1 ?? 0)) };
  };
  try {
    const real = await planBatch(bs, 'memtpl', sg);
    const template = (await rt.store.getPlanItems(real.batchId))[0];
    if (!template) throw new Error('memory: the template dry run has no item');
    const tplJson = JSON.stringify(template);
    await queues.tiers.T1.pause();
    const idle = await rss();
    const points: MemoryPoint[] = [];
    for (const n of [sizes.memSmall, sizes.memLarge]) {
      const tag = `mem${n}`;
      const now = new Date().toISOString();
      const items: PlanItem[] = [];
      const findings: Finding[] = [];
      for (let i = 0; i < n; i++) {
        const id = `${tag}-${i}`;
        const res = `sg-${randomBytes(9).toString('hex').slice(0, 17)}`;
        items.push({
          ...(JSON.parse(tplJson.replaceAll(template.resource_id, res)) as PlanItem),
          finding_id: id,
        });
        findings.push({
          id,
          handler: 'block-public-ssh',
          provider: 'aws',
          account_id: ACCOUNT,
          region: REGION,
          resource_id: res,
          severity: 'medium',
          title: '',
          dependencies: [],
          status: 'open',
          created_at: now,
          updated_at: now,
        });
      }
      const m0 = await redisUsedMemory(bs.redis);
      for (let i = 0; i < n; i += 5000) await rt.store.upsertFindings(findings.slice(i, i + 5000));
      // As the API allows them: batches of at most 10,000 findings, each planned, then executed.
      const batches: { id: string; findingIds: string[] }[] = [];
      for (let i = 0; i < n; i += MAX_API_BATCH) {
        const id = await rt.store.nextBatchId(new Date());
        const findingIds = findings.slice(i, i + MAX_API_BATCH).map((f) => f.id);
        await rt.store.createPlannedBatch(
          { batch_id: id, created_at: now, finding_ids: findingIds, estimated_duration_s: 0, requested_by: 'bench' },
          items.slice(i, i + MAX_API_BATCH),
        );
        batches.push({ id, findingIds });
      }
      const m1 = await redisUsedMemory(bs.redis);
      const t0 = performance.now();
      for (const b of batches) await svc.execute({ batch_id: b.id, finding_ids: b.findingIds }, 'bench');
      const enqueueS = (performance.now() - t0) / 1000;
      const m2 = await redisUsedMemory(bs.redis);
      const rssNow = await rss();
      let statusMs: number | null = null;
      const first = batches[0];
      if (first && batches.length === 1) {
        const t1 = performance.now();
        const r = await fetch(`${bs.stack.apiUrl}/api/v1/remediations/${first.id}`, {
          headers: { authorization: `Bearer ${bs.stack.token}` },
          signal: AbortSignal.timeout(300_000),
        });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`memory: GET status answered ${r.status}`);
        statusMs = Math.round(performance.now() - t1);
      }
      const p: MemoryPoint = {
        queued: n,
        redis_bytes_per_planned_item: Math.round((m1 - m0) / n),
        redis_bytes_per_queued_item: Math.round((m2 - m1) / n),
        enqueue_s: round(enqueueS, 2),
        enqueue_items_per_s: Math.round(n / enqueueS),
        ...rssNow,
        status_get_ms: statusMs,
      };
      say(
        `memory: ${n} queued: ${p.redis_bytes_per_queued_item} B/item in Redis, enqueued in ${p.enqueue_s} s; gateway ${p.gateway_rss_mib} MiB, T1 worker ${p.worker_t1_rss_mib} MiB${statusMs === null ? '' : `; GET status ${statusMs} ms`}`,
      );
      points.push(p);
      // Take the items away again (never run): jobs, batch records and findings.
      await queues.tiers.T1.drain();
      for (const b of batches)
        await rt.redis.del(
          keys.batchPlan(b.id),
          keys.batchPlanItems(b.id),
          keys.batchItems(b.id),
          keys.batchCounts(b.id),
          keys.batchMeta(b.id),
        );
      for (let i = 0; i < n; i += 5000)
        await rt.redis.del(...findings.slice(i, i + 5000).map((f) => keys.finding(f.id)));
    }
    return { idle, points };
  } finally {
    await queues.tiers.T1.resume();
    dropGroups(bs.sandbox, sg);
    await queues.close();
    await rt.close();
  }
}
