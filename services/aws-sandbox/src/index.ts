import type { FaultInput, Fault } from './faults';
import type { LatencyRule } from './latency';
import { Sandbox, type CallStats, type SandboxOptions } from './server';
import type { SeededIds } from './seed';
import type { FailureStatus, InstanceStateName, SandboxState } from './state';
import type { ThrottleOptions } from './throttle';

export { seededIds, type SeededIds } from './seed';
export type { SandboxOptions, CallStats } from './server';
export type { FaultInput, Fault } from './faults';
export type { LatencyRule } from './latency';
export type { ThrottleOptions, BucketRate } from './throttle';
export { parseSandboxEnv, type SandboxEnv } from './config';

export interface SandboxHandle {
  /** `http://host:port`, the endpoint for SDK clients and `aws --endpoint-url`. */
  url: string;
  port: number;
  close(): Promise<void>;
  /** The live state (read it in assertions; change it only through the API or the helpers). */
  state: SandboxState;
  /** JSON view, as `GET /_sandbox/state`. */
  snapshot(): unknown;
  reset(opts?: { seed?: boolean }): void;
  /** The state of one account (created empty on first use). */
  account(accountId: string): SandboxState;
  /** Replaces the accounts whose roles refuse AssumeRole. */
  denyAssume(accountIds: string[]): void;
  seeded(): SeededIds | undefined;
  stats(): Record<string, CallStats>;
  addFault(f: FaultInput): Fault;
  clearFaults(): void;
  setLatency(l: SandboxOptions['latency'] | LatencyRule[]): void;
  setThrottling(t: ThrottleOptions): void;
  setInstanceState(instanceId: string, state: InstanceStateName): void;
  setAccessKeyCreateDate(accessKeyId: string, date: Date): void;
  /** Changes run-time behaviour (IMDS apply delay, SSM command time and outcome). */
  configure(
    b: SandboxOptions['behaviour'] & {
      ssmInstanceOutcomes?: Record<string, 'Success' | FailureStatus>;
    },
  ): void;
}

/** Starts the sandbox in this process (tests use `port: 0` for a free port). */
export async function startSandbox(opts: SandboxOptions = {}): Promise<SandboxHandle> {
  const sb = new Sandbox(opts);
  const host = opts.host ?? '127.0.0.1';
  const port = await sb.listen(opts.port ?? 4566, host);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => sb.close(),
    state: sb.state,
    snapshot: () => sb.state.snapshot(Date.now()),
    reset: (o) => sb.reset(o?.seed),
    account: (id) => sb.accounts.get(id),
    denyAssume(ids) {
      sb.accounts.denied.clear();
      for (const a of ids) sb.accounts.denied.add(a);
    },
    seeded: () => sb.seeded,
    stats: () => sb.statsJson(),
    addFault: (f) => sb.faults.add(f),
    clearFaults: () => sb.faults.clear(),
    setLatency: (l) => sb.setLatency(l),
    setThrottling: (t) => sb.throttler.configure(t),
    setInstanceState(id, state) {
      const found = sb.findInstance(id);
      if (!found) throw new Error(`no instance ${id}`);
      found.instance.state = state;
    },
    setAccessKeyCreateDate(id, date) {
      const found = sb.state.findAccessKey(id);
      if (!found) throw new Error(`no access key ${id}`);
      found.key.createDate = date.getTime();
    },
    configure(b) {
      const { ssmInstanceOutcomes, ...rest } = b;
      Object.assign(sb.behaviour, rest);
      for (const [id, s] of Object.entries(ssmInstanceOutcomes ?? {})) sb.behaviour.ssmInstanceOutcomes.set(id, s);
    },
  };
}
