import { classifyError, ConfigError, createRedis, type RedisClient } from '@aegis/core';
import { CloudClients, createDefaultRegistry, DEFAULT_SETTINGS } from '@aegis/handlers';
import { getTestRedis, type TestRedis } from '@aegis/testkit';
// The sandbox runs in this process so the test can count what reached it (a test-only import).
import { startSandbox, type SandboxHandle } from '../../../services/aws-sandbox/src';
import {
  DEFAULT_RATES,
  RateBudget,
  RateBudgetExhausted,
  accountOfCredentials,
  rateBudgetHook,
  rateCategory,
  resolveRates,
  type BudgetScope,
  type RateTable,
} from '../src';

let tr: TestRedis;
let redis: RedisClient;

beforeAll(async () => {
  tr = await getTestRedis();
  redis = createRedis({ url: tr.url }, 'worker');
});
afterAll(async () => {
  redis.disconnect();
  await tr.stop();
});

let n = 0;
/** A budget of its own per test (prefix), with the given buckets for every category. */
function budget(burst: number, perSecond: number, maxWaitMs = 5_000, hashTag = false): RateBudget {
  const rates = Object.fromEntries(
    Object.keys(resolveRates(1)).map((c) => [c, { burst, perSecond }]),
  ) as unknown as RateTable;
  const prefix = hashTag ? `{${tr.prefix}-${n++}}` : `${tr.prefix}-${n++}`;
  return new RateBudget(redis, prefix, rates, { maxWaitMs });
}

const scope = (over: Partial<BudgetScope> = {}): BudgetScope => ({
  account: '123456789012',
  region: 'us-east-1',
  category: 'ec2:mutate',
  ...over,
});

describe('rate budget (Redis token bucket)', () => {
  it('gives the burst at once, then tokens at the refill rate', async () => {
    const b = budget(5, 10);
    const t0 = Date.now();
    const burst = await Promise.all(Array.from({ length: 5 }, () => b.take(scope())));
    expect(burst.every((w) => w === 0)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(500);
    // Ten more at 10 per second: reserved in order, about 100 ms apart, about a second in all.
    const t1 = Date.now();
    const waits = await Promise.all(Array.from({ length: 10 }, () => b.take(scope())));
    const took = Date.now() - t1;
    expect([...waits].sort((x, y) => x - y)[9]).toBeGreaterThanOrEqual(900);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(1_800);
    expect(new Set(waits.map((w) => Math.round(w / 100))).size).toBe(10);
  });

  it('refills to the burst, never beyond', async () => {
    const b = budget(3, 20);
    await Promise.all([b.take(scope()), b.take(scope()), b.take(scope())]);
    await new Promise((r) => setTimeout(r, 600)); // 12 tokens' worth of time, capped at 3
    const waits = await Promise.all(Array.from({ length: 4 }, () => b.take(scope())));
    expect(waits.filter((w) => w === 0)).toHaveLength(3);
    expect(Math.max(...waits)).toBeGreaterThan(0);
  });

  it('keeps one bucket per account, region and category, under the queue prefix', async () => {
    const b = budget(2, 0.5, 5_000, true);
    await b.take(scope());
    await b.take(scope());
    // This bucket is empty now: the next token is 2 s away...
    const t = Date.now();
    expect(await b.take(scope({ account: '210987654321' }))).toBe(0);
    expect(await b.take(scope({ region: 'eu-west-1' }))).toBe(0);
    expect(await b.take(scope({ category: 'ec2:describe' }))).toBe(0);
    expect(Date.now() - t).toBeLessThan(500);
    // ...and each scope is its own key, hash-tagged with the prefix (one Redis Cluster slot).
    const key = b.key(scope());
    expect(key).toMatch(/^\{[^}]+\}:ratebudget:123456789012:us-east-1:ec2:mutate$/);
    const keys = await redis.keys(`${key.split(':')[0]}:ratebudget:*`);
    expect(keys.sort()).toEqual(
      [
        b.key(scope()),
        b.key(scope({ account: '210987654321' })),
        b.key(scope({ region: 'eu-west-1' })),
        b.key(scope({ category: 'ec2:describe' })),
      ].sort(),
    );
    expect(await redis.pttl(key)).toBeGreaterThan(0); // idle buckets expire
  });

  it('is shared by every client of the same Redis (two processes, one budget)', async () => {
    const a = budget(4, 2);
    const conn = createRedis({ url: tr.url }, 'worker');
    const other = new RateBudget(conn, a.key(scope()).split(':')[0] ?? '', a.rates, { maxWaitMs: 5_000 });
    try {
      await Promise.all([a.take(scope()), a.take(scope()), other.take(scope()), other.take(scope())]);
      expect(await other.take(scope())).toBeGreaterThan(300);
    } finally {
      conn.disconnect();
    }
  });

  it('stops waiting when the abort signal fires, with the signal reason', async () => {
    const b = budget(1, 0.2, 60_000); // a token every 5 s
    await b.take(scope());
    const ac = new AbortController();
    const t = Date.now();
    setTimeout(() => ac.abort(new Error('job cancelled')), 150);
    await expect(b.take(scope(), ac.signal)).rejects.toThrow('job cancelled');
    expect(Date.now() - t).toBeLessThan(1_000);
    // A tier timeout keeps its TimeoutError, so the item is recorded as timed out.
    const err = await b.take(scope(), AbortSignal.timeout(100)).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    // An already aborted call takes no token at all.
    const fresh = budget(1, 1);
    const dead = new AbortController();
    dead.abort(new Error('gone'));
    await expect(fresh.take(scope(), dead.signal)).rejects.toThrow('gone');
    expect(await fresh.take(scope())).toBe(0);
  });

  it('refuses a wait beyond the limit with an error classified as throttling, taking nothing', async () => {
    const b = budget(1, 1, 500);
    await b.take(scope());
    const err = await b.take(scope()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateBudgetExhausted);
    expect(classifyError(err)).toMatchObject({ class: 'throttled', code: 'RateBudgetExhausted' });
    // The refusal reserved nothing: after the refill one token is there again at once.
    await new Promise((r) => setTimeout(r, 1_050));
    expect(await b.take(scope())).toBe(0);
  });
});

