import { ConfigError, type RedisClient } from '@aegis/core';
import type { BeforeCall } from '@aegis/handlers';
import { LuaScript } from './lua-script';
import type { DispatchMetrics } from './metrics';

export interface BucketRate {
  burst: number;
  perSecond: number;
}

/**
 * Buckets per account, region and API category. EC2's are its published request-rate buckets
 * (non-mutating, resource-intensive mutations, ModifyInstanceMetadataOptions); the other services
 * publish no exact figures, so these stay below what they are known to allow.
 */
export const DEFAULT_RATES = {
  'ec2:describe': { burst: 100, perSecond: 20 },
  'ec2:mutate': { burst: 50, perSecond: 5 },
  'ec2:modify-metadata': { burst: 100, perSecond: 5 },
  s3: { burst: 200, perSecond: 50 },
  iam: { burst: 50, perSecond: 10 },
  guardduty: { burst: 50, perSecond: 10 },
  ssm: { burst: 50, perSecond: 10 },
  sts: { burst: 100, perSecond: 20 },
} as const satisfies Record<string, BucketRate>;
export type RateCategory = keyof typeof DEFAULT_RATES;
export type RateTable = Record<RateCategory, BucketRate>;

/**
 * The share of each bucket we plan to use (AEGIS_RATE_BUDGET_SHARE). The rest is room for the
 * account's other callers (the console, IaC) and for the time between taking our token and AWS
 * taking its own: with the same bucket on both sides, any call that travels faster than the one
 * before it would be throttled. 0.95 keeps 2 of the 50 burst tokens and 0.25 of the 5 per second of
 * EC2's mutation bucket spare: no throttling in the sandbox's E2E and bench runs, ≥ 0.9 of the bucket used.
 */
export const DEFAULT_BUDGET_SHARE = 0.95;

const isCategory = (c: string): c is RateCategory => Object.hasOwn(DEFAULT_RATES, c);

/** The bucket a call draws from; null for a service we keep no budget for. */
export function rateCategory(service: string, operation: string): RateCategory | null {
  if (service === 'ec2') {
    if (operation === 'ModifyInstanceMetadataOptions') return 'ec2:modify-metadata';
    return /^(Describe|Get|List|Search)/.test(operation) ? 'ec2:describe' : 'ec2:mutate';
  }
  return isCategory(service) ? service : null;
}

/**
 * The buckets to use: the defaults with `overrides` (`ec2:mutate=100/10,s3=500/100`, the account's
 * real figures) applied, then every bucket times `scale` and the share we plan to use.
 */
export function resolveRates(scale: number, overrides?: string, share = DEFAULT_BUDGET_SHARE): RateTable {
  const table: RateTable = { ...DEFAULT_RATES };
  const problems: string[] = [];
  for (const part of (overrides ?? '').split(',').filter((p) => p.trim())) {
    const m = /^\s*([a-z0-9:-]+)=(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)\s*$/.exec(part);
    const [, name = '', burst = '0', perSecond = '0'] = m ?? [];
    if (!m) problems.push(`AEGIS_RATE_BUDGET_RATES: "${part}" is not category=burst/per_second`);
    else if (!isCategory(name))
      problems.push(
        `AEGIS_RATE_BUDGET_RATES: unknown category "${name}" (one of ${Object.keys(DEFAULT_RATES).join(', ')})`,
      );
    else if (Number(burst) < 1 || Number(perSecond) <= 0)
      problems.push(`AEGIS_RATE_BUDGET_RATES: ${name} needs a burst of at least 1 and a positive rate`);
    else table[name] = { burst: Number(burst), perSecond: Number(perSecond) };
  }
  if (problems.length) throw new ConfigError(problems);
  for (const c of Object.keys(table) as RateCategory[])
    table[c] = {
      burst: Math.max(1, Math.floor(table[c].burst * scale * share)),
      perSecond: table[c].perSecond * scale * share,
    };
  return table;
}

