import { z } from 'zod';
import { FaultSchema } from './faults';
import { LatencyRuleSchema } from './latency';
import type { Sandbox } from './server';
import { settleCommands } from './ssm';
import { INSTANCE_STATE_CODES, type InstanceStateName, TERMINAL_FAILURES } from './state';
import { ThrottleOptionsSchema } from './throttle';

const DAY_MS = 86_400_000;
const Outcome = z.enum(['Success', ...TERMINAL_FAILURES]);

const ResetBody = z.object({ seed: z.boolean().optional() });
const LatencyBody = z.union([z.object({ rules: z.array(LatencyRuleSchema) }), LatencyRuleSchema]);
const ConfigBody = z.object({
  imds_apply_delay_ms: z.number().int().nonnegative().optional(),
  ssm_command_ms: z.number().int().nonnegative().optional(),
  ssm_outcome: Outcome.optional(),
});
const InstanceStateBody = z.object({
  state: z.enum(Object.keys(INSTANCE_STATE_CODES) as [InstanceStateName, ...InstanceStateName[]]),
});
const KeyBody = z
  .object({ create_date: z.iso.datetime().optional(), age_days: z.number().nonnegative().optional() })
  .refine((b) => (b.create_date === undefined) !== (b.age_days === undefined), {
    message: 'give create_date or age_days',
  });
const SsmOutcomeBody = z.object({ status: Outcome });
const DenyAssumeBody = z.object({ accounts: z.array(z.string().regex(/^\d{12}$/, 'a 12-digit account id')) });

export interface AdminResult {
  status: number;
  body: unknown;
}

class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parse<T>(schema: z.ZodType<T>, raw: Buffer): T {
  let json: unknown = {};
  if (raw.length) {
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new AdminError(400, 'body is not JSON');
    }
  }
  const r = schema.safeParse(json);
  if (!r.success)
    throw new AdminError(400, r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return r.data;
}

/** The JSON admin API under `/_sandbox/` (tests, benchmarks, chaos). */
export function handleAdmin(sb: Sandbox, method: string, path: string, body: Buffer): AdminResult {
  try {
    return route(sb, method, path.replace(/\/+$/, ''), body);
  } catch (e) {
    if (e instanceof AdminError)
      return { status: e.status, body: { error: { code: 'bad_request', message: e.message } } };
    throw e;
  }
}

function route(sb: Sandbox, method: string, path: string, body: Buffer): AdminResult {
  const ok = (b: unknown = { ok: true }): AdminResult => ({ status: 200, body: b });
  const at = `${method} ${path}`;
  switch (at) {
    case 'POST /_sandbox/reset': {
      sb.reset(parse(ResetBody, body).seed);
      return ok({ ok: true, seeded: sb.seeded ?? null });
    }
    case 'GET /_sandbox/state':
      for (const r of sb.state.regions.values()) settleCommands(r, Date.now());
      return ok({
        ...(sb.state.snapshot(Date.now()) as object),
        stats: sb.statsJson(),
        faults: sb.faults.all(),
        seeded: sb.seeded ?? null,
      });
    case 'GET /_sandbox/accounts':
      return ok(sb.accounts.describe());
    case 'GET /_sandbox/sts/deny-assume':
      return ok({ accounts: [...sb.accounts.denied].sort() });
    case 'POST /_sandbox/sts/deny-assume': {
      sb.accounts.denied.clear();
      for (const a of parse(DenyAssumeBody, body).accounts) sb.accounts.denied.add(a);
      return ok({ accounts: [...sb.accounts.denied].sort() });
    }
    case 'GET /_sandbox/stats':
      return ok(sb.statsJson());
    case 'DELETE /_sandbox/stats':
      sb.stats.clear();
      return ok();
    case 'GET /_sandbox/seed':
      return ok(sb.seeded ?? null);
    case 'GET /_sandbox/faults':
      return ok(sb.faults.all());
    case 'POST /_sandbox/faults':
      return { status: 201, body: sb.faults.add(parse(FaultSchema, body)) };
    case 'DELETE /_sandbox/faults':
      sb.faults.clear();
      return ok();
    case 'GET /_sandbox/latency':
      return ok({ rules: sb.latency.rules });
    case 'POST /_sandbox/latency': {
      const b = parse(LatencyBody, body);
      sb.latency.rules = 'rules' in b ? b.rules : [...sb.latency.rules, b];
      return ok({ rules: sb.latency.rules });
    }
    case 'DELETE /_sandbox/latency':
      sb.latency.rules = [];
      return ok();
    case 'GET /_sandbox/throttling':
      return ok(sb.throttler.describe());
    case 'POST /_sandbox/throttling':
      sb.throttler.configure(parse(ThrottleOptionsSchema, body));
      return ok(sb.throttler.describe());
    case 'GET /_sandbox/config':
      return ok(configJson(sb));
    case 'POST /_sandbox/config': {
      const b = parse(ConfigBody, body);
      if (b.imds_apply_delay_ms !== undefined) sb.behaviour.imdsApplyDelayMs = b.imds_apply_delay_ms;
      if (b.ssm_command_ms !== undefined) sb.behaviour.ssmCommandMs = b.ssm_command_ms;
      if (b.ssm_outcome !== undefined) sb.behaviour.ssmOutcome = b.ssm_outcome;
      return ok(configJson(sb));
    }
  }
  let m = /^POST \/_sandbox\/ec2\/instances\/([^/]+)\/state$/.exec(at);
  if (m) {
    const found = sb.findInstance(decodeURIComponent(m[1] ?? ''));
    if (!found) throw new AdminError(404, `no instance ${m[1]}`);
    found.instance.state = parse(InstanceStateBody, body).state;
    return ok({ instance_id: found.instance.instanceId, region: found.region, state: found.instance.state });
  }
  m = /^GET \/_sandbox\/accounts\/(\d{12})\/state$/.exec(at);
  if (m) {
    const state = sb.accounts.get(m[1] ?? '');
    for (const r of state.regions.values()) settleCommands(r, Date.now());
    return ok(state.snapshot(Date.now()));
  }
  m = /^POST \/_sandbox\/iam\/access-keys\/([^/]+)$/.exec(at);
  if (m) {
    const found = sb.state.findAccessKey(decodeURIComponent(m[1] ?? ''));
    if (!found) throw new AdminError(404, `no access key ${m[1]}`);
    const b = parse(KeyBody, body);
    found.key.createDate = b.create_date ? Date.parse(b.create_date) : Date.now() - (b.age_days ?? 0) * DAY_MS;
    return ok({ access_key_id: found.key.accessKeyId, create_date: new Date(found.key.createDate).toISOString() });
  }
  m = /^POST \/_sandbox\/ssm\/instances\/([^/]+)\/outcome$/.exec(at);
  if (m) {
    const id = decodeURIComponent(m[1] ?? '');
    const status = parse(SsmOutcomeBody, body).status;
    sb.behaviour.ssmInstanceOutcomes.set(id, status);
    return ok({ instance_id: id, status });
  }
  throw new AdminError(404, `no admin route ${at}`);
}

function configJson(sb: Sandbox) {
  const b = sb.behaviour;
  return {
    imds_apply_delay_ms: b.imdsApplyDelayMs,
    ssm_command_ms: b.ssmCommandMs,
    ssm_outcome: b.ssmOutcome,
    ssm_instance_outcomes: Object.fromEntries(b.ssmInstanceOutcomes),
  };
}
