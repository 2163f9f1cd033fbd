import { CreateSecurityGroupCommand, DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { awsError, useSandbox } from './helpers';

const { sb, c } = useSandbox({ seed: true, denyAssume: ['333333333333'] });

async function assume(account: string) {
  const out = await c().sts.send(
    new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/AegisRemediation`, RoleSessionName: 'test' }),
  );
  const cr = out.Credentials;
  if (!cr?.AccessKeyId || !cr.SecretAccessKey || !cr.SessionToken) throw new Error('no credentials');
  return { accessKeyId: cr.AccessKeyId, secretAccessKey: cr.SecretAccessKey, sessionToken: cr.SessionToken };
}

describe('STS AssumeRole and per-account state', () => {
  it('issues temporary credentials whose key id carries the account, and GetCallerIdentity answers it', async () => {
    const out = await c().sts.send(
      new AssumeRoleCommand({
        RoleArn: 'arn:aws:iam::111111111111:role/AegisRemediation',
        RoleSessionName: 'aegis',
        ExternalId: 'x',
        DurationSeconds: 900,
      }),
    );
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA111111111111[A-Z2-7]{4}$/);
    expect(out.Credentials?.Expiration?.getTime()).toBeGreaterThan(Date.now() + 800_000);
    expect(out.AssumedRoleUser?.Arn).toBe('arn:aws:sts::111111111111:assumed-role/AegisRemediation/aegis');
    const sts = new STSClient({ region: 'us-east-1', endpoint: sb().url, credentials: await assume('111111111111') });
    expect((await sts.send(new GetCallerIdentityCommand({}))).Account).toBe('111111111111');
    expect((await c().sts.send(new GetCallerIdentityCommand({}))).Account).toBe('123456789012');
    sts.destroy();
  });

  it('keeps EC2 and S3 state apart per account', async () => {
    const creds = await assume('222222222222');
    const ec2 = new EC2Client({ region: 'eu-west-1', endpoint: sb().url, credentials: creds });
    const s3 = new S3Client({ region: 'us-east-1', endpoint: sb().url, credentials: creds, forcePathStyle: true });
    const g = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'only-in-2', Description: 'x' }));
    const mine = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [g.GroupId as string] }));
    expect(mine.SecurityGroups?.[0]?.OwnerId).toBe('222222222222');
    const home = new EC2Client({
      region: 'eu-west-1',
      endpoint: sb().url,
      credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
    });
    expect(
      await awsError(home.send(new DescribeSecurityGroupsCommand({ GroupIds: [g.GroupId as string] }))),
    ).toMatchObject({ code: 'InvalidGroup.NotFound' });
    await s3.send(new CreateBucketCommand({ Bucket: 'acct-two-bucket' }));
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual(['acct-two-bucket']);
    expect((await c().s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).not.toContain(
      'acct-two-bucket',
    );
    expect(
      sb()
        .account('222222222222')
        .regions.get('eu-west-1')
        ?.securityGroups.has(g.GroupId as string),
    ).toBe(true);
    ec2.destroy();
    s3.destroy();
    home.destroy();
  });

  it('refuses AssumeRole into denied accounts with AccessDenied (403), configurable at run time', async () => {
    const role = { RoleArn: 'arn:aws:iam::333333333333:role/AegisRemediation', RoleSessionName: 'aegis' };
    expect(await awsError(c().sts.send(new AssumeRoleCommand(role)))).toMatchObject({
      code: 'AccessDenied',
      status: 403,
    });
    const deny = await fetch(`${sb().url}/_sandbox/sts/deny-assume`, {
      method: 'POST',
      body: JSON.stringify({ accounts: ['444444444444'] }),
    });
    expect(await deny.json()).toEqual({ accounts: ['444444444444'] });
    await expect(c().sts.send(new AssumeRoleCommand(role))).resolves.toBeDefined();
    expect(
      await awsError(c().sts.send(new AssumeRoleCommand({ ...role, RoleArn: 'arn:aws:iam::444444444444:role/R' }))),
    ).toMatchObject({ code: 'AccessDenied' });
    expect(await awsError(c().sts.send(new AssumeRoleCommand({ ...role, RoleArn: 'not-an-arn' })))).toMatchObject({
      code: 'ValidationError',
    });
    const accounts = (await (await fetch(`${sb().url}/_sandbox/accounts`)).json()) as { accounts: string[] };
    expect(accounts.accounts).toEqual(expect.arrayContaining(['123456789012', '111111111111', '222222222222']));
    sb().denyAssume(['333333333333']);
  });
});
