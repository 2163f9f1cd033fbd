import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Stack } from './stack';
import { IAMClient } from '@aws-sdk/client-iam';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';

/*
 * What end-to-end tests do to a running stack: the real SDK v3 against its aws-sandbox, findings
 * in, dry run, execute, wait, and reading back snapshots, logs and metrics. One copy for every
 * suite (gateway, worker, snapshot, chaos, cluster).
 */

export const ACCOUNT = '123456789012';

/** How a test's SDK clients reach the stack's aws-sandbox. */
const sandboxClientConfig = (stack: Stack) => ({
  endpoint: stack.sandboxUrl,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 8,
});

/** The real SDK against the stack's aws-sandbox. */
export function ec2(stack: Stack): EC2Client {
  return new EC2Client(sandboxClientConfig(stack));
}

/** The real IAM SDK client against the stack's aws-sandbox. */
export function iam(stack: Stack): IAMClient {
  return new IAMClient(sandboxClientConfig(stack));
}

/** SSH open to the world and to 10.0.0.0/8, RDP open over IPv6, HTTPS open to the world. */
export const OPEN_RULES: IpPermission[] = [
  { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }] },
  { IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
  { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
];
/** What block-public-ssh leaves of OPEN_RULES, as `grants()` prints it. */
export const FIXED_GRANTS = ['tcp 22-22 10.0.0.0/8', 'tcp 443-443 0.0.0.0/0'];
export const OPEN_GRANTS = [
  'tcp 22-22 0.0.0.0/0',
  'tcp 22-22 10.0.0.0/8',
  'tcp 3389-3389 ::/0',
  'tcp 443-443 0.0.0.0/0',
];

let seq = 0;
export async function openGroup(client: EC2Client, rules: IpPermission[] = OPEN_RULES): Promise<string> {
  const g = await client.send(
    new CreateSecurityGroupCommand({ GroupName: `e2e-${process.pid}-${Date.now()}-${seq++}`, Description: 'e2e' }),
  );
  const id = g.GroupId as string;
  await client.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: rules }));
  return id;
}

/** `count` groups, a few at a time. */
export async function openGroups(client: EC2Client, count: number, rules: IpPermission[] = OPEN_RULES) {
  const out: string[] = [];
  for (let i = 0; i < count; i += 20)
    out.push(...(await Promise.all(Array.from({ length: Math.min(20, count - i) }, () => openGroup(client, rules)))));
  return out;
}

/** Every ingress grant as `proto from-to cidr`, sorted. */
export async function grants(client: EC2Client, groupId: string): Promise<string[]> {
  return (await grantsOf(client, [groupId]))[groupId] ?? [];
}

/** Grants of many groups, one call per 200 groups. */
export async function grantsOf(client: EC2Client, ids: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < ids.length; i += 200) {
    const r = await client.send(new DescribeSecurityGroupsCommand({ GroupIds: ids.slice(i, i + 200) }));
    for (const g of r.SecurityGroups ?? [])
      out[g.GroupId as string] = (g.IpPermissions ?? [])
        .flatMap((p) =>
          [...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6)].map(
            (c) => `${p.IpProtocol} ${p.FromPort ?? -1}-${p.ToPort ?? -1} ${c}`,
          ),
        )
        .sort();
  }
  return out;
}

export interface FindingSpec {
  id: string;
  handler: string;
  resource_id: string;
  account_id?: string;
  region?: string;
  dependencies?: { resource_id: string; relation: string }[];
}

export async function ingest(stack: Stack, findings: FindingSpec[]): Promise<void> {
  const r = await stack.api('POST', '/api/v1/findings', {
    findings: findings.map((f) => ({
      provider: 'aws',
      account_id: ACCOUNT,
      region: 'us-east-1',
      severity: 'high',
      title: 'e2e',
      ...f,
    })),
  });
  if (r.status !== 200) throw new Error(`ingest failed: ${r.status} ${r.text}`);
}

