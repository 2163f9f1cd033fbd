import { z } from 'zod';
import type { ServiceName } from './wire';

export const BucketRateSchema = z.object({
  capacity: z.number().positive(),
  refill_per_second: z.number().nonnegative(),
});
export type BucketRate = z.infer<typeof BucketRateSchema>;

/** `rates` keys: `service:Operation` (e.g. `ec2:DescribeInstances`) or `service:*`. */
export const ThrottleOptionsSchema = z.object({
  enabled: z.boolean().optional(),
  rates: z.record(z.string(), BucketRateSchema).optional(),
});
export type ThrottleOptions = z.infer<typeof ThrottleOptionsSchema>;

const rate = (capacity: number, refill_per_second: number): BucketRate => ({ capacity, refill_per_second });

// EC2's published request-rate buckets (per account, region and API action).
const EC2_NON_MUTATING = rate(100, 20);
const EC2_MUTATING = rate(200, 5);
const EC2_RESOURCE_INTENSIVE = rate(50, 5);
const EC2_SPECIFIC: Record<string, BucketRate> = {
  AuthorizeSecurityGroupIngress: EC2_RESOURCE_INTENSIVE,
  RevokeSecurityGroupIngress: EC2_RESOURCE_INTENSIVE,
  AuthorizeSecurityGroupEgress: EC2_RESOURCE_INTENSIVE,
  RevokeSecurityGroupEgress: EC2_RESOURCE_INTENSIVE,
  RunInstances: EC2_RESOURCE_INTENSIVE,
  ModifyInstanceMetadataOptions: rate(100, 5),
};
// Other services publish no exact buckets; these are the sandbox's choice (S3: per-prefix PUT rate).
const SERVICE_DEFAULTS: Record<Exclude<ServiceName, 'ec2'>, BucketRate> = {
  s3: rate(3500, 3500),
  iam: rate(100, 20),
  sts: rate(100, 20),
  guardduty: rate(100, 20),
  ssm: rate(100, 20),
};

export function defaultRate(service: ServiceName, operation: string): BucketRate {
  if (service !== 'ec2') return SERVICE_DEFAULTS[service];
  return EC2_SPECIFIC[operation] ?? (/^(Describe|Get|List|Search)/.test(operation) ? EC2_NON_MUTATING : EC2_MUTATING);
}

interface Bucket {
  tokens: number;
  at: number;
  rate: BucketRate;
}

/** Token buckets per region, service and operation, refilled continuously. */
export class Throttler {
  enabled: boolean;
  private overrides: Record<string, BucketRate>;
  private buckets = new Map<string, Bucket>();

  constructor(opts: ThrottleOptions = {}) {
    this.enabled = opts.enabled ?? true;
    this.overrides = { ...opts.rates };
  }

  configure(opts: ThrottleOptions): void {
    if (opts.enabled !== undefined) this.enabled = opts.enabled;
    if (opts.rates) this.overrides = { ...this.overrides, ...opts.rates };
    this.buckets.clear();
  }

  reset(): void {
    this.buckets.clear();
  }

  rateFor(service: ServiceName, operation: string): BucketRate {
    return (
      this.overrides[`${service}:${operation}`] ?? this.overrides[`${service}:*`] ?? defaultRate(service, operation)
    );
  }

  /** Takes a token; false when the call is throttled. */
  take(region: string, service: ServiceName, operation: string, now: number): boolean {
    if (!this.enabled) return true;
    const key = `${region}:${service}:${operation}`;
    const r = this.rateFor(service, operation);
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: r.capacity, at: now, rate: r };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(r.capacity, b.tokens + ((now - b.at) / 1000) * r.refill_per_second);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  describe(): { enabled: boolean; overrides: Record<string, BucketRate> } {
    return { enabled: this.enabled, overrides: { ...this.overrides } };
  }
}
