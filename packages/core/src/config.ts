import { z } from 'zod';

/** Durations as operators write them: `90s`, `15m`, `48h`, `7d`, `250ms`, or a bare number of seconds. */
export function parseDuration(input: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(input);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1000;
  return Math.round(n * mult);
}

/** A zod field for a duration, parsed to milliseconds. */
export const DurationMs = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration (use e.g. 250ms, 30s, 15m, 48h, 7d)` });
    return z.NEVER;
  }
  return ms;
});

/**
 * An environment variable holding JSON checked by `schema`; unset is `undefined`. A refusal says
 * `describe` when given, else each problem with its path.
 */
export function jsonEnv<S extends z.ZodType>(schema: S, describe?: string) {
  return z
    .string()
    .optional()
    .transform((v, ctx): z.infer<S> | undefined => {
      if (!v) return undefined;
      let json: unknown;
      try {
        json = JSON.parse(v);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
      const r = schema.safeParse(json);
      if (!r.success) {
        ctx.addIssue({
          code: 'custom',
          message: describe ?? r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        });
        return z.NEVER;
      }
      return r.data;
    });
}

export const PositiveInt = z.coerce.number().int().positive();

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse an environment with a zod schema; problems name the variable and what it allows. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  const r = schema.safeParse(cleaned);
  if (r.success) return r.data;
  throw new ConfigError(
    r.error.issues.map((i) => {
      const name = i.path.join('.') || '(environment)';
      const got = i.path.length ? cleaned[String(i.path[0])] : undefined;
      return `${name}: ${i.message}${got !== undefined ? ` (got "${got}")` : ''}`;
    }),
  );
}

/** Parse config at start-up, or stop the process with a message that says what to fix. */
export function loadConfigOrExit<S extends z.ZodType>(
  service: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  try {
    return parseEnv(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${service}: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

const TierOverride = {
  AEGIS_T1_CONCURRENCY: PositiveInt.optional(),
  AEGIS_T2_CONCURRENCY: PositiveInt.optional(),
  AEGIS_T3_CONCURRENCY: PositiveInt.optional(),
  AEGIS_T1_TIMEOUT: DurationMs.optional(),
  AEGIS_T2_TIMEOUT: DurationMs.optional(),
  AEGIS_T3_TIMEOUT: DurationMs.optional(),
};

/** Settings every service shares (DESIGN.md "Configuration names"). */
export const CommonEnv = z.object({
  REDIS_URL: z
    .string()
    .regex(
      /^rediss?:\/\/[^/?#]+(\/\d+)?\/?$/,
      'redis://host:port[/db], or redis://h1:p1,h2:p2,h3:p3 for a Redis Cluster',
    )
    .default('redis://127.0.0.1:6379'),
  AEGIS_REDIS_CLUSTER: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  AEGIS_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9{}_-]+$/, 'letters, digits, "_", "-" and a {hash tag}')
    .default('aegis'),
  AEGIS_CLOUD: z.enum(['aws', 'sandbox']).default('aws'),
  AEGIS_SANDBOX_PORT: PositiveInt.max(65535).default(4566),
  AWS_REGION: Region().default('us-east-1'),
  AEGIS_ACCOUNT_ID: z
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  /** Role assumed in a finding's account when it is not the ambient credentials' account. */
  AEGIS_ASSUME_ROLE_NAME: z
    .string()
    .regex(/^[\w+=,.@-]{1,64}$/, 'an IAM role name')
    .default('AegisRemediation'),
  AEGIS_ASSUME_ROLE_EXTERNAL_ID: z.string().min(2).max(1224).optional(),
  /** Per-account role ARNs replacing the default one, JSON: `{"111111111111":"arn:aws:iam::111111111111:role/Other"}`. */
  AEGIS_ACCOUNT_ROLES: jsonEnv(
    z.record(z.string().regex(/^\d{12}$/), z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/.+$/)),
    'a JSON object of 12-digit account id to role ARN',
  ),
  /** Webhook receivers of dispatcher events, comma separated; bodies signed with AEGIS_WEBHOOK_SECRET. */
  AEGIS_WEBHOOK_URLS: z
    .string()
    .optional()
    .transform((v) =>
      v
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    )
    .pipe(z.array(z.url())),
  AEGIS_WEBHOOK_SECRET: z.string().min(16).optional(),
  /** How long the audit stream keeps entries (at least 400 days). */
  AEGIS_AUDIT_RETENTION: DurationMs.default(400 * 86_400_000).refine((ms) => ms >= 400 * 86_400_000, 'at least 400d'),
  AEGIS_KEY_MAX_AGE_DAYS: z.coerce.number().int().min(0).default(90),
  AEGIS_PLAN_TTL: DurationMs.default(24 * 3_600_000),
  AEGIS_ROLLBACK_WINDOW: DurationMs.default(48 * 3_600_000),
  AEGIS_BATCH_MAX_FAILURE_PCT: z.coerce.number().min(0).max(100).default(20),
  AEGIS_BATCH_MIN_FINISHED: PositiveInt.default(5),
  AEGIS_SNAPSHOT_URL: z.string().url().default('http://127.0.0.1:8082'),
  /** Shared cloud API rate budget (token buckets in Redis per account, region and API category). */
  AEGIS_RATE_BUDGET: z.enum(['on', 'off']).default('on'),
  /** Multiplies every bucket's burst and refill rate (an account with raised limits, or a test sandbox). */
  AEGIS_RATE_BUDGET_SCALE: z.coerce.number().positive().default(1),
  /** Per-category overrides, `category=burst/per_second` comma separated (e.g. `ec2:mutate=100/10`). */
  AEGIS_RATE_BUDGET_RATES: z
    .string()
    .regex(
      /^\s*[a-z0-9:-]+=\d+(\.\d+)?\/\d+(\.\d+)?\s*(,\s*[a-z0-9:-]+=\d+(\.\d+)?\/\d+(\.\d+)?\s*)*$/,
      'category=burst/per_second, comma separated (e.g. ec2:mutate=100/10)',
    )
    .optional(),
  /** The share of each bucket the budget plans to use; the rest is left to the account's other callers. */
  AEGIS_RATE_BUDGET_SHARE: z.coerce.number().gt(0).max(1).default(0.95),
  /** A call waits at most this long for a token; beyond it the item goes back to the queue (throttled). */
  AEGIS_RATE_BUDGET_MAX_WAIT: DurationMs.default(5_000),
  /** After a success, re-read the resource this much later and flag a regression (`0` disables). */
  AEGIS_RECHECK_DELAY: DurationMs.default(15 * 60_000),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  ...TierOverride,
});
export type CommonEnv = z.infer<typeof CommonEnv>;

function Region() {
  return z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region such as us-east-1');
}

export function tierOverrides(env: CommonEnv) {
  return {
    T1: { concurrency: env.AEGIS_T1_CONCURRENCY, timeoutMs: env.AEGIS_T1_TIMEOUT },
    T2: { concurrency: env.AEGIS_T2_CONCURRENCY, timeoutMs: env.AEGIS_T2_TIMEOUT },
    T3: { concurrency: env.AEGIS_T3_CONCURRENCY, timeoutMs: env.AEGIS_T3_TIMEOUT },
  };
}
