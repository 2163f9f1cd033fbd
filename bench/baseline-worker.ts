/**
 * The floor the dispatcher is measured against: a bare BullMQ worker that fixes an open-SSH
 * security group with the same three SDK calls as block-public-ssh (describe, revoke, describe),
 * with no snapshot, no state records, no logs and no metrics. Run as its own process, like a
 * tier worker. Environment: REDIS_URL, BENCH_QUEUE, BENCH_PREFIX, BENCH_ENDPOINT, BENCH_CONCURRENCY.
 */
import { DescribeSecurityGroupsCommand, EC2Client, RevokeSecurityGroupIngressCommand, Worker } from './lib/deps';

const need = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`baseline worker: ${k} is not set`);
  return v;
};

const redis = new URL(need('REDIS_URL'));
const ec2 = new EC2Client({
  region: 'us-east-1',
  endpoint: need('BENCH_ENDPOINT'),
  credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
  maxAttempts: 3,
});
const OPEN_SSH = { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };

const worker = new Worker<{ group_id: string }>(
  need('BENCH_QUEUE'),
  async (job) => {
    const GroupId = job.data.group_id;
    const before = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [GroupId] }));
    const open = before.SecurityGroups?.[0]?.IpPermissions?.some(
      (p) => p.FromPort === 22 && p.IpRanges?.some((r) => r.CidrIp === '0.0.0.0/0'),
    );
    if (open) await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId, IpPermissions: [OPEN_SSH] }));
    const after = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [GroupId] }));
    return after.SecurityGroups?.[0]?.IpPermissions?.length ?? 0;
  },
  {
    connection: { host: redis.hostname, port: Number(redis.port), maxRetriesPerRequest: null },
    prefix: need('BENCH_PREFIX'),
    concurrency: Number(need('BENCH_CONCURRENCY')),
  },
);
worker.on('error', (err) => process.stderr.write(`baseline worker: ${err.message}\n`));
void worker.waitUntilReady().then(() => process.stdout.write('baseline worker ready\n'));
process.once('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
