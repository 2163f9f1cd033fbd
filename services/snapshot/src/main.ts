import { S3Client } from '@aws-sdk/client-s3';
import { loadConfigOrExit } from '@aegis/core';
import { ShutdownManager, createRuntime, type Runtime } from '@aegis/dispatch';
import { createSnapshotApp } from './app';
import { SnapshotEnv } from './config';
import { startRollbackWorker } from './rollback-worker';
import { FileSnapshotStore, S3SnapshotStore, type SnapshotStore } from './snapshot-store';
import { storeS3Client } from './store-s3-client';

async function main(): Promise<void> {
  const env = loadConfigOrExit('snapshot', SnapshotEnv);
  const rt = createRuntime('snapshot', env, 'worker');
  rt.metrics.pausedSource = async () => (await rt.store.getEmergencyStop()) !== null;
  const cfg = env.AEGIS_SNAPSHOT_STORE;
  let store: SnapshotStore;
  if (cfg.kind === 'file') store = new FileSnapshotStore(cfg.dir);
  else {
    const s3: S3Client = env.AEGIS_SNAPSHOT_S3_ENDPOINT
      ? storeS3Client({
          endpoint: env.AEGIS_SNAPSHOT_S3_ENDPOINT,
          region: env.AEGIS_SNAPSHOT_REGION ?? 'auto',
          ...(env.AEGIS_SNAPSHOT_S3_ACCESS_KEY_ID && env.AEGIS_SNAPSHOT_S3_SECRET_ACCESS_KEY
            ? {
                credentials: {
                  accessKeyId: env.AEGIS_SNAPSHOT_S3_ACCESS_KEY_ID,
                  secretAccessKey: env.AEGIS_SNAPSHOT_S3_SECRET_ACCESS_KEY,
                },
              }
            : {}),
        })
      : env.AEGIS_SNAPSHOT_REGION
        ? rt.clients.s3(env.AEGIS_SNAPSHOT_REGION)
        : rt.clients.s3(env.AWS_REGION);
    store = new S3SnapshotStore(s3, cfg.bucket, cfg.prefix);
  }
  const shutdown = new ShutdownManager(rt.log, 60_000);
  shutdown.listen();
  const rollbacks = await startRollbackWorker(rt, store);
  const pruner = store instanceof FileSnapshotStore ? startPruner(rt, store, env.AEGIS_SNAPSHOT_RETENTION) : null;
  const app = createSnapshotApp({
    store,
    metrics: rt.metrics,
    log: rt.log,
    ready: async () => {
      await store.check();
      return (await rt.redis.ping()) === 'PONG';
    },
  });
  const server = app.listen(env.AEGIS_SNAPSHOT_PORT, env.AEGIS_SNAPSHOT_HOST, () => {
    const a = server.address();
    rt.log.info(
      { port: typeof a === 'object' && a ? a.port : env.AEGIS_SNAPSHOT_PORT, store: store.description },
      'snapshot service ready',
    );
  });
  shutdown.register('runtime', () => rt.close());
  shutdown.register('http', () => new Promise<void>((r) => server.close(() => r())));
  shutdown.register('rollbacks', () => rollbacks.close());
  if (pruner) shutdown.register('pruner', async () => clearInterval(pruner));
}

const PRUNE_EVERY_MS = 3_600_000;

/** Audit retention of a folder store: snapshots older than the retention go, hourly. */
function startPruner(rt: Runtime, store: FileSnapshotStore, retentionMs: number): NodeJS.Timeout | null {
  if (retentionMs === 0) return null;
  const run = () =>
    store
      .prune(new Date(Date.now() - retentionMs))
      .then((removed) => {
        if (removed) rt.log.info({ action: 'prune', removed, retention_ms: retentionMs }, 'old snapshots removed');
      })
      .catch((err: unknown) =>
        rt.log.warn({ action: 'prune', err: (err as Error).message }, 'snapshot pruning failed'),
      );
  void run();
  const t = setInterval(run, PRUNE_EVERY_MS);
  t.unref();
  return t;
}

main().catch((err: unknown) => {
  process.stderr.write(`snapshot: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
