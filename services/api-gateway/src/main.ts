import { loadConfigOrExit, TIER_NAMES } from '@aegis/core';
import { ShutdownManager, SnapshotClient, applyTierConcurrency, createQueues, createRuntime } from '@aegis/dispatch';
import { createApp } from './app';
import { TokenStore } from './auth';
import { GatewayEnv } from './config';
import { RemediationService } from './remediation-service';
import { startWebhookWorker } from './webhook-worker';

async function main(): Promise<void> {
  const env = loadConfigOrExit('api-gateway', GatewayEnv);
  let tokens: TokenStore;
  try {
    tokens = TokenStore.fromConfig({ devToken: env.AEGIS_API_TOKEN, file: env.AEGIS_API_TOKENS_FILE });
  } catch (err) {
    process.stderr.write(`api-gateway: invalid configuration:\n  - ${(err as Error).message}\n`);
    process.exit(78);
  }
  const rt = createRuntime('api-gateway', env, 'producer');
  if (tokens.size === 0)
    rt.log.warn(
      {},
      'no API token configured (AEGIS_API_TOKEN or AEGIS_API_TOKENS_FILE): every API call will be refused',
    );
  const queues = createQueues(rt.bullConnection, env.AEGIS_QUEUE_PREFIX);
  await applyTierConcurrency(queues, rt.tiers);
  // A stop that outlived a restart still holds: keep the queues paused with it.
  if (await rt.store.getEmergencyStop()) await Promise.all(TIER_NAMES.map((t) => queues.tiers[t].pause()));

  let account: Promise<string> | null = env.AEGIS_ACCOUNT_ID ? Promise.resolve(env.AEGIS_ACCOUNT_ID) : null;
  const defaultAccount = () => {
    account ??= rt.clients.callerAccount(env.AWS_REGION).catch((err: unknown) => {
      account = null;
      throw err;
    });
    return account;
  };
  const service = new RemediationService(rt, queues, {
    planTtlMs: env.AEGIS_PLAN_TTL,
    productionAccounts: new Set(env.AEGIS_PRODUCTION_ACCOUNTS ?? []),
    changeTicketPattern: new RegExp(env.AEGIS_CHANGE_TICKET_PATTERN),
    maxBatchItems: env.AEGIS_MAX_BATCH_ITEMS,
    allowedAccounts: env.AEGIS_ALLOWED_ACCOUNTS ? new Set(env.AEGIS_ALLOWED_ACCOUNTS) : null,
  });
  const app = createApp({
    rt,
    tokens,
    queues,
    snapshots: new SnapshotClient(env.AEGIS_SNAPSHOT_URL),
    service,
    defaultAccount,
    allowedAccounts: env.AEGIS_ALLOWED_ACCOUNTS ? new Set(env.AEGIS_ALLOWED_ACCOUNTS) : null,
    basePath: env.AEGIS_BASE_PATH,
  });
  const sweep = () =>
    service
      .sweepUnfinishedEnqueues()
      .catch((err: unknown) => rt.log.warn({ err: (err as Error).message }, 'enqueue sweep failed'));
  void sweep();
  const sweeper = setInterval(() => void sweep(), 60_000);
  sweeper.unref();
  const shutdown = new ShutdownManager(rt.log, 20_000);
  shutdown.listen();
  const server = app.listen(env.PORT, env.HOST, () => {
    const a = server.address();
    rt.log.info({ port: typeof a === 'object' && a ? a.port : env.PORT, cloud: env.AEGIS_CLOUD }, 'api-gateway ready');
  });
  // HTTP that Node refuses before express sees it (bad request line, oversized headers) still gets
  // the API's JSON error body, never a bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify({
      error: {
        code: tooLarge ? 'headers_too_large' : 'bad_request',
        message: tooLarge ? 'request headers too large' : 'malformed HTTP request',
      },
    });
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  // Webhook deliveries run in the gateway: it has outbound network, the snapshot service keeps its narrow role.
  const webhooks = env.AEGIS_WEBHOOK_URLS.length ? await startWebhookWorker(rt) : null;
  shutdown.register('runtime', () => rt.close());
  shutdown.register('sweeper', async () => clearInterval(sweeper));
  shutdown.register('queues', () => queues.close());
  shutdown.register('http', () => new Promise<void>((r) => server.close(() => r())));
  if (webhooks) shutdown.register('webhooks', () => webhooks.close());
}

main().catch((err: unknown) => {
  process.stderr.write(`api-gateway: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
