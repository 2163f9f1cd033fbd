import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { startStack, type Stack } from '@aegis/testkit';
import { grants, ingest, waitBatch } from './sandbox-helpers';

const HOME = '123456789012';
const A = '111111111111';
const B = '222222222222';
const DENIED = '333333333333';
const REGIONS = ['us-east-1', 'eu-west-1'];

/** Findings in several accounts: each change lands in its own account and region, through an assumed role. */
describe('per-account credentials (AssumeRole)', () => {
  let stack: Stack;
  const clients: EC2Client[] = [];
  beforeAll(async () => {
    stack = await startStack({
      env: { AEGIS_SANDBOX_DENY_ASSUME: DENIED, AEGIS_BATCH_MAX_FAILURE_PCT: '60' },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await stack?.stop();
  });

  /** An EC2 client acting in `account` (the home account with plain credentials, others by AssumeRole). */
  async function ec2In(account: string, region: string): Promise<EC2Client> {
    let credentials = { accessKeyId: 'test', secretAccessKey: 'test', sessionToken: undefined as string | undefined };
    if (account !== HOME) {
      const sts = new STSClient({ region, endpoint: stack.sandboxUrl, credentials });
      const c = (
        await sts.send(
          new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/AegisRemediation`, RoleSessionName: 'e2e' }),
        )
      ).Credentials;
      sts.destroy();
      credentials = {
        accessKeyId: c?.AccessKeyId ?? '',
        secretAccessKey: c?.SecretAccessKey ?? '',
        sessionToken: c?.SessionToken,
      };
    }
    const client = new EC2Client({ region, endpoint: stack.sandboxUrl, credentials, maxAttempts: 5 });
    clients.push(client);
    return client;
  }

  async function openGroup(client: EC2Client, name: string): Promise<string> {
    const g = await client.send(new CreateSecurityGroupCommand({ GroupName: name, Description: 'e2e' }));
    await client.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: g.GroupId,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    return g.GroupId as string;
  }

  it('lands each change in its own account and region; the account whose role is refused fails alone', async () => {
    const targets: { account: string; region: string; client: EC2Client; group: string; decoy: string }[] = [];
    for (const account of [HOME, A, B]) {
      for (const region of REGIONS) {
        const client = await ec2In(account, region);
        targets.push({
          account,
          region,
          client,
          group: await openGroup(client, `acct-${region}`),
          decoy: await openGroup(client, `decoy-${region}`),
        });
      }
    }
    const findings = targets.map((t, i) => ({
      id: `acct-${i}`,
      handler: 'block-public-ssh',
      resource_id: t.group,
      account_id: t.account,
      region: t.region,
    }));
    findings.push({
      id: 'acct-denied',
      handler: 'block-public-ssh',
      resource_id: 'sg-0333333333333333a',
      account_id: DENIED,
      region: 'us-east-1',
    });
    await ingest(stack, findings);
    const ids = findings.map((f) => f.id);

    const dry = await stack.api('POST', '/api/v1/remediations', { finding_ids: ids, dry_run: true });
    expect(dry.status).toBe(200);
    const preview = dry.body as { batch_id: string; actions_preview: { finding_id: string; error?: string }[] };
    expect(preview.actions_preview.find((p) => p.finding_id === 'acct-denied')?.error).toBe('AccessDenied');
    expect(preview.actions_preview.filter((p) => p.error)).toHaveLength(1);

    const ex = await stack.api('POST', '/api/v1/remediations', {
      batch_id: preview.batch_id,
      finding_ids: ids,
      dry_run: false,
    });
    expect(ex.status).toBe(202);
    const done = await waitBatch(stack, preview.batch_id);
    expect(done).toMatchObject({ status: 'completed_with_failures', completed: 6, failed: 1 });
    expect(done.items.find((i) => i.finding_id === 'acct-denied')).toMatchObject({
      state: 'failed',
      error: 'AccessDenied',
    });
    expect(done.items.filter((i) => i.state === 'succeeded')).toHaveLength(6);

    for (const t of targets) {
      expect(await grants(t.client, t.group)).toEqual(['tcp 443-443 0.0.0.0/0']);
      // The decoy beside it, same rules, was not a finding: untouched.
      expect(await grants(t.client, t.decoy)).toEqual(['tcp 22-22 0.0.0.0/0', 'tcp 443-443 0.0.0.0/0']);
      // No other account or region has this group.
      for (const o of targets.filter((x) => x !== t)) {
        await expect(o.client.send(new DescribeSecurityGroupsCommand({ GroupIds: [t.group] }))).rejects.toMatchObject({
          name: 'InvalidGroup.NotFound',
        });
      }
    }
    const logs = stack.logs().filter((l) => l.batch_id === preview.batch_id && l.error === 'AccessDenied');
    expect(logs.every((l) => l.finding_id === 'acct-denied')).toBe(true);
  });

  it("refuses to execute a batch whose resources are not in their finding's account and region", async () => {
    const home = await ec2In(HOME, 'us-east-1');
    const group = await openGroup(home, 'scope-home-only');
    // The scanner says account A, but the group lives in the home account.
    const misplaced = [
      { id: 'scope-1', handler: 'block-public-ssh', resource_id: group, account_id: A, region: 'us-east-1' },
    ];
    await ingest(stack, misplaced);
    const dry = await stack.api('POST', '/api/v1/remediations', { finding_ids: ['scope-1'], dry_run: true });
    const batchId = (dry.body as { batch_id: string; actions_preview: { error?: string }[] }).batch_id;
    expect((dry.body as { actions_preview: { error?: string }[] }).actions_preview[0]?.error).toBe(
      'resource_not_found',
    );
    const ex = await stack.api('POST', '/api/v1/remediations', {
      batch_id: batchId,
      finding_ids: ['scope-1'],
      dry_run: false,
    });
    expect(ex.status).toBe(422);
    expect(ex.body).toMatchObject({
      error: { code: 'resource_not_in_scope', details: { items: [{ finding_id: 'scope-1', account_id: A }] } },
    });
    expect(await grants(home, group)).toEqual(['tcp 22-22 0.0.0.0/0', 'tcp 443-443 0.0.0.0/0']);
  });
});
