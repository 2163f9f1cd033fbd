import express, { type NextFunction, type Request, type Response } from 'express';
import { BatchId, SnapshotId, type Logger } from '@aegis/core';
import { mapLimit, type DispatchMetrics } from '@aegis/dispatch';
import { z } from 'zod';
import { SnapshotDocument } from './snapshot-doc';
import type { SnapshotStore } from './snapshot-store';

/** Parallel reads of one batch's listing (an S3 store answers each GET in tens of ms). */
const READ_PARALLEL = 16;

/**
 * The snapshot service's HTTP side: the internal API workers and the gateway use (the store's
 * only writer), plus health and metrics.
 */
export function createSnapshotApp(deps: {
  store: SnapshotStore;
  metrics: DispatchMetrics;
  log: Logger;
  ready: () => Promise<boolean>;
}) {
  const { store, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '2mb' }));

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    const ok = await deps.ready().catch(() => false);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', store: store.description });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.text());
  });

  app.post('/internal/snapshots', async (req, res) => {
    const parsed = SnapshotDocument.safeParse(req.body);
    if (!parsed.success) {
      return void res.status(400).json({
        error: {
          code: 'invalid_snapshot',
          message: 'snapshot document is invalid',
          details: z.treeifyError(parsed.error),
        },
      });
    }
    const doc = parsed.data;
    const body = JSON.stringify(doc, null, 2);
    const stored = await store.putIfAbsent(doc.batch_id, doc.snapshot_id, body);
    if (stored) {
      log.info(
        {
          batch_id: doc.batch_id,
          finding_id: doc.finding_id,
          handler: doc.handler,
          resource_id: doc.resource_id,
          snapshot_id: doc.snapshot_id,
          action: 'snapshot',
          status: 'stored',
        },
        'snapshot stored',
      );
      return void res.status(201).json({ stored: true, snapshot: doc });
    }
    // Written once: a retry of the same item gets the first snapshot back, the one taken before any change.
    const existing = await store.get(doc.batch_id, doc.snapshot_id);
    if (!existing) throw new Error(`snapshot ${doc.batch_id}/${doc.snapshot_id} exists but cannot be read`);
    return void res.status(200).json({ stored: false, snapshot: JSON.parse(existing) });
  });

  app.get('/internal/snapshots/:batch', async (req, res) => {
    const b = BatchId.safeParse(req.params.batch);
    if (!b.success)
      return void res
        .status(400)
        .json({ error: { code: 'invalid_batch_id', message: b.error.issues[0]?.message ?? 'bad batch id' } });
    const ids = await store.list(b.data);
    const docs = await mapLimit(ids, READ_PARALLEL, (id) => store.get(b.data, id));
    res.json(docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d)));
  });

  app.get('/internal/snapshots/:batch/:snap', async (req, res) => {
    const b = BatchId.safeParse(req.params.batch);
    const s = SnapshotId.safeParse(req.params.snap);
    if (!b.success || !s.success)
      return void res.status(400).json({ error: { code: 'invalid_id', message: 'bad batch or snapshot id' } });
    const doc = await store.get(b.data, s.data);
    if (!doc)
      return void res
        .status(404)
        .json({ error: { code: 'snapshot_not_found', message: `no snapshot ${s.data} in ${b.data}` } });
    res.type('application/json').send(doc);
  });

  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    log.error(
      { err: err.message, action: 'snapshot', status: 'failed', error: 'snapshot_store_error' },
      'snapshot store error',
    );
    res
      .status(503)
      .json({ error: { code: 'snapshot_store_unavailable', message: `snapshot store failed: ${err.message}` } });
  });
  return app;
}
