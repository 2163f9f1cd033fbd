import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRedis, type RedisClient } from '../../packages/core/src';
import type { Stack } from '../../packages/testkit/src';
import { sandboxAdmin, type BatchStatus } from '../../services/api-gateway/test/sandbox-helpers';

/** `AEGIS_CHAOS_SCALE=large` (pnpm test:chaos): more items, more faults, and the one 60 s conflict wait. */
export const LARGE = process.env.AEGIS_CHAOS_SCALE === 'large';

export const TERMINAL = ['succeeded', 'noop', 'failed', 'timed_out', 'cancelled'];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `read` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, read: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(150);
  }
}

/** A Redis client of the test's own, on the stack's Redis (waits through a restart like the services do). */
export function redisOf(stack: Stack): RedisClient {
  const r = createRedis({ url: stack.redisUrl }, 'worker');
  r.on('error', () => undefined);
  return r;
}

// --- the aws-sandbox, over its Query protocol (unsigned calls are routed by Action and Version)

const EC2 = '2016-11-15';
const IAM = '2010-05-08';

async function query(stack: Stack, version: string, params: Record<string, string>): Promise<string> {
  const r = await fetch(`${stack.sandboxUrl}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...params, Version: version }).toString(),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`sandbox ${params.Action ?? '?'}: ${r.status} ${text.slice(0, 300)}`);
  return text;
}

function xmlValues(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1] ?? '');
}

let seq = 0;
const unique = (what: string) => `chaos-${what}-${process.pid}-${Date.now().toString(36)}-${seq++}`;

/** A running instance with IMDSv1 allowed (HttpTokens=optional) and hop limit 2. */
export async function imdsv1Instance(stack: Stack): Promise<string> {
  const xml = await query(stack, EC2, {
    Action: 'RunInstances',
    ImageId: 'ami-12345678',
    MinCount: '1',
    MaxCount: '1',
    'MetadataOptions.HttpTokens': 'optional',
    'MetadataOptions.HttpPutResponseHopLimit': '2',
  });
  const id = xmlValues(xml, 'instanceId')[0];
  if (!id) throw new Error(`RunInstances answered no instance id: ${xml.slice(0, 300)}`);
  return id;
}

/** An IAM user with one active key 120 days old (to deactivate) and one fresh active key (to keep). */
export async function userWithStaleKey(stack: Stack): Promise<{ user: string; stale: string; fresh: string }> {
  const user = unique('user');
  await query(stack, IAM, { Action: 'CreateUser', UserName: user });
  const keys: string[] = [];
  for (let i = 0; i < 2; i++) {
    const xml = await query(stack, IAM, { Action: 'CreateAccessKey', UserName: user });
    const id = xmlValues(xml, 'AccessKeyId')[0];
    if (!id) throw new Error(`CreateAccessKey answered no key id: ${xml.slice(0, 300)}`);
    keys.push(id);
  }
  const [stale, fresh] = keys as [string, string];
  await sandboxAdmin(stack, 'POST', `/_sandbox/iam/access-keys/${stale}`, { age_days: 120 });
  return { user, stale, fresh };
}

export interface SandboxRule {
  protocol: string;
  fromPort?: number;
  toPort?: number;
  cidrIpv4?: string;
  cidrIpv6?: string;
}
export interface SandboxState {
  regions: Record<
    string,
    {
      security_groups: { groupId: string; ingress: SandboxRule[] }[];
      instances: {
        instanceId: string;
        metadata: { httpTokens: string; httpEndpoint: string; httpPutResponseHopLimit: number; state: string };
      }[];
    }
  >;
  iam_users: { userName: string; keys: { accessKeyId: string; status: string }[] }[];
  stats: Record<string, { calls: number; throttled: number; faulted: number; errors: number }>;
}

export async function sandboxState(stack: Stack): Promise<SandboxState> {
  return (await sandboxAdmin(stack, 'GET', '/_sandbox/state')) as SandboxState;
}

/** A resource's state in a form to compare: SG rules, IMDS options, or key statuses. */
export function resourceView(state: SandboxState, resourceId: string): string {
  const region = state.regions['us-east-1'];
  const sg = region?.security_groups.find((g) => g.groupId === resourceId);
  if (sg)
    return sg.ingress
      .map((r) => `${r.protocol} ${r.fromPort ?? -1}-${r.toPort ?? -1} ${r.cidrIpv4 ?? r.cidrIpv6 ?? '?'}`)
      .sort()
      .join(', ');
  const inst = region?.instances.find((i) => i.instanceId === resourceId);
  if (inst) {
    const m = inst.metadata;
    return `tokens=${m.httpTokens} endpoint=${m.httpEndpoint} hops=${m.httpPutResponseHopLimit}`;
  }
  const user = state.iam_users.find((u) => u.userName === resourceId);
  if (user)
    return user.keys
      .map((k) => `${k.accessKeyId}=${k.status}`)
      .sort()
      .join(', ');
  throw new Error(`no resource ${resourceId} in the sandbox`);
}

// --- snapshots on disk

export interface SnapshotFile {
  snapshot_id: string;
  batch_id: string;
  finding_id: string;
  resource_id: string;
  taken_at: string;
  previous_state: unknown;
  mtimeMs: number;
}

export function snapshotFiles(stack: Stack, batchId: string): SnapshotFile[] {
  const dir = join(stack.snapshotDir, 'remediations', batchId);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({
      ...(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<SnapshotFile, 'mtimeMs'>),
      mtimeMs: statSync(join(dir, f)).mtimeMs,
    }));
}

/** Every file under a folder, relative paths (what a refused request must not add to). */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

// --- the launcher's processes

export function pidOf(stack: Stack, name: string): number {
  const pid = stack.state().pids[name];
  if (!pid) throw new Error(`no pid for ${name} in the stack state`);
  return pid;
}

/** The launcher's lines saying a process died and is being restarted. */
export function restartLines(stack: Stack, name?: string): string[] {
  return stack
    .output()
    .split('\n')
    .filter((l) => /^aegis: \S+ exited .*; restarting/.test(l) && (!name || l.startsWith(`aegis: ${name} exited`)));
}

/** SIGKILL a service by its pid, then wait until the launcher has started it again and it is ready. */
export async function killAndAwaitRestart(stack: Stack, name: string, readyMsg: string): Promise<number> {
  const old = pidOf(stack, name);
  const readyBefore = countLines(stack, name, readyMsg);
  process.kill(old, 'SIGKILL');
  const fresh = await until(`${name} restarted`, 90_000, async () => {
    const pid = stack.state().pids[name];
    return pid && pid !== old ? pid : undefined;
  });
  await until(`${name} ready again`, 90_000, async () =>
    countLines(stack, name, readyMsg) > readyBefore ? true : undefined,
  );
  return fresh;
}

function countLines(stack: Stack, name: string, msg: string): number {
  const service = name.replace(/-\d+$/, '');
  return stack.logs().filter((l) => l.msg === msg && (l.service === service || l.service === name)).length;
}

// --- batches

export interface ItemStatus {
  finding_id: string;
  state: string;
  error: string | null;
  attempts: number;
  snapshot_id: string | null;
  started_at: string | null;
  finished_at: string | null;
  resource_id: string;
  tier: string;
}
export type FullStatus = Omit<BatchStatus, 'items'> & {
  items: ItemStatus[];
  counts: Record<string, number>;
};

export async function batchStatus(stack: Stack, batchId: string): Promise<FullStatus> {
  const r = await stack.api('GET', `/api/v1/remediations/${batchId}`);
  if (r.status !== 200) throw new Error(`status of ${batchId}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.body as FullStatus;
}

/** Dry run only: the batch id and each finding's state as the dry run read it. */
export async function dryRun(stack: Stack, ids: string[]): Promise<{ batchId: string; before: Map<string, unknown> }> {
  const dry = await stack.api('POST', '/api/v1/remediations', { finding_ids: ids, dry_run: true });
  if (dry.status !== 200) throw new Error(`dry run failed: ${dry.status} ${dry.text.slice(0, 300)}`);
  const body = dry.body as { batch_id: string; actions_preview: { finding_id: string; current_state: unknown }[] };
  return { batchId: body.batch_id, before: new Map(body.actions_preview.map((a) => [a.finding_id, a.current_state])) };
}

export async function execute(stack: Stack, batchId: string, ids: string[]): Promise<void> {
  const ex = await stack.api('POST', '/api/v1/remediations', { batch_id: batchId, finding_ids: ids, dry_run: false });
  if (ex.status !== 202) throw new Error(`execute failed: ${ex.status} ${ex.text.slice(0, 300)}`);
}

/** Every outcome record of a batch in the report store (one per finished item, exactly). */
export async function outcomesOf(redis: RedisClient, batchId: string): Promise<string[]> {
  const raws = await redis.zrangebyscore('aegis:outcomes', '-inf', '+inf');
  return raws
    .map((r) => JSON.parse(r) as { batch_id: string; finding_id: string })
    .filter((o) => o.batch_id === batchId)
    .map((o) => o.finding_id);
}

export interface Audit {
  lost: number;
  withoutSnapshot: number;
  duplicates: number;
  problems: string[];
}

/**
 * What a finished batch must show whatever broke on the way: every item in one terminal state,
 * counters that add up, one outcome per item, every changed resource snapshotted before its
 * change (the snapshot holds the state the dry run read), one snapshot per item, and every
 * resource exactly as a single run would leave it.
 */
export async function auditBatch(
  stack: Stack,
  redis: RedisClient,
  batch: { batchId: string; before: Map<string, unknown> },
  expected: Map<string, { resourceId: string; initial: string; final: string }>,
): Promise<Audit & { status: FullStatus }> {
  const status = await batchStatus(stack, batch.batchId);
  const problems: string[] = [];
  let lost = 0;
  let withoutSnapshot = 0;
  let duplicates = 0;
  const items = new Map(status.items.map((i) => [i.finding_id, i]));
  for (const id of expected.keys()) {
    const it = items.get(id);
    if (!it || !TERMINAL.includes(it.state)) {
      lost++;
      problems.push(`${id}: not in a terminal state (${it?.state ?? 'missing'})`);
    }
  }
  const counts = status.counts;
  const sum = Object.values(counts).reduce((a, b) => a + b, 0);
  if (sum !== expected.size || status.items.length !== expected.size)
    problems.push(`counts add up to ${sum}, items ${status.items.length}, expected ${expected.size}`);
  for (const [state, n] of Object.entries(counts)) {
    const actual = status.items.filter((i) => i.state === state).length;
    if (actual !== n) problems.push(`counts.${state} = ${n} but ${actual} items are ${state}`);
  }
  if (status.completed + status.failed + status.pending + status.cancelled !== expected.size)
    problems.push(`completed+failed+pending+cancelled != ${expected.size}`);

  const outcomes = await outcomesOf(redis, batch.batchId);
  for (const id of expected.keys()) {
    const n = outcomes.filter((o) => o === id).length;
    if (n !== 1) {
      if (n === 0) lost++;
      else duplicates++;
      problems.push(`${id}: ${n} outcome records`);
    }
  }

  const snaps = snapshotFiles(stack, batch.batchId);
  const sandbox = await sandboxState(stack);
  for (const [id, e] of expected) {
    const mine = snaps.filter((s) => s.finding_id === id);
    if (mine.length > 1) {
      duplicates++;
      problems.push(`${id}: ${mine.length} snapshots`);
    }
    const now = resourceView(sandbox, e.resourceId);
    if (now !== e.final) {
      duplicates++;
      problems.push(`${id}: ${e.resourceId} is [${now}], a single run leaves [${e.final}]`);
    }
    if (now === e.initial) continue;
    const snap = mine[0];
    const item = items.get(id);
    const before = JSON.stringify(batch.before.get(id));
    if (!snap || JSON.stringify(snap.previous_state) !== before) {
      withoutSnapshot++;
      problems.push(`${id}: ${e.resourceId} changed without a snapshot of its state before the change`);
    } else if (item?.finished_at && Date.parse(snap.taken_at) > Date.parse(item.finished_at)) {
      withoutSnapshot++;
      problems.push(`${id}: snapshot taken after the item finished`);
    }
  }
  return { lost, withoutSnapshot, duplicates, problems, status };
}