/**
 * One token bucket, refilled continuously, on Redis' clock (every worker sees the same time).
 * A call reserves its token: the bucket may go below zero by the calls already waiting, so waiters
 * are served in order and each knows its wait at once. A reservation that would wait longer than
 * the limit is refused and changes nothing.
 * KEYS: bucket. ARGV: burst, per_second, max_wait_ms. Returns {granted (0|1), wait_ms}.
 */
export const TOKEN_BUCKET_LUA = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then tokens = burst; at = now end
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
local left = tokens - 1
local wait = 0
if left < 0 then wait = math.ceil(-left * 1000 / rate) end
if wait > tonumber(ARGV[3]) then return {0, wait} end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', left), 'at', string.format('%d', math.max(now, at)))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - left) * 1000 / rate) + 1000)
return {1, wait}
`;

const TOKEN_BUCKET = new LuaScript(TOKEN_BUCKET_LUA);

export interface BudgetScope {
  account: string;
  region: string;
  category: RateCategory;
}

/** No token within the longest wait: classified `throttled`, so the item goes back to the queue. */
export class RateBudgetExhausted extends Error {
  readonly $retryable = { throttling: true };
  constructor(
    readonly scope: BudgetScope,
    readonly waitMs: number,
  ) {
    super(`rate budget ${scope.category} of ${scope.account}/${scope.region}: no token for ${waitMs} ms`);
    this.name = 'RateBudgetExhausted';
  }
}

export interface RateBudgetOptions {
  /** Longest wait for a token; beyond it the call is refused (RateBudgetExhausted). */
  maxWaitMs: number;
  metrics?: DispatchMetrics;
}

/**
 * The cloud API budget every process shares: a Redis token bucket per account, region and API
 * category, keyed under the queue prefix (one hash slot with a `{tag}` prefix). A call waits for
 * its token, bounded by its abort signal, before it is sent, so a fleet of workers stays inside
 * AWS's own buckets instead of finding them by being throttled.
 */
export class RateBudget {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    readonly rates: RateTable,
    private readonly opts: RateBudgetOptions,
  ) {}

  key(scope: BudgetScope): string {
    return `${this.prefix}:ratebudget:${scope.account}:${scope.region}:${scope.category}`;
  }

  /** Waits for a token; resolves with the ms waited. Rejects with the signal's reason on abort. */
  async take(scope: BudgetScope, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const rate = this.rates[scope.category];
    const [granted, waitMs] = (await untilAborted(
      TOKEN_BUCKET.run(this.redis, [this.key(scope)], [rate.burst, rate.perSecond, this.opts.maxWaitMs]),
      signal,
    )) as [number, number];
    if (granted !== 1) {
      this.opts.metrics?.budgetDeferrals.inc({ category: scope.category });
      throw new RateBudgetExhausted(scope, waitMs);
    }
    // The token is ours even if we abort now: an unused one is lost, which only errs on the slow side.
    if (waitMs > 0) await sleep(waitMs, signal);
    this.opts.metrics?.budgetWait.observe({ category: scope.category }, waitMs / 1000);
    return waitMs;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The account a process's credentials belong to, looked up once (STS) unless configured; a failed
 * lookup is tried again on the next call, which meanwhile draws from an `unknown` account's buckets.
 */
export function accountOfCredentials(fixed: string | undefined, lookup: () => Promise<string>): () => Promise<string> {
  if (fixed) return () => Promise.resolve(fixed);
  let known: Promise<string> | null = null;
  return () =>
    (known ??= lookup().catch(() => {
      known = null;
      return 'unknown';
    }));
}

/** The CloudClients `beforeCall` hook: every call takes a token of its bucket first. */
export function rateBudgetHook(budget: RateBudget, account: () => Promise<string>): BeforeCall {
  return async (service, operation, region, signal) => {
    // The identity lookup is how the account is learnt (once per process): it cannot wait on it.
    if (service === 'sts' && operation === 'GetCallerIdentity') return;
    const category = rateCategory(service, operation);
    if (!category) return;
    await budget.take({ account: await account(), region, category }, signal);
  };
}
