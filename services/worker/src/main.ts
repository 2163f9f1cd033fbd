import { loadConfigOrExit } from '@aegis/core';
import { ShutdownManager, createRuntime, startProbeServer } from '@aegis/dispatch';
import { WorkerEnv } from './config';
import { startTierWorker } from './tier-worker';

async function main(): Promise<void> {
  const env = loadConfigOrExit('worker', WorkerEnv);
  const tier = env.AEGIS_TIER;
  const rt = createRuntime(`worker-${tier.toLowerCase()}`, env, 'worker');
  const spec = rt.tiers[tier];
  const shutdown = new ShutdownManager(rt.log, spec.timeoutMs + env.AEGIS_SHUTDOWN_DEADLINE + 5_000);
  shutdown.listen();
  const tw = await startTierWorker(rt, tier, {
    snapshotUrl: env.AEGIS_SNAPSHOT_URL,
    pollIntervalMs: env.AEGIS_POLL_INTERVAL,
    lockDurationMs: env.AEGIS_JOB_LOCK_DURATION,
  });
  rt.metrics.pausedSource = async () => (await rt.store.getEmergencyStop()) !== null;
  const probe = await startProbeServer({
    port: env.AEGIS_METRICS_PORT,
    host: env.AEGIS_METRICS_HOST,
    metrics: rt.metrics,
    ready: async () => tw.worker.isRunning() && (await rt.redis.ping()) === 'PONG',
  });
  const addr = probe.address();
  rt.log.info(
    {
      tier,
      queue: tw.queue.name,
      concurrency: spec.concurrency,
      timeout_ms: spec.timeoutMs,
      metrics_port: typeof addr === 'object' && addr ? addr.port : env.AEGIS_METRICS_PORT,
    },
    'worker ready',
  );

  shutdown.register('runtime', () => rt.close());
  shutdown.register('probe', async () => void probe.close());
  shutdown.register('worker', async () => {
    // Stop taking jobs; give running ones until the deadline, then abort them back to the queue.
    const t = setTimeout(() => tw.abortAll(), env.AEGIS_SHUTDOWN_DEADLINE);
    await tw.close();
    clearTimeout(t);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`worker: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
