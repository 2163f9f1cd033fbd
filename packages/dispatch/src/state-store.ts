import type { Finding, FindingStatus, ItemState, RedisClient, RollbackState } from '@aegis/core';
import { Finding as FindingSchema, TERMINAL_ITEM_STATES, formatBatchId } from '@aegis/core';
import { Keys } from './keys';
import { FINISH_LUA, SNAPSHOT_ID_LUA, STOP_BATCH_LUA, TRANSITION_LUA } from './lua';
import { LuaScript } from './lua-script';
import type { BatchHeader, BatchMeta, ItemCounts, ItemRecord, OutcomeRecord, PlanItem } from './records';
import { ItemRecord as ItemRecordSchema, PlanItem as PlanItemSchema } from './records';

const OUTCOME_RETENTION_MS = 31 * 86_400_000;
const TRANSITION = new LuaScript(TRANSITION_LUA);
const FINISH = new LuaScript(FINISH_LUA);
const STOP_BATCH = new LuaScript(STOP_BATCH_LUA);
const SNAPSHOT_ID = new LuaScript(SNAPSHOT_ID_LUA);
const ZERO_COUNTS: ItemCounts = { queued: 0, running: 0, succeeded: 0, noop: 0, failed: 0, timed_out: 0, cancelled: 0 };

export interface TransitionResult {
  applied: boolean;
  previous: string;
  batchStatus: string;
}

/** What a worker reads before it works on an item, in one round trip (StateStore.itemContext). */
export interface ItemContext {
  item: ItemRecord | null;
  planItem: PlanItem | null;
  meta: BatchMeta | null;
  estop: EmergencyStop | null;
  /** The snapshot sequence an earlier attempt of the item allocated (null: none yet). */
  snapshotSeq: number | null;
}

export interface FinishResult extends TransitionResult {
  /** The finding as stored when the move applied (null: it did not, or the finding is gone). */
  finding: Finding | null;
}

export interface EmergencyStop {
  reason: string;
  stopped_by: string;
  stopped_at: string;
}

/**
 * The dispatcher's records in Redis: findings, batches (plan, items, counters, status), snapshot
 * ids, report outcomes and the emergency-stop flag. State changes of items go through one Lua
 * script so counters and the batch status never disagree with the items.
 */
export class StateStore {
  readonly keys: Keys;

