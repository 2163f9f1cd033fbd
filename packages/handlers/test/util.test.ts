import { classifyError } from '@aegis/core';
import { codedError, pollUntil, sleep, toJson, tolerate } from '../src/handlers/util';
import { makeCtx } from './helpers';

describe('handler helpers', () => {
  it('sleep waits, and rejects at once on abort like an aborted SDK call', async () => {
    await expect(sleep(5)).resolves.toBeUndefined();
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    expect(classifyError(await p.catch((e: unknown) => e)).class).toBe('cancelled');
    // As the SDK does: AbortError, with the signal's reason (here a tier timeout) as its cause.
    const reason = new DOMException('tier timeout', 'TimeoutError');
    const err = await sleep(10, AbortSignal.abort(reason)).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError', cause: reason });
  });

  it('pollUntil returns the first value, and gives up with a timeout error without a signal', async () => {
    let n = 0;
    await expect(pollUntil(makeCtx(), 'thing', 1000, async () => (++n >= 3 ? n : undefined))).resolves.toBe(3);
    const err = await pollUntil(makeCtx({ signal: undefined }), 'thing', 20, async () => undefined).catch(
      (e: unknown) => e,
    );
    expect(classifyError(err)).toMatchObject({ class: 'timeout', code: 'timeout' });
  });

  it('toJson drops undefined members so a state hashes the same after storage', () => {
    expect(toJson({ a: 1, b: undefined, c: [{ d: undefined }] })).toEqual({ a: 1, c: [{}] });
  });

  it('tolerate swallows only the listed codes', async () => {
    await expect(
      tolerate(['InvalidPermission.Duplicate'], () => Promise.reject(codedError('InvalidPermission.Duplicate', 'x'))),
    ).resolves.toBeUndefined();
    await expect(
      tolerate(['InvalidPermission.Duplicate'], () => Promise.reject(codedError('AccessDenied', 'x'))),
    ).rejects.toThrow('x');
  });
});
