import {
  CommonEnv,
  createLogger,
  createRedis,
  parseRedisUrl,
  type RedisNode,
  resolveTiers,
  tierOverrides,
  type Logger,
  type RedisClient,
  type Tier,
  type TierSpec,
} from '@aegis/core';
import {
  CloudClients,
  createDefaultRegistry,
  DEFAULT_SETTINGS,
  type HandlerRegistry,
  type HandlerSettings,
} from '@aegis/handlers';
import type { ConnectionOptions } from 'bullmq';
import { AuditLog } from './audit';
import { EventBus } from './events';
import { DispatchMetrics } from './metrics';
import { RateBudget, accountOfCredentials, rateBudgetHook, resolveRates } from './rate-budget';
import { StateStore } from './state-store';

/** What every service builds from its config: Redis, state, handlers, cloud clients, metrics, logs. */
export interface Runtime {
  env: CommonEnv;
  log: Logger;
  metrics: DispatchMetrics;
  redis: RedisClient;
  /** BullMQ connection options (BullMQ opens its own connections from them). */
  bullConnection: ConnectionOptions;
  store: StateStore;
  registry: HandlerRegistry;
  clients: CloudClients;
  /** The shared cloud API budget every call waits on (null with AEGIS_RATE_BUDGET=off). */
  budget: RateBudget | null;
  tiers: Record<Tier, TierSpec>;
  settings: HandlerSettings;
  /** The audit trail (`<prefix>:audit`). */
  audit: AuditLog;
  /** Events for other services (`<prefix>:events`, webhooks). */
  events: EventBus;
  close(): Promise<void>;
}

export function bullConnectionOptions(env: CommonEnv, role: 'worker' | 'producer'): ConnectionOptions {
  if (env.AEGIS_REDIS_CLUSTER) return createRedis({ url: env.REDIS_URL, cluster: true }, 'worker') as ConnectionOptions;
  const p = parseRedisUrl(env.REDIS_URL);
  const node = p.nodes[0] as RedisNode;
  return {
    host: node.host,
    port: node.port,
    ...(p.username ? { username: p.username } : {}),
    ...(p.password ? { password: p.password } : {}),
    ...(p.tls ? { tls: {} } : {}),
    db: p.db,
    maxRetriesPerRequest: null,
    ...(role === 'producer' ? { enableOfflineQueue: false } : {}),
  };
}

export function createRuntime(service: string, env: CommonEnv, role: 'worker' | 'producer'): Runtime {
  const log = createLogger(service, env.LOG_LEVEL);
  const metrics = new DispatchMetrics(service);
  // Our own bookkeeping waits through Redis outages in every role: a lost write would lose an outcome.
  const redis = createRedis({ url: env.REDIS_URL, cluster: env.AEGIS_REDIS_CLUSTER }, 'worker');
  redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'));
  const budget =
    env.AEGIS_RATE_BUDGET === 'on'
      ? new RateBudget(
          redis,
          env.AEGIS_QUEUE_PREFIX,
          resolveRates(env.AEGIS_RATE_BUDGET_SCALE, env.AEGIS_RATE_BUDGET_RATES, env.AEGIS_RATE_BUDGET_SHARE),
          { maxWaitMs: env.AEGIS_RATE_BUDGET_MAX_WAIT, metrics },
        )
      : null;
  // Every role draws from it: workers and rollbacks change resources, the gateway's dry runs read them.
  // Calls without an account of their own count against the clients' home account (one STS lookup).
  const account = accountOfCredentials(env.AEGIS_ACCOUNT_ID, () => clients.homeAccount());
  const clients: CloudClients = new CloudClients(
    {
      cloud: env.AEGIS_CLOUD,
      sandboxPort: env.AEGIS_SANDBOX_PORT,
      ...(budget ? { beforeCall: rateBudgetHook(budget, account) } : {}),
      ...(budget ? { beforeCallFor: (a: string) => rateBudgetHook(budget, () => Promise.resolve(a)) } : {}),
      accounts: {
        ...(env.AEGIS_ACCOUNT_ID ? { homeAccountId: env.AEGIS_ACCOUNT_ID } : {}),
        roleName: env.AEGIS_ASSUME_ROLE_NAME,
        ...(env.AEGIS_ASSUME_ROLE_EXTERNAL_ID ? { externalId: env.AEGIS_ASSUME_ROLE_EXTERNAL_ID } : {}),
        ...(env.AEGIS_ACCOUNT_ROLES ? { roles: env.AEGIS_ACCOUNT_ROLES } : {}),
        sessionName: `aegis-${service}`,
        stsRegion: env.AWS_REGION,
      },
    },
    metrics.observeCall,
  );
  const bullConnection = bullConnectionOptions(env, role);
  const events = new EventBus(redis, env.AEGIS_QUEUE_PREFIX, {
    urls: env.AEGIS_WEBHOOK_URLS,
    connection: bullConnection,
  });
  return {
    env,
    log,
    metrics,
    redis,
    bullConnection,
    store: new StateStore(redis, env.AEGIS_QUEUE_PREFIX),
    registry: createDefaultRegistry(),
    clients,
    budget,
    tiers: resolveTiers(tierOverrides(env)),
    settings: { ...DEFAULT_SETTINGS, keyMaxAgeDays: env.AEGIS_KEY_MAX_AGE_DAYS },
    audit: new AuditLog(redis, env.AEGIS_QUEUE_PREFIX, env.AEGIS_AUDIT_RETENTION),
    events,
    close: async () => {
      await events.close();
      clients.destroy();
      redis.disconnect();
    },
  };
}
