import { parseSandboxEnv } from './config';
import { startSandbox } from './index';
import { createLog } from './logger';

async function main(): Promise<void> {
  let env;
  try {
    env = parseSandboxEnv(process.env);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  const log = createLog(env.LOG_LEVEL);
  const sb = await startSandbox({
    port: env.AEGIS_SANDBOX_PORT,
    host: env.AEGIS_SANDBOX_HOST,
    seed: env.AEGIS_SANDBOX_SEED,
    throttling: { enabled: env.AEGIS_SANDBOX_THROTTLING, rates: env.AEGIS_SANDBOX_THROTTLE_RATES },
    latency: env.AEGIS_SANDBOX_LATENCY_MS ? [env.AEGIS_SANDBOX_LATENCY_MS] : undefined,
    behaviour: {
      imdsApplyDelayMs: env.AEGIS_SANDBOX_IMDS_APPLY_MS,
      ssmCommandMs: env.AEGIS_SANDBOX_SSM_COMMAND_MS,
      ssmOutcome: env.AEGIS_SANDBOX_SSM_OUTCOME,
    },
    logLevel: env.LOG_LEVEL,
    denyAssume: env.AEGIS_SANDBOX_DENY_ASSUME,
  });
  log.info('aws-sandbox listening', { url: sb.url, seeded: sb.seeded() ?? null });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('aws-sandbox stopping', { signal });
    const deadline = setTimeout(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)), 5000);
    deadline.unref();
    void sb.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
