import { S3Client } from '@aws-sdk/client-s3';
import { loadConfigOrExit } from '@aegis/core';
import { ShutdownManager, createRuntime } from '@aegis/dispatch';
import { createSnapshotApp } from './app';
import { SnapshotEnv } from './config';
import { startRollbackWorker } from './rollback-worker';
import { FileSnapshotStore, S3SnapshotStore, type SnapshotStore } from './snapshot-store';

async function main(): Promise<void> {
  const env = loadConfigOrExit('snapshot', SnapshotEnv);
  const rt = createRuntime('snapshot', env, 'worker');
  const cfg = env.AEGIS_SNAPSHOT_STORE;
  let store: SnapshotStore;
  if (cfg.kind === 'file') store = new FileSnapshotStore(cfg.dir);
  else {
    const s3: S3Client = env.AEGIS_SNAPSHOT_REGION
      ? rt.clients.s3(env.AEGIS_SNAPSHOT_REGION)
      : rt.clients.s3(env.AWS_REGION);
    store = new S3SnapshotStore(s3, cfg.bucket, cfg.prefix);
  }
  const shutdown = new ShutdownManager(rt.log, 60_000);
  shutdown.listen();
  const rollbacks = await startRollbackWorker(rt, store);
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
}

main().catch((err: unknown) => {
  process.stderr.write(`snapshot: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
