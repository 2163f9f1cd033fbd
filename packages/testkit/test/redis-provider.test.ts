import { Redis } from 'ioredis';
import { getTestRedis, startRedisServer, type TestRedis } from '../src';

describe('test Redis provider', () => {
  let r: TestRedis;
  beforeAll(async () => {
    r = await getTestRedis();
  });
  afterAll(async () => r.stop());

  it('gives a reachable Redis with an isolated prefix', async () => {
    const c = new Redis(r.url);
    await c.set(`${r.prefix}:k`, 'v');
    expect(await c.get(`${r.prefix}:k`)).toBe('v');
    c.disconnect();
    const other = await getTestRedis();
    expect(other.prefix).not.toBe(r.prefix);
    await other.stop();
  });

  it('keeps AOF data across a restart of its own redis-server', async () => {
    const srv = await startRedisServer({ appendonly: true });
    const c = new Redis(srv.url, { maxRetriesPerRequest: null });
    await c.set('durable', '1');
    await srv.restart();
    expect(await c.get('durable')).toBe('1');
    c.disconnect();
    await srv.stop();
  });
});