describe('rate categories and configuration', () => {
  it('maps calls to the EC2 buckets and the per-service ones', () => {
    expect(rateCategory('ec2', 'DescribeSecurityGroups')).toBe('ec2:describe');
    expect(rateCategory('ec2', 'RevokeSecurityGroupIngress')).toBe('ec2:mutate');
    expect(rateCategory('ec2', 'AuthorizeSecurityGroupIngress')).toBe('ec2:mutate');
    expect(rateCategory('ec2', 'ModifyInstanceMetadataOptions')).toBe('ec2:modify-metadata');
    for (const s of ['s3', 'iam', 'guardduty', 'ssm', 'sts']) expect(rateCategory(s, 'Anything')).toBe(s);
    expect(rateCategory('lambda', 'Invoke')).toBeNull();
  });

  it("has AWS's EC2 figures, plans 95% of each bucket (or the share set), takes overrides and scales every bucket", () => {
    expect(DEFAULT_RATES['ec2:describe']).toEqual({ burst: 100, perSecond: 20 });
    expect(DEFAULT_RATES['ec2:mutate']).toEqual({ burst: 50, perSecond: 5 });
    expect(DEFAULT_RATES['ec2:modify-metadata']).toEqual({ burst: 100, perSecond: 5 });
    expect(resolveRates(1)['ec2:mutate']).toEqual({ burst: 47, perSecond: 4.75 });
    expect(resolveRates(1, undefined, 0.9)['ec2:mutate']).toEqual({ burst: 45, perSecond: 4.5 });
    const r = resolveRates(2, 'ec2:mutate=100/10, s3=10/1');
    expect(r['ec2:mutate']).toEqual({ burst: 190, perSecond: 19 });
    expect(r.s3).toEqual({ burst: 19, perSecond: 1.9 });
    expect(r['ec2:describe']).toEqual({ burst: 190, perSecond: 38 });
    expect(() => resolveRates(1, 'ec2:everything=1/1')).toThrow(ConfigError);
    expect(() => resolveRates(1, 'ec2:mutate=0/1')).toThrow(/burst of at least 1/);
  });
});

