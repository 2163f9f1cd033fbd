import { z } from 'zod';

export const LatencyRuleSchema = z
  .object({
    service: z.string().optional(),
    operation: z.string().optional(),
    ms: z.number().int().nonnegative().optional(),
    min_ms: z.number().int().nonnegative().optional(),
    max_ms: z.number().int().nonnegative().optional(),
  })
  .refine((r) => r.ms !== undefined || (r.min_ms !== undefined && r.max_ms !== undefined && r.min_ms <= r.max_ms), {
    message: 'give ms, or min_ms <= max_ms',
  });
export type LatencyRule = z.infer<typeof LatencyRuleSchema>;

/** `"25"` or `"10-50"` (ms) from the environment, as one rule for every call. */
export function parseLatencySpec(spec: string): LatencyRule {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(spec);
  if (!m) throw new Error(`latency must look like "25" or "10-50" (ms), got "${spec}"`);
  return m[2] === undefined
    ? { ms: Number(m[1]) }
    : LatencyRuleSchema.parse({ min_ms: Number(m[1]), max_ms: Number(m[2]) });
}

/** The most specific matching rule wins: service+operation, then operation, then service, then global. */
export class Latency {
  rules: LatencyRule[] = [];

  delayFor(service: string, operation: string): number {
    const score = (r: LatencyRule) => (r.operation ? 2 : 0) + (r.service ? 1 : 0);
    const match = this.rules
      .filter((r) => (!r.service || r.service === service) && (!r.operation || r.operation === operation))
      .sort((a, b) => score(b) - score(a))[0];
    if (!match) return 0;
    if (match.ms !== undefined) return match.ms;
    const min = match.min_ms ?? 0;
    const max = match.max_ms ?? min;
    return min + Math.floor(Math.random() * (max - min + 1));
  }
}
