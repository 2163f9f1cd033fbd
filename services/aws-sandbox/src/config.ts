import { z } from 'zod';
import { jsonEnv } from '@aegis/core';
import { type LatencyRule, parseLatencySpec } from './latency';
import { LOG_LEVELS } from './logger';
import { TERMINAL_FAILURES } from './state';
import { BucketRateSchema } from './throttle';

const flag = z.stringbool();

/** The standalone sandbox's environment, parsed once at start-up. */
export const SandboxEnv = z.object({
  AEGIS_SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(4566),
  AEGIS_SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
  /** Create one demo misconfiguration per handler at start (and on reset). */
  AEGIS_SANDBOX_SEED: flag.default(true),
  AEGIS_SANDBOX_THROTTLING: flag.default(true),
  /** Bucket overrides as JSON: `{"ec2:DescribeInstances":{"capacity":10,"refill_per_second":2}}`. */
  AEGIS_SANDBOX_THROTTLE_RATES: jsonEnv(z.record(z.string(), BucketRateSchema)),
  /** Added to every call: `25` or `10-50` (ms). */
  AEGIS_SANDBOX_LATENCY_MS: z
    .string()
    .optional()
    .transform((v, ctx): LatencyRule | undefined => {
      if (!v) return undefined;
      try {
        return parseLatencySpec(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  AEGIS_SANDBOX_IMDS_APPLY_MS: z.coerce.number().int().min(0).default(0),
  AEGIS_SANDBOX_SSM_COMMAND_MS: z.coerce.number().int().min(0).default(1500),
  AEGIS_SANDBOX_SSM_OUTCOME: z.enum(['Success', ...TERMINAL_FAILURES]).default('Success'),
  /** Accounts whose roles refuse AssumeRole, comma separated. */
  AEGIS_SANDBOX_DENY_ASSUME: z
    .string()
    .regex(/^\s*\d{12}\s*(,\s*\d{12}\s*)*$/, '12-digit account ids, comma separated')
    .optional()
    .transform((v) => (v ? v.split(',').map((s) => s.trim()) : [])),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});
export type SandboxEnv = z.infer<typeof SandboxEnv>;

/** Parses the environment; a bad value is reported by name and stops the caller. */
export function parseSandboxEnv(env: NodeJS.ProcessEnv): SandboxEnv {
  const r = SandboxEnv.safeParse(env);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`aws-sandbox: bad configuration: ${why}`);
  }
  return r.data;
}
