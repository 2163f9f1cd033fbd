import { createHash } from 'node:crypto';
import type { Json } from '@aegis/core';

/** JSON with object keys sorted, so equal values always serialise the same. */
export function stableStringify(value: Json | undefined): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => stableStringify(v)).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(value[k])}`).join(',')}}`;
}

/** The plan-binding hash: what execute must find again before it changes anything. */
export function planHash(ops: Json): string {
  return createHash('sha256').update(stableStringify(ops)).digest('hex').slice(0, 32);
}