  constructor(
    readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  // --- findings

  async upsertFindings(findings: Finding[]): Promise<void> {
    if (!findings.length) return;
    const m = this.redis.multi();
    for (const f of findings) m.set(this.keys.finding(f.id), JSON.stringify(f));
    await m.exec();
  }

  async getFinding(id: string): Promise<Finding | null> {
    const raw = await this.redis.get(this.keys.finding(id));
    return raw ? FindingSchema.parse(JSON.parse(raw)) : null;
  }

  async getFindings(ids: string[]): Promise<(Finding | null)[]> {
    if (!ids.length) return [];
    const raws = await this.redis.mget(...ids.map((id) => this.keys.finding(id)));
    return raws.map((r) => (r ? FindingSchema.parse(JSON.parse(r)) : null));
  }

  async setFindingStatus(id: string, status: FindingStatus, batchId?: string): Promise<void> {
    await this.writeFindingStatus(await this.getFinding(id), status, batchId);
  }

  /** A finding already read (null: gone) stored again with a new status, time and, if given, batch. */
  async writeFindingStatus(finding: Finding | null, status: FindingStatus, batchId?: string): Promise<void> {
    if (!finding) return;
    const next: Finding = { ...finding, status, updated_at: new Date().toISOString() };
    if (batchId) next.last_batch_id = batchId;
    await this.redis.set(this.keys.finding(finding.id), JSON.stringify(next));
  }

  // --- batches

  async nextBatchId(now: Date): Promise<string> {
    const day = now.toISOString().slice(0, 10).replace(/-/g, '');
    const n = await this.redis.incr(this.keys.batchSeq(day));
    await this.redis.expire(this.keys.batchSeq(day), 3 * 86_400);
    return formatBatchId(now, n);
  }

  async createPlannedBatch(header: BatchHeader, items: PlanItem[]): Promise<void> {
    const id = header.batch_id;
    const m = this.redis.multi();
    m.set(this.keys.batchPlan(id), JSON.stringify(header));
    for (let i = 0; i < items.length; i += 500) {
      const chunk = items.slice(i, i + 500);
      m.hset(this.keys.batchPlanItems(id), Object.fromEntries(chunk.map((it) => [it.finding_id, JSON.stringify(it)])));
    }
    m.hset(this.keys.batchMeta(id), { status: 'planned', executed: '0', rollback_status: 'none' });
    m.zadd(this.keys.batches(), Date.parse(header.created_at), id);
    await m.exec();
  }

  async getHeader(batchId: string): Promise<BatchHeader | null> {
    const raw = await this.redis.get(this.keys.batchPlan(batchId));
    return raw ? (JSON.parse(raw) as BatchHeader) : null;
  }

  async getPlanItems(batchId: string): Promise<PlanItem[]> {
    const all = await this.redis.hgetall(this.keys.batchPlanItems(batchId));
    return Object.values(all).map((r) => PlanItemSchema.parse(JSON.parse(r)));
  }

  async getMeta(batchId: string): Promise<BatchMeta | null> {
    return parseMeta(await this.redis.hgetall(this.keys.batchMeta(batchId)));
  }

  /** Claim the one execution of a planned batch; false when it was executed already. */
  async claimExecution(
    batchId: string,
    fields: { started_at: string; executed_by: string; change_ticket?: string | undefined },
  ): Promise<boolean> {
    const won = await this.redis.hsetnx(this.keys.batchMeta(batchId), 'executed_claim', fields.started_at);
    if (!won) return false;
    const h: Record<string, string> = {
      executed: '1',
      status: 'running',
      started_at: fields.started_at,
      executed_by: fields.executed_by,
    };
    if (fields.change_ticket) h.change_ticket = fields.change_ticket;
    await this.redis.hset(this.keys.batchMeta(batchId), h);
    return true;
  }

  /** Items of an executed batch, all `queued`, written before any job is enqueued. */
  async initItems(batchId: string, items: ItemRecord[]): Promise<void> {
    const m = this.redis.multi();
    for (let i = 0; i < items.length; i += 500) {
      const chunk = items.slice(i, i + 500);
      m.hset(this.keys.batchItems(batchId), Object.fromEntries(chunk.map((it) => [it.finding_id, JSON.stringify(it)])));
    }
    m.hset(this.keys.batchCounts(batchId), { ...ZERO_COUNTS, queued: items.length });
    await m.exec();
  }

  async getItem(batchId: string, findingId: string): Promise<ItemRecord | null> {
    const raw = await this.redis.hget(this.keys.batchItems(batchId), findingId);
    return raw ? ItemRecordSchema.parse(JSON.parse(raw)) : null;
  }

  async getItems(batchId: string): Promise<ItemRecord[]> {
    const all = await this.redis.hgetall(this.keys.batchItems(batchId));
    return Object.values(all).map((r) => ItemRecordSchema.parse(JSON.parse(r)));
  }

  async getCounts(batchId: string): Promise<ItemCounts> {
    const h = await this.redis.hgetall(this.keys.batchCounts(batchId));
    const out = { ...ZERO_COUNTS };
    for (const k of Object.keys(out) as (keyof ItemCounts)[]) out[k] = Number(h[k] ?? 0);
    return out;
  }

  /** Move an item to `to` if it is in one of `from`, updating counters and the batch status atomically. */
  async transition(
    batchId: string,
    findingId: string,
    to: ItemState,
    from: readonly ItemState[],
    patch: Partial<ItemRecord> = {},
  ): Promise<TransitionResult> {
    const r = (await TRANSITION.run(
      this.redis,
      [this.keys.batchItems(batchId), this.keys.batchCounts(batchId), this.keys.batchMeta(batchId)],
      [findingId, to, JSON.stringify(patch), from.join(','), new Date().toISOString()],
    )) as [number, string, string];
    return { applied: r[0] === 1, previous: r[1], batchStatus: r[2] };
  }

  /**
   * An item's move to a final state with its report outcome, in one script: the outcome exists
   * exactly when the move applied. Returns the finding as stored (for `writeFindingStatus`, no second read).
   */
  async finish(
    item: Pick<ItemRecord, 'batch_id' | 'finding_id'>,
    to: ItemState,
    from: readonly ItemState[],
    patch: Partial<ItemRecord>,
    outcome: OutcomeRecord,
  ): Promise<FinishResult> {
    const { batch_id: batchId, finding_id: findingId } = item;
    const at = Date.parse(outcome.finished_at);
    const r = (await FINISH.run(
      this.redis,
      [
        this.keys.batchItems(batchId),
        this.keys.batchCounts(batchId),
        this.keys.batchMeta(batchId),
        this.keys.outcomes(),
        this.keys.finding(findingId),
      ],
      [
        findingId,
        to,
        JSON.stringify(patch),
        from.join(','),
        new Date().toISOString(),
        at,
        JSON.stringify(outcome),
        at - OUTCOME_RETENTION_MS,
      ],
    )) as [number, string, string, string | null | undefined];
    // The finding was validated when it was stored: read back as it is, for its status to change.
    const finding = r[3] ? (JSON.parse(r[3]) as Finding) : null;
    return { applied: r[0] === 1, previous: r[1], batchStatus: r[2], finding };
  }

  /**
   * Everything a worker needs before it starts an item, in one round trip: the item, its plan
   * item, the batch's meta, the emergency stop and an earlier attempt's snapshot number.
   */
  async itemContext(batchId: string, findingId: string): Promise<ItemContext> {
    const [item, planItem, meta, estop, snap] = replies(
      await this.redis
        .pipeline()
        .hget(this.keys.batchItems(batchId), findingId)
        .hget(this.keys.batchPlanItems(batchId), findingId)
        .hgetall(this.keys.batchMeta(batchId))
        .get(this.keys.estop())
        .hget(this.keys.batchSnaps(batchId), findingId)
        .exec(),
    ) as [string | null, string | null, Record<string, string>, string | null, string | null];
    return {
      item: item ? ItemRecordSchema.parse(JSON.parse(item)) : null,
      planItem: planItem ? PlanItemSchema.parse(JSON.parse(planItem)) : null,
      meta: parseMeta(meta),
      estop: estop ? (JSON.parse(estop) as EmergencyStop) : null,
      snapshotSeq: snap === null ? null : Number(snap),
    };
  }

  /** The two gates checked right before a change, in one round trip: the emergency stop and a stopped batch. */
  async applyGates(batchId: string): Promise<{ estop: boolean; batchStopped: boolean }> {
    const [estop, status] = replies(
      await this.redis.pipeline().exists(this.keys.estop()).hget(this.keys.batchMeta(batchId), 'status').exec(),
    ) as [number, string | null];
    return { estop: estop === 1, batchStopped: status === 'stopped' };
  }

  /** Stop a running batch: returns the finding ids whose queued items were cancelled. */
  async stopBatch(batchId: string, reason: string, figures: object): Promise<string[]> {
    return (await STOP_BATCH.run(
      this.redis,
      [this.keys.batchItems(batchId), this.keys.batchCounts(batchId), this.keys.batchMeta(batchId)],
      [reason, new Date().toISOString(), JSON.stringify(figures)],
    )) as string[];
  }

  async setRollbackStatus(batchId: string, status: RollbackState): Promise<void> {
    await this.redis.hset(this.keys.batchMeta(batchId), 'rollback_status', status);
  }

  // --- snapshots

  async snapshotSeq(batchId: string, findingId: string): Promise<number> {
    return Number(
      await SNAPSHOT_ID.run(this.redis, [this.keys.batchSnaps(batchId), this.keys.batchSnapSeq(batchId)], [findingId]),
    );
  }

  // --- report outcomes

  async recordOutcome(o: OutcomeRecord): Promise<void> {
    const at = Date.parse(o.finished_at);
    const m = this.redis.multi();
    m.zadd(this.keys.outcomes(), at, JSON.stringify(o));
    m.zremrangebyscore(this.keys.outcomes(), 0, at - OUTCOME_RETENTION_MS);
    await m.exec();
  }

  async outcomesSince(sinceMs: number): Promise<OutcomeRecord[]> {
    const raws = await this.redis.zrangebyscore(this.keys.outcomes(), sinceMs, '+inf');
    return raws.map((r) => JSON.parse(r) as OutcomeRecord);
  }

  // --- emergency stop

  async getEmergencyStop(): Promise<EmergencyStop | null> {
    const raw = await this.redis.get(this.keys.estop());
    return raw ? (JSON.parse(raw) as EmergencyStop) : null;
  }

  async setEmergencyStop(stop: EmergencyStop | null): Promise<void> {
    if (stop) await this.redis.set(this.keys.estop(), JSON.stringify(stop));
    else await this.redis.del(this.keys.estop());
    await this.redis.publish(
      this.keys.control(),
      JSON.stringify({ type: stop ? 'stop' : 'resume', at: new Date().toISOString() }),
    );
  }
}

export const TERMINAL: readonly ItemState[] = TERMINAL_ITEM_STATES;

function parseMeta(h: Record<string, string>): BatchMeta | null {
  if (!h.status) return null;
  return {
    status: h.status as BatchMeta['status'],
    executed: h.executed === '1',
    started_at: h.started_at,
    finished_at: h.finished_at,
    stop_reason: h.stop_reason,
    stop_figures: h.stop_figures ? JSON.parse(h.stop_figures) : undefined,
    change_ticket: h.change_ticket,
    executed_by: h.executed_by,
    rollback_status: (h.rollback_status ?? 'none') as RollbackState,
  };
}

/** The replies of a pipeline, its first error thrown. */
function replies(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('Redis pipeline returned nothing (connection lost)');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
