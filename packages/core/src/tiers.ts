import { z } from 'zod';

/** The six remediation handlers. Never rename one: names are stored in Redis, snapshots and metrics. */
export const HANDLER_NAMES = [
  'block-public-ssh',
  's3-block-public-access',
  'enforce-imdsv2',
  'enable-guardduty',
  'rotate-iam-keys',
  'run-patch-baseline',
] as const;
export const HandlerName = z.enum(HANDLER_NAMES);
export type HandlerName = z.infer<typeof HandlerName>;

export const TIER_NAMES = ['T1', 'T2', 'T3'] as const;
export const Tier = z.enum(TIER_NAMES);
export type Tier = z.infer<typeof Tier>;

export interface TierSpec {
  tier: Tier;
  label: string;
  /** Jobs in flight across every replica of the tier (BullMQ global concurrency). */
  concurrency: number;
  timeoutMs: number;
  handlers: readonly HandlerName[];
}

/** The tier table of DESIGN.md: defaults, each overridable per tier through config. */
export const DEFAULT_TIERS: Readonly<Record<Tier, TierSpec>> = {
  T1: {
    tier: 'T1',
    label: 'fast',
    concurrency: 10,
    timeoutMs: 30_000,
    handlers: ['block-public-ssh', 's3-block-public-access'],
  },
  T2: {
    tier: 'T2',
    label: 'standard',
    concurrency: 5,
    timeoutMs: 120_000,
    handlers: ['enforce-imdsv2', 'enable-guardduty'],
  },
  T3: {
    tier: 'T3',
    label: 'slow',
    concurrency: 2,
    timeoutMs: 600_000,
    handlers: ['rotate-iam-keys', 'run-patch-baseline'],
  },
};

export function tierOf(handler: HandlerName): Tier {
  for (const spec of Object.values(DEFAULT_TIERS)) if (spec.handlers.includes(handler)) return spec.tier;
  throw new Error(`handler ${handler} has no tier`);
}

export type TierOverrides = Partial<Record<Tier, { concurrency?: number | undefined; timeoutMs?: number | undefined }>>;

/** The tier table with config overrides applied. */
export function resolveTiers(overrides: TierOverrides = {}): Record<Tier, TierSpec> {
  const out = {} as Record<Tier, TierSpec>;
  for (const t of TIER_NAMES) {
    const o = overrides[t] ?? {};
    out[t] = {
      ...DEFAULT_TIERS[t],
      concurrency: o.concurrency ?? DEFAULT_TIERS[t].concurrency,
      timeoutMs: o.timeoutMs ?? DEFAULT_TIERS[t].timeoutMs,
    };
  }
  return out;
}
