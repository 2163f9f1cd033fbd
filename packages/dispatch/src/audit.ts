import type { RedisClient } from '@aegis/core';
import { z } from 'zod';

export const AUDIT_ACTIONS = [
  'dry_run',
  'execute',
  'single_dry_run',
  'single_execute',
  'rollback_dry_run',
  'rollback',
  'emergency_stop',
  'resume',
  'batch_completed',
  'rollback_completed',
] as const;

/** One audit record: who (a token's name, never the token), when, what, and how it ended. */
export const AuditEntry = z.object({
  id: z.string().describe('Redis stream id: time-ordered, also the paging cursor'),
  at: z.iso.datetime(),
  actor: z.string().describe('the token name of the caller; `system` for outcomes the dispatcher records'),
  action: z.enum(AUDIT_ACTIONS),
  batch_id: z.string().nullable(),
  finding_ids: z.array(z.string()),
  snapshot_id: z.string().nullable(),
  change_ticket: z.string().nullable(),
  outcome: z.string().describe('`accepted`, `planned`, a batch or rollback final status, or the refusal code'),
  http_status: z.number().int().nullable(),
  detail: z.string().nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;
export type AuditInput = Omit<
  AuditEntry,
  'id' | 'at' | 'batch_id' | 'finding_ids' | 'snapshot_id' | 'change_ticket' | 'http_status' | 'detail'
> &
  Partial<Pick<AuditEntry, 'batch_id' | 'finding_ids' | 'snapshot_id' | 'change_ticket' | 'http_status' | 'detail'>>;

export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
}

/**
 * The audit trail: an append-only Redis stream (`<prefix>:audit`, XADD), trimmed only by age
 * (MINID, never below the retention, at least 400 days). Redis with AOF makes it durable.
 */
export class AuditLog {
  readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = `${prefix}:audit`;
  }

  async record(input: AuditInput): Promise<string> {
    const at = this.now();
    const entry: Omit<AuditEntry, 'id'> = {
      at: new Date(at).toISOString(),
      actor: input.actor,
      action: input.action,
      batch_id: input.batch_id ?? null,
      finding_ids: input.finding_ids ?? [],
      snapshot_id: input.snapshot_id ?? null,
      change_ticket: input.change_ticket ?? null,
      outcome: input.outcome,
      http_status: input.http_status ?? null,
      detail: input.detail ?? null,
    };
    const id = await this.redis.xadd(
      this.key,
      'MINID',
      '~',
      String(Math.max(0, at - this.retentionMs)),
      '*',
      'entry',
      JSON.stringify(entry),
    );
    return id ?? '';
  }

  /** Oldest first from `since` (or after `cursor`), optionally one batch's entries only. */
  async page(q: { since?: Date; batchId?: string; limit: number; cursor?: string }): Promise<AuditPage> {
    let start = q.cursor ? `(${q.cursor}` : q.since ? `${q.since.getTime()}-0` : '-';
    const entries: AuditEntry[] = [];
    const chunk = Math.max(q.limit, 100);
    for (;;) {
      const rows = await this.redis.xrange(this.key, start, '+', 'COUNT', chunk);
      for (const [id, fields] of rows) {
        const raw = fields[fields.indexOf('entry') + 1];
        if (raw === undefined) continue;
        const e = { id, ...(JSON.parse(raw) as Omit<AuditEntry, 'id'>) };
        if (q.batchId && e.batch_id !== q.batchId) continue;
        entries.push(e);
        if (entries.length === q.limit) {
          const more = (await this.redis.xrange(this.key, `(${id}`, '+', 'COUNT', 1)).length > 0;
          return { entries, next_cursor: more ? id : null };
        }
      }
      const last = rows[rows.length - 1];
      if (rows.length < chunk || !last) return { entries, next_cursor: null };
      start = `(${last[0]}`;
    }
  }
}
