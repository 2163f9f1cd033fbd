import { Router } from 'express';
import { BatchId } from '@aegis/core';
import {
  assessRollback,
  expiresAt,
  getRollbackRecords,
  type DispatchQueues,
  type Runtime,
  type SnapshotClient,
} from '@aegis/dispatch';
import { RollbackRequest } from '../api-schemas';
import { principalOf, requireScope, type TokenStore } from '../auth';
import { jsonBody } from '../body';
import { ApiError, parseOr400 } from '../http-errors';

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
      let docs = await batchSnapshots(id);
      if (body.snapshot_id) {
        docs = docs.filter((d) => d.snapshot_id === body.snapshot_id);
        if (!docs.length) throw new ApiError(404, 'unknown_snapshot', `no snapshot ${body.snapshot_id} in ${id}`);
      }
      if (!docs.length)
        throw new ApiError(409, 'nothing_to_roll_back', `batch ${id} has no snapshots (nothing was changed)`);
      // Newest first: a whole-batch rollback undoes changes in reverse order of application.
      docs.sort((a, b) => b.taken_at.localeCompare(a.taken_at) || b.snapshot_id.localeCompare(a.snapshot_id));
      const existing = new Map((await getRollbackRecords(rt.store, id)).map((x) => [x.snapshot_id, x]));
      const force = body.force ?? false;
      const assessed = await Promise.all(
        docs.map((d) => assessRollback(deps, d, { force, existing: existing.get(d.snapshot_id) ?? null })),
      );
      if (body.dry_run) return void res.json({ batch_id: id, dry_run: true, force, rollbacks: assessed });
      const accepted = assessed.filter((a) => !a.refused);
      const refused = assessed
        .filter((a) => a.refused)
        .map((a) => ({ snapshot_id: a.snapshot_id, resource_id: a.resource_id, handler: a.handler, ...a.refused }));
      if (!accepted.length)
        throw new ApiError(
          409,
          'rollback_refused',
          `nothing to roll back: ${refused.map((x) => `${x.snapshot_id}: ${x.message}`).join('; ')}`,
          { refused },
        );
      const who = principalOf(res).name;
      const now = new Date().toISOString();
      const key = rt.store.keys.batchRollbacks(id);
      for (const a of accepted) {
        await rt.store.redis.hset(
          key,
          a.snapshot_id,
          JSON.stringify({
            snapshot_id: a.snapshot_id,
            finding_id: a.finding_id,
            handler: a.handler,
            resource_id: a.resource_id,
            state: 'queued',
            requested_at: now,
          }),
        );
      }
      await rt.store.setRollbackStatus(id, 'rolling_back');
      await queues.rollbacks.addBulk(
        accepted.map((a) => ({
          name: 'rollback',
          data: { batch_id: id, snapshot_id: a.snapshot_id, force, requested_by: who },
          opts: {
            jobId: `${id}__${a.snapshot_id}__${Date.now()}`,
            attempts: 1,
            removeOnComplete: { age: 7 * 86400 },
            removeOnFail: { age: 30 * 86400 },
          },
        })),
      );
      rt.log.info(
        {
          batch_id: id,
          action: 'rollback_requested',
          status: 'rolling_back',
          snapshots: accepted.map((a) => a.snapshot_id),
          refused: refused.length,
          requested_by: who,
        },
        'rollback queued',
      );
      res
        .status(202)
        .json({
          batch_id: id,
          dry_run: false,
          rollback_status: 'rolling_back',
          accepted: accepted.map((a) => a.snapshot_id),
          refused,
        });
    },
  );
  return r;
}
