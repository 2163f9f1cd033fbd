import { classifyError, type ErrorClass, type Json } from '@aegis/core';
import { CloudClients, DEFAULT_SETTINGS, type Handler, type HandlerContext, type Plan, type Target } from '../src';

export const NOW = new Date('2026-02-26T12:00:00Z');
export const DAY_MS = 86_400_000;

/** A context whose clients point at a closed port: only the mocked `send` may answer. */
export function makeCtx(over: Partial<HandlerContext> = {}): HandlerContext {
  return {
    clients: new CloudClients({ cloud: 'aws', endpoint: 'http://127.0.0.1:1' }),
    signal: new AbortController().signal,
    settings: { ...DEFAULT_SETTINGS, pollIntervalMs: 1 },
    now: () => NOW,
    ...over,
  };
}

export function target(resource_id: string, region = 'us-east-1'): Target {
  return { resource_id, account_id: '123456789012', region };
}

/** An error shaped like the SDK's: the AWS code as its name, the HTTP status in $metadata. */
export function awsError(code: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(`${code} from the cloud`), {
    name: code,
    $fault: 'client',
    $metadata: { httpStatusCode },
  });
}

/** inspect → plan, as the dispatcher does before a snapshot. */
export async function inspectAndPlan(h: Handler, ctx: HandlerContext, t: Target): Promise<{ state: Json; plan: Plan }> {
  const state = await h.inspect(ctx, t);
  return { state, plan: h.plan(state, t, ctx.settings, ctx.now()) };
}

/** The class core gives the error a call rejects with (fails the test when it resolves). */
export async function classOf(p: Promise<unknown>): Promise<{ class: ErrorClass; code: string }> {
  try {
    await p;
  } catch (err) {
    const c = classifyError(err);
    return { class: c.class, code: c.code };
  }
  throw new Error('expected the call to fail');
}

/** The options object a mocked `send` received as its second argument. */
export function sendOptionsOf(call: { args: unknown[] }): unknown {
  return call.args[1];
}
