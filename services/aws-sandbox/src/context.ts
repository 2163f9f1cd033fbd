import type { Accounts } from './accounts';
import type { FailureStatus, SandboxState } from './state';
import type { AwsError, SandboxRequest, SandboxResponse, ServiceName } from './wire';

/** Behaviour knobs that tests and benchmarks change at run time (admin API `/_sandbox/config`). */
export interface Behaviour {
  /** How long ModifyInstanceMetadataOptions reads as `pending` before `applied`. */
  imdsApplyDelayMs: number;
  /** How long an SSM command takes from Pending to its terminal status. */
  ssmCommandMs: number;
  /** Terminal status of SSM commands, overridable per instance. */
  ssmOutcome: 'Success' | FailureStatus;
  ssmInstanceOutcomes: Map<string, 'Success' | FailureStatus>;
}

export interface SandboxContext {
  /** The state of the account the request's credentials belong to. */
  state: SandboxState;
  accounts: Accounts;
  behaviour: Behaviour;
  now(): number;
}

/** One emulated service: how to name a request's operation, answer it, and shape its errors. */
export interface ServiceHandler {
  service: ServiceName;
  operation(req: SandboxRequest): string;
  handle(req: SandboxRequest, ctx: SandboxContext): SandboxResponse;
  error(err: AwsError, req: SandboxRequest): SandboxResponse;
  /** The error this service answers when a call is throttled. */
  throttled(): AwsError;
}
