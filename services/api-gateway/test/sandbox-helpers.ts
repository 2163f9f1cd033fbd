import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import type { Stack } from '@aegis/testkit';

/** The real SDK against the stack's aws-sandbox. */
export function ec2(stack: Stack): EC2Client {
  return new EC2Client({
    endpoint: stack.sandboxUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 5,
  });
}

let n = 0;
/** A group open to the world on 22 (plus a private 22 rule), on 3389 over IPv6, and on 443. */
export async function openGroup(client: EC2Client, extra: IpPermission[] = []): Promise<string> {
  const g = await client.send(
    new CreateSecurityGroupCommand({ GroupName: `e2e-${process.pid}-${Date.now()}-${n++}`, Description: 'e2e' }),
  );
  const id = g.GroupId as string;
  await client.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: id,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }] },
        { IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ...extra,
      ],
    }),
  );
  return id;
}

/** Every ingress grant as `proto from-to cidr`, sorted. */
export async function grants(client: EC2Client, groupId: string): Promise<string[]> {
  const out = await client.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  const perms = out.SecurityGroups?.[0]?.IpPermissions ?? [];
  return perms
    .flatMap((p) =>
      [...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6)].map(
        (c) => `${p.IpProtocol} ${p.FromPort ?? -1}-${p.ToPort ?? -1} ${c}`,
      ),
    )
    .sort();
}

export async function ingest(
  stack: Stack,
  findings: { id: string; handler: string; resource_id: string; region?: string }[],
): Promise<void> {
  const r = await stack.api('POST', '/api/v1/findings', {
    findings: findings.map((f) => ({
      provider: 'aws',
      account_id: '123456789012',
      region: f.region ?? 'us-east-1',
      severity: 'high',
      title: 'e2e',
      ...f,
    })),
  });
  if (r.status !== 200) throw new Error(`ingest failed: ${r.status} ${r.text}`);
}

export interface BatchStatus {
  batch_id: string;
  status: string;
  completed: number;
  failed: number;
  pending: number;
  cancelled: number;
  rollback_status: string;
  items: { finding_id: string; state: string; error: string | null; attempts: number; snapshot_id: string | null }[];
}

export async function waitBatch(stack: Stack, batchId: string, timeoutMs = 60_000): Promise<BatchStatus> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await stack.api('GET', `/api/v1/remediations/${batchId}`);
    const b = r.body as BatchStatus;
    if (['completed', 'completed_with_failures', 'stopped'].includes(b.status) && b.pending === 0) return b;
    if (Date.now() > end) throw new Error(`batch ${batchId} not finished: ${r.text.slice(0, 500)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** Dry run then execute; returns the batch id. */
export async function remediate(stack: Stack, ids: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const dry = await stack.api('POST', '/api/v1/remediations', { finding_ids: ids, dry_run: true });
  if (dry.status !== 200) throw new Error(`dry run failed: ${dry.status} ${dry.text}`);
  const batchId = (dry.body as { batch_id: string }).batch_id;
  const ex = await stack.api('POST', '/api/v1/remediations', {
    batch_id: batchId,
    finding_ids: ids,
    dry_run: false,
    ...extra,
  });
  if (ex.status !== 202) throw new Error(`execute failed: ${ex.status} ${ex.text}`);
  return batchId;
}

export async function sandboxAdmin(stack: Stack, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${stack.sandboxUrl}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : null,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`sandbox ${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
