import { Router } from 'express';
import { BatchId } from '@aegis/core';
import {
  assessRollback,
  claimRollbacks,
  expiresAt,
  failOpenRollback,
  getRollbackRecords,
  mapLimit,
  type DispatchQueues,
  type RollbackAssessment,
  type RollbackRecord,
  type Runtime,
  type SnapshotClient,
  type SnapshotDoc,
} from '@aegis/dispatch';
import { RollbackRequest } from '../api-schemas';
import { principalOf, requireScope, type TokenStore } from '../auth';
import { jsonBody } from '../body';
import { ApiError, parseOr400 } from '../http-errors';

/** Live reads of one rollback request at a time (a whole-batch dry run must not burst the cloud API). */
const INSPECT_PARALLEL = 8;

/** Newest first: a whole-batch rollback undoes the changes in reverse order of application. */
const newestFirst = (a: SnapshotDoc, b: SnapshotDoc) =>
  b.taken_at.localeCompare(a.taken_at) || Number(b.snapshot_id.slice(5)) - Number(a.snapshot_id.slice(5));

const refusalOf = (a: RollbackAssessment, refused: { code: string; message: string }) => ({
  snapshot_id: a.snapshot_id,
  resource_id: a.resource_id,
  handler: a.handler,
  ...refused,
});

export function rollbackRoutes(
  rt: Runtime,
  tokens: TokenStore,
  queues: DispatchQueues,
  snapshots: SnapshotClient,
): Router {
  const r = Router();
  const deps = {
    registry: rt.registry,
    clients: rt.clients,
    settings: rt.settings,
    windowMs: rt.env.AEGIS_ROLLBACK_WINDOW,
  };

  async function batchSnapshots(batchId: string) {
    if (!(await rt.store.getHeader(batchId))) throw new ApiError(404, 'unknown_batch', `no batch ${batchId}`);
    try {
      return await snapshots.list(batchId);
    } catch (err) {
      throw new ApiError(503, 'snapshot_service_unavailable', (err as Error).message);
    }
  }

  r.get('/remediations/:batch_id/snapshots', requireScope(tokens, 'remediation:read'), async (req, res) => {
    const id = parseOr400(BatchId, req.params.batch_id, 'batch id');
    const docs = await batchSnapshots(id);
    res.json(
      docs.map((d) => ({
        snapshot_id: d.snapshot_id,
        resource_id: d.resource_id,
        handler: d.handler,
        taken_at: d.taken_at,
        finding_id: d.finding_id,
        expires_at: expiresAt(d, deps.windowMs),
      })),
    );
  });

  r.post(
    '/remediations/:batch_id/rollback',
    requireScope(tokens, 'remediation:rollback'),
    ...jsonBody(),
    async (req, res) => {
      const id = parseOr400(BatchId, req.params.batch_id, 'batch id');
      const body = parseOr400(RollbackRequest, req.body ?? {});
      const all = await batchSnapshots(id);
      let docs = all;
      if (body.snapshot_id) {
        docs = all.filter((d) => d.snapshot_id === body.snapshot_id);
        if (!docs.length) throw new ApiError(404, 'unknown_snapshot', `no snapshot ${body.snapshot_id} in ${id}`);
      }
      if (!docs.length)
        throw new ApiError(409, 'nothing_to_roll_back', `batch ${id} has no snapshots (nothing was changed)`);
      docs = [...docs].sort(newestFirst);
      const existing = new Map((await getRollbackRecords(rt.store, id)).map((x) => [x.snapshot_id, x]));
      const items = new Map((await rt.store.getItems(id)).map((i) => [i.finding_id, i.state]));
      const force = body.force ?? false;
      const assessed = await mapLimit(docs, INSPECT_PARALLEL, (d) =>
        assessRollback(deps, d, {
          force,
          existing: existing.get(d.snapshot_id) ?? null,
          itemState: items.get(d.finding_id) ?? null,
          inspectRefused: body.dry_run,
        }),
      );
      if (body.dry_run) return void res.json({ batch_id: id, dry_run: true, force, rollbacks: assessed });

      const who = principalOf(res).name;
      const now = new Date().toISOString();
      const accepted = assessed.filter((a) => !a.refused);
      const refused = assessed.flatMap((a) => (a.refused ? [refusalOf(a, a.refused)] : []));
      // The batch is `rolled_back` once every snapshot that can be rolled back at all is (irreversible ones never count).
      const scope = all.filter((d) => rt.registry.get(d.handler).rollback.reversible).length;
      const records: RollbackRecord[] = accepted.map((a) => ({
        snapshot_id: a.snapshot_id,
        finding_id: a.finding_id,
        handler: a.handler,
        resource_id: a.resource_id,
        state: 'queued',
        requested_at: now,
        requested_by: who,
        force,
      }));
      const lost = new Set(records.length ? await claimRollbacks(rt.store, id, records, scope) : []);
      // A concurrent request claimed these between our read and our claim.
      for (const a of accepted.filter((x) => lost.has(x.snapshot_id)))
        refused.push(
          refusalOf(a, { code: 'rollback_running', message: `another request rolls ${a.snapshot_id} back already` }),
        );
      const queued = accepted.filter((a) => !lost.has(a.snapshot_id));
      for (const x of refused) {
        rt.metrics.rollbacks.inc({ handler: x.handler, status: 'refused' });
        rt.log.warn(
          {
            batch_id: id,
            finding_id: assessed.find((a) => a.snapshot_id === x.snapshot_id)?.finding_id,
            handler: x.handler,
            resource_id: x.resource_id,
            snapshot_id: x.snapshot_id,
            action: 'rollback',
            status: 'refused',
            error: x.code,
            message: x.message,
            requested_by: who,
          },
          `rollback refused: ${x.code}`,
        );
      }
      if (!queued.length)
        throw new ApiError(
          409,
          'rollback_refused',
          `nothing to roll back: ${refused.map((x) => `${x.snapshot_id}: ${x.message}`).join('; ')}`,
          { refused },
        );
      const jobs = queues.rollbacks.addBulk(
        queued.map((a) => ({
          name: 'rollback',
          data: { batch_id: id, snapshot_id: a.snapshot_id, force, requested_by: who },
          opts: {
            jobId: `${id}__${a.snapshot_id}__${Date.now()}`,
            attempts: 3,
            backoff: { type: 'exponential', delay: 2000 },
            removeOnComplete: { age: 7 * 86400 },
            removeOnFail: { age: 30 * 86400 },
          },
        })),
      );
      await jobs.catch(async (err: unknown) => {
        // Not queued: the claimed records must not stay `queued` (and block a retry) for ever.
        for (const a of queued)
          await failOpenRollback(rt, id, a.snapshot_id, 'rollback_not_queued', (err as Error).message).catch(
            () => undefined,
          );
        throw new ApiError(503, 'queue_unavailable', `rollback not queued: ${(err as Error).message}`);
      });
      rt.log.info(
        {
          batch_id: id,
          action: 'rollback_requested',
          status: 'rolling_back',
          snapshots: queued.map((a) => a.snapshot_id),
          refused: refused.length,
          force,
          requested_by: who,
        },
        'rollback queued',
      );
      res.status(202).json({
        batch_id: id,
        dry_run: false,
        rollback_status: 'rolling_back',
        accepted: queued.map((a) => a.snapshot_id),
        refused,
      });
    },
  );
  return r;
}
