import {
  DescribeInstancesCommand,
  EC2Client,
  ModifyInstanceMetadataOptionsCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetDetectorCommand, GuardDutyClient, ListDetectorsCommand } from '@aws-sdk/client-guardduty';
import { IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { GetPublicAccessBlockCommand, S3Client } from '@aws-sdk/client-s3';
import type { Stack } from '@aegis/testkit';

/** The real SDK against a stack's aws-sandbox, one client per service (regions where they matter). */
export function cloud(stack: Stack) {
  const base = {
    endpoint: stack.sandboxUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 5,
  };
  const gd = new Map<string, GuardDutyClient>();
  return {
    ec2: new EC2Client(base),
    s3: new S3Client({ ...base, forcePathStyle: true }),
    iam: new IAMClient(base),
    guardduty(region: string): GuardDutyClient {
      let c = gd.get(region);
      if (!c) gd.set(region, (c = new GuardDutyClient({ ...base, region })));
      return c;
    },
    destroy() {
      for (const c of [this.ec2, this.s3, this.iam, ...gd.values()]) c.destroy();
    },
  };
}
export type Cloud = ReturnType<typeof cloud>;

/** An instance with IMDSv1 allowed and hop limit 2 (so a rollback must bring both back). */
export async function imdsV1Instance(c: Cloud): Promise<string> {
  const run = await c.ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-12c6146b', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
  );
  const id = run.Instances?.[0]?.InstanceId as string;
  await c.ec2.send(
    new ModifyInstanceMetadataOptionsCommand({
      InstanceId: id,
      HttpTokens: 'optional',
      HttpEndpoint: 'enabled',
      HttpPutResponseHopLimit: 2,
    }),
  );
  return id;
}

export async function metadataOptions(c: Cloud, instanceId: string) {
  const out = await c.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const m = out.Reservations?.[0]?.Instances?.[0]?.MetadataOptions ?? {};
  return { HttpTokens: m.HttpTokens, HttpEndpoint: m.HttpEndpoint, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit };
}

/** The bucket's PublicAccessBlock, or null when it has none. */
export async function publicAccessBlock(c: Cloud, bucket: string) {
  try {
    const out = await c.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    return out.PublicAccessBlockConfiguration ?? {};
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchPublicAccessBlockConfiguration') return null;
    throw err;
  }
}

export async function accessKeys(c: Cloud, userName: string) {
  const out = await c.iam.send(new ListAccessKeysCommand({ UserName: userName }));
  return (out.AccessKeyMetadata ?? [])
    .map((k) => ({ id: k.AccessKeyId, status: k.Status }))
    .sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

/** The region's detectors with what GuardDuty says of each. */
export async function detectors(c: Cloud, region: string) {
  const gd = c.guardduty(region);
  const ids = (await gd.send(new ListDetectorsCommand({}))).DetectorIds ?? [];
  return Promise.all(
    ids.map(async (id) => {
      const d = await gd.send(new GetDetectorCommand({ DetectorId: id }));
      return { id, Status: d.Status, FindingPublishingFrequency: d.FindingPublishingFrequency };
    }),
  );
}

export interface RollbackRecordView {
  snapshot_id: string;
  finding_id: string;
  handler: string;
  state: string;
  error?: string;
  message?: string;
}

/** Polls the batch until its rollback_status leaves `rolling_back`; returns the status and records. */
export async function waitRollback(
  stack: Stack,
  batchId: string,
  timeoutMs = 45_000,
): Promise<{ rollback_status: string; rollbacks: RollbackRecordView[] }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await stack.api('GET', `/api/v1/remediations/${batchId}`);
    const b = r.body as { rollback_status: string; rollbacks: RollbackRecordView[] };
    if (b.rollback_status !== 'rolling_back' && b.rollback_status !== 'none') return b;
    if (Date.now() > end) throw new Error(`rollback of ${batchId} not finished: ${r.text.slice(0, 800)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

export interface SnapshotEntry {
  snapshot_id: string;
  resource_id: string;
  handler: string;
  taken_at: string;
  finding_id: string;
  expires_at: string;
}

export async function snapshotsOf(stack: Stack, batchId: string): Promise<SnapshotEntry[]> {
  const r = await stack.api('GET', `/api/v1/remediations/${batchId}/snapshots`);
  if (r.status !== 200) throw new Error(`snapshots of ${batchId}: ${r.status} ${r.text}`);
  return r.body as SnapshotEntry[];
}

/** One sample of a Prometheus exposition text, or 0. */
export function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /^[^{]+\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const got = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[2]);
  }
  return 0;
}

/** The snapshot service's /metrics, as Prometheus scrapes it. */
export async function snapshotMetrics(stack: Stack): Promise<string> {
  const port = stack.state().ports.snapshot;
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}