export interface BatchItem {
  finding_id: string;
  resource_id: string;
  tier: string;
  state: string;
  error: string | null;
  error_message: string | null;
  attempts: number;
  snapshot_id: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface BatchStatus {
  batch_id: string;
  status: string;
  completed: number;
  failed: number;
  pending: number;
  cancelled: number;
  counts: Record<string, number>;
  change_ticket: string | null;
  stop_reason: string | null;
  stop_figures: Record<string, number> | null;
  elapsed_s: number;
  rollback_status: string;
  items: BatchItem[];
}

export async function batch(stack: Stack, batchId: string): Promise<BatchStatus> {
  const r = await stack.api('GET', `/api/v1/remediations/${batchId}`);
  if (r.status !== 200) throw new Error(`status failed: ${r.status} ${r.text}`);
  return r.body as BatchStatus;
}

export async function waitBatch(stack: Stack, batchId: string, timeoutMs = 60_000): Promise<BatchStatus> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const b = await batch(stack, batchId);
    if (['completed', 'completed_with_failures', 'stopped'].includes(b.status) && b.pending === 0) return b;
    if (Date.now() > end) throw new Error(`batch ${batchId} not finished: ${JSON.stringify(b.counts)} ${b.status}`);
    await sleep(250);
  }
}

/** Polls `read` until `ok` holds (or fails with the last value). */
export async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 500)}`);
    await sleep(100);
  }
}

export async function dryRun(stack: Stack, ids: string[]): Promise<string> {
  const r = await stack.api('POST', '/api/v1/remediations', { finding_ids: ids, dry_run: true });
  if (r.status !== 200) throw new Error(`dry run failed: ${r.status} ${r.text}`);
  return (r.body as { batch_id: string }).batch_id;
}

export function execute(stack: Stack, batchId: string, ids: string[], extra: Record<string, unknown> = {}) {
  return stack.api('POST', '/api/v1/remediations', { batch_id: batchId, finding_ids: ids, dry_run: false, ...extra });
}

/** Dry run then execute; returns the batch id. */
export async function remediate(stack: Stack, ids: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const batchId = await dryRun(stack, ids);
  const ex = await execute(stack, batchId, ids, extra);
  if (ex.status !== 202) throw new Error(`execute failed: ${ex.status} ${ex.text}`);
  return batchId;
}

export async function sandboxAdmin<T = unknown>(stack: Stack, method: string, path: string, body?: unknown) {
  const r = await fetch(`${stack.sandboxUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`sandbox ${method} ${path}: ${r.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

export interface CallStats {
  calls: number;
  throttled: number;
  faulted: number;
  errors: number;
}

/** The sandbox's call counters, summed over the operations of `service`. */
export async function sandboxTotals(stack: Stack, service: string): Promise<CallStats> {
  const stats = await sandboxAdmin<Record<string, CallStats>>(stack, 'GET', '/_sandbox/stats');
  const sum: CallStats = { calls: 0, throttled: 0, faulted: 0, errors: 0 };
  for (const [k, s] of Object.entries(stats)) {
    if (!k.startsWith(`${service}:`)) continue;
    sum.calls += s.calls;
    sum.throttled += s.throttled;
    sum.faulted += s.faulted;
    sum.errors += s.errors;
  }
  return sum;
}

/** One process's Prometheus text, by its launcher name (`worker-t1`, …). */
export async function metricsOf(stack: Stack, service: string): Promise<string> {
  const port = stack.state().ports[service];
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return r.text();
}

/** The value of one sample line (`name{labels}`), 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Snapshot documents written for a batch, by snapshot id. */
export function snapshotFiles(stack: Stack, batchId: string): Record<string, Record<string, unknown>> {
  const dir = join(stack.snapshotDir, 'remediations', batchId);
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => [
        f.replace(/\.json$/, ''),
        JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>,
      ]),
  );
}

/** Log lines of the stack whose fields all match. */
export function logLines(stack: Stack, match: Record<string, unknown>): Record<string, unknown>[] {
  return stack.logs().filter((l) => Object.entries(match).every(([k, v]) => l[k] === v));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
