import { z } from 'zod';
import { SERVICES } from './wire';

export const FaultSchema = z
  .object({
    service: z.enum(SERVICES).optional(),
    /** An operation name such as `RevokeSecurityGroupIngress`, or `*` for every operation. */
    operation: z.string().min(1),
    /** Only calls that name this id (in path, query or body) fail. */
    resource_id: z.string().min(1).optional(),
    /** Share of matching calls that fail (default all). */
    fraction: z.number().min(0).max(1).optional(),
    /** How many calls fail before the fault is spent; absent (or `always: true`): no end. */
    times: z.number().int().positive().optional(),
    always: z.boolean().optional(),
    code: z.string().min(1),
    status: z.number().int().min(400).max(599).optional(),
    message: z.string().optional(),
  })
  .refine((f) => !(f.always && f.times !== undefined), { message: 'give times or always, not both' });
export type FaultInput = z.infer<typeof FaultSchema>;

export interface Fault extends FaultInput {
  id: number;
  fired: number;
}

/** HTTP status AWS uses for common error codes, when the fault does not say. */
const STATUS: Record<string, number> = {
  UnauthorizedOperation: 403,
  AccessDenied: 403,
  AccessDeniedException: 403,
  ConflictException: 409,
  InternalError: 500,
  InternalFailure: 500,
  InternalServerError: 500,
  InternalServerErrorException: 500,
  ServiceUnavailable: 503,
  ServiceUnavailableException: 503,
  RequestLimitExceeded: 503,
  SlowDown: 503,
  NoSuchEntity: 404,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  TooManyRequestsException: 429,
};

export function faultStatus(code: string): number {
  return STATUS[code] ?? 400;
}

export class Faults {
  private list: Fault[] = [];
  private next = 1;

  add(input: FaultInput): Fault {
    const f: Fault = { ...input, id: this.next++, fired: 0 };
    this.list.push(f);
    return f;
  }

  clear(): void {
    this.list = [];
  }

  all(): Fault[] {
    return this.list.map((f) => ({ ...f }));
  }

  /** The fault this call trips, if any (and counts it). `text` is everything the request says. */
  match(service: string, operation: string, text: string): Fault | undefined {
    for (const f of this.list) {
      if (f.service && f.service !== service) continue;
      if (f.operation !== '*' && f.operation !== operation) continue;
      if (f.resource_id && !text.includes(f.resource_id)) continue;
      if (f.times !== undefined && f.fired >= f.times) continue;
      if (f.fraction !== undefined && Math.random() >= f.fraction) continue;
      f.fired++;
      return f;
    }
    return undefined;
  }
}
