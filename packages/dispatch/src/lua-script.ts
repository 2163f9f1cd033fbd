import { createHash } from 'node:crypto';
import type { RedisClient } from '@aegis/core';

/**
 * A Lua script run by its SHA1 (EVALSHA), so the script's text crosses the wire and is hashed by
 * Redis once per server rather than on every call; a server that does not know it yet (first call,
 * a restart, a failover) answers NOSCRIPT and gets the text once with EVAL, which also caches it.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