describe('the CloudClients hook', () => {
  let sb: SandboxHandle;
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, throttling: false });
  });
  afterAll(() => sb.close());

  const sg = () => sb.seeded()?.security_group_id ?? '';
  const inspect = (clients: CloudClients, signal?: AbortSignal) =>
    createDefaultRegistry()
      .get('block-public-ssh')
      .inspect(
        { clients, settings: DEFAULT_SETTINGS, now: () => new Date(), signal },
        { resource_id: sg(), account_id: '123456789012', region: 'us-east-1' },
      );

  it('makes every call wait for its token before it is sent, once per call (not per SDK retry)', async () => {
    const b = budget(2, 2);
    const seen: string[] = [];
    const hook = rateBudgetHook(
      b,
      accountOfCredentials('123456789012', () => Promise.reject(new Error('unused'))),
    );
    const clients = new CloudClients({
      cloud: 'sandbox',
      sandboxPort: sb.port,
      beforeCall: async (service, op, region, signal) => {
        seen.push(`${service}:${op}:${region}:${signal ? 'signal' : 'none'}`);
        await hook(service, op, region, signal);
      },
    });
    try {
      const t = Date.now();
      await Promise.all([inspect(clients), inspect(clients), inspect(clients), inspect(clients)]);
      // Burst 2, then 2 per second: the 3rd and 4th calls waited about 0.5 s and 1 s.
      expect(Date.now() - t).toBeGreaterThanOrEqual(900);
      // A throttled answer is retried by the SDK without a second token.
      sb.addFault({ service: 'ec2', operation: 'DescribeSecurityGroups', code: 'RequestLimitExceeded', times: 1 });
      const before = sb.stats()['ec2:DescribeSecurityGroups']?.calls ?? 0;
      seen.length = 0;
      await inspect(clients, new AbortController().signal);
      expect(sb.stats()['ec2:DescribeSecurityGroups']?.calls).toBe(before + 2);
      expect(seen).toEqual(['ec2:DescribeSecurityGroups:us-east-1:signal']);
    } finally {
      clients.destroy();
    }
  });

  it("bounds the wait by the call's abort signal, and nothing is sent", async () => {
    const b = budget(1, 0.1, 60_000);
    const clients = new CloudClients({
      cloud: 'sandbox',
      sandboxPort: sb.port,
      beforeCall: rateBudgetHook(
        b,
        accountOfCredentials('123456789012', () => Promise.resolve('x')),
      ),
    });
    try {
      await inspect(clients);
      const before = sb.stats()['ec2:DescribeSecurityGroups']?.calls ?? 0;
      const t = Date.now();
      const err = await inspect(clients, AbortSignal.timeout(200)).catch((e: unknown) => e);
      expect((err as Error).name).toBe('TimeoutError');
      expect(Date.now() - t).toBeLessThan(1_500);
      expect(sb.stats()['ec2:DescribeSecurityGroups']?.calls).toBe(before);
    } finally {
      clients.destroy();
    }
  });

  it('learns the account from STS once (that call is not budgeted) and keys the buckets with it', async () => {
    let lookups = 0;
    const clients: CloudClients = new CloudClients({
      cloud: 'sandbox',
      sandboxPort: sb.port,
      beforeCall: rateBudgetHook(
        budget(10, 10),
        accountOfCredentials(undefined, () => {
          lookups++;
          return clients.callerAccount('us-east-1');
        }),
      ),
    });
    try {
      await Promise.all([inspect(clients), inspect(clients), inspect(clients)]);
      expect(lookups).toBe(1);
    } finally {
      clients.destroy();
    }
  });
});
