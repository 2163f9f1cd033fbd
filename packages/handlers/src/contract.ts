import type { HandlerName, Json, Tier, Logger } from '@aegis/core';
import type { CloudClients } from './clients';

/** Where a handler acts: one resource in one account and region. */
export interface Target {
  resource_id: string;
  account_id: string;
  region: string;
}

export interface HandlerContext {
  clients: CloudClients;
  /** Aborts every cloud call in flight when the tier timeout fires or the job is cancelled. */
  signal?: AbortSignal | undefined;
  log?: Logger | undefined;
  settings: HandlerSettings;
  now: () => Date;
}

export interface HandlerSettings {
  /** rotate-iam-keys: keys older than this many days are deactivated (0: every active key). */
  keyMaxAgeDays: number;
  /** How often pollers (IMDS state, SSM invocation) look again. */
  pollIntervalMs: number;
}

export const DEFAULT_SETTINGS: HandlerSettings = { keyMaxAgeDays: 90, pollIntervalMs: 1000 };

/** What a handler will do to a resource. `ops` is the structured form the apply step executes. */
export interface Plan {
  noop: boolean;
  /** Human-readable, one line per change. */
  changes: string[];
  planned_state: Json;
  /** The exact operations, hashed for plan binding and kept in the snapshot for rollback. */
  ops: Json;
  /** Why nothing is done although the resource is not compliant (e.g. a terminated instance). */
  skip_reason?: string | undefined;
}

export interface Verification {
  compliant: boolean;
  detail: string;
}

export interface RollbackInput {
  previous_state: Json;
  planned_state: Json;
  ops: Json;
}

export type Rollback =
  | {
      reversible: true;
      /** Compare the live state with the state our remediation left; a difference is drift. */
      drifted(current: Json, input: RollbackInput): string | null;
      /** Restore `previous_state`. Idempotent: running it twice ends in the same state. */
      restore(ctx: HandlerContext, target: Target, input: RollbackInput): Promise<void>;
    }
  | { reversible: false; reason: string };

export interface Handler {
  name: HandlerName;
  tier: Tier;
  description: string;
  /** What the resource id names, for messages and for validation. */
  resourceType: string;
  /** Every IAM action the handler calls (inspect, apply, verify and rollback). */
  iamActions: readonly string[];
  /** null when the id can name this handler's resource type, else what is wrong. */
  checkResourceId(resourceId: string): string | null;
  /** Read-only current state. Throws a not-found error (classified not_found) when absent. */
  inspect(ctx: HandlerContext, target: Target): Promise<Json>;
  /** Pure: what apply would do to a resource in `state`. */
  plan(state: Json, target: Target, settings: HandlerSettings, now: Date): Plan;
  /** Carry out `plan.ops`. Idempotent. */
  apply(ctx: HandlerContext, target: Target, plan: Plan, state: Json): Promise<void>;
  /** Re-read the resource: is it compliant now? */
  verify(ctx: HandlerContext, target: Target): Promise<Verification>;
  rollback: Rollback;
}
