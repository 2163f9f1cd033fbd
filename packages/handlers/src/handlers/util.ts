import { AegisError, errorCode, type Json } from '@aegis/core';
import type { z } from 'zod';
import type { HandlerContext } from '../contract';

/** The second argument of every `client.send`: a tier timeout or a cancel aborts the HTTP call itself. */
export function sendOpts(ctx: HandlerContext): { abortSignal?: AbortSignal } {
  return ctx.signal ? { abortSignal: ctx.signal } : {};
}

/**
 * The same error the SDK throws for an aborted call (an AbortError whose cause is the signal's
 * reason), so a caller tells a tier timeout from a cancel the same way wherever the abort landed.
 */
function abortError(signal: AbortSignal): Error {
  const err = new Error('aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

/** Waits `ms`, or rejects at once when `signal` aborts, so pollers never outlive their job. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A plain JSON copy: drops `undefined` members and turns Dates into strings, so a state hashes and
 * stores the same before and after a round trip through the snapshot file.
 */
export function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

/** Reads a stored state or ops document back into its type; a document that does not fit is refused. */
export function parseDoc<T>(schema: z.ZodType<T>, value: Json, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new AegisError('ValidationError', `${what} is not a valid document: ${r.error.message}`);
  return r.data;
}

/** An error that carries an AWS-style code as its name, so classifyError sees the code. */
export function codedError(code: string, message: string): Error {
  const err = new Error(message);
  err.name = code;
  return err;
}

/** Runs `call`, treating the listed error codes as "already done" (idempotent apply and rollback). */
export async function tolerate(codes: readonly string[], call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    if (!codes.includes(errorCode(err))) throw err;
  }
}

/**
 * Calls `read` every `ctx.settings.pollIntervalMs` until it returns a value. The job's abort signal
 * (tier timeout, cancel) is the real bound; `maxWaitMs` only keeps a caller without a signal from
 * waiting forever, and ends with a `timeout` error.
 */
export async function pollUntil<T>(
  ctx: HandlerContext,
  what: string,
  maxWaitMs: number,
  read: () => Promise<T | undefined>,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() - started >= maxWaitMs) throw codedError('timeout', `${what}: still not done after ${maxWaitMs} ms`);
    await sleep(ctx.settings.pollIntervalMs, ctx.signal);
  }
}
