import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { classifyError } from '@aegis/core';
import { startSandbox, type SandboxHandle } from '../../../services/aws-sandbox/src';
import { AssumedRoles, CloudClients } from '../src';

const access = { roleName: 'AegisRemediation', sessionName: 'aegis-test', stsRegion: 'us-east-1' };

describe('per-account clients (forAccount)', () => {
  let sb: SandboxHandle;
  let clients: CloudClients;
  beforeAll(async () => {
    sb = await startSandbox({
      port: 0,
      seed: false,
      throttling: false,
      logLevel: 'silent',
      denyAssume: ['333333333333'],
    });
    clients = new CloudClients({
      cloud: 'sandbox',
      sandboxPort: sb.port,
      maxAttempts: 1,
      accounts: { ...access, roles: { '222222222222': 'arn:aws:iam::222222222222:role/Other' } },
    });
  });
  afterAll(async () => {
    clients.destroy();
    await sb.close();
  });

  const who = async (c: CloudClients) => (await c.sts('us-east-1').send(new GetCallerIdentityCommand({}))).Arn;

  it('signs the home account with the ambient credentials and others with an assumed role, reusing clients', async () => {
    expect(await who(clients.forAccount('123456789012'))).toBe('arn:aws:iam::123456789012:root');
    expect(await who(clients.forAccount('111111111111'))).toBe(
      'arn:aws:sts::111111111111:assumed-role/AegisRemediation/aegis-test',
    );
    expect(await who(clients.forAccount('222222222222'))).toBe(
      'arn:aws:sts::222222222222:assumed-role/Other/aegis-test',
    );
    expect(clients.forAccount('111111111111')).toBe(clients.forAccount('111111111111'));
    expect(clients.forAccount('111111111111').ec2('eu-west-1')).toBe(
      clients.forAccount('111111111111').ec2('eu-west-1'),
    );
    expect(clients.forAccount('111111111111').ec2('eu-west-1')).not.toBe(
      clients.forAccount('222222222222').ec2('eu-west-1'),
    );
    expect(clients.forAccount('111111111111').forAccount('222222222222')).toBe(clients.forAccount('111111111111'));
    for (let i = 0; i < 5; i++)
      await clients.forAccount('111111111111').ec2('eu-west-1').send(new DescribeSecurityGroupsCommand({}));
    // One AssumeRole per assumed account, however many calls.
    expect(sb.stats()['sts:AssumeRole']?.calls).toBe(2);
  });

  it("fails an account whose role refuses AssumeRole with AccessDenied, and only that account's calls", async () => {
    const err = await clients
      .forAccount('333333333333')
      .ec2('us-east-1')
      .send(new DescribeSecurityGroupsCommand({}))
      .catch((e: unknown) => e);
    expect(classifyError(err)).toMatchObject({ class: 'permanent', code: 'AccessDenied' });
    await expect(
      clients.forAccount('111111111111').ec2('us-east-1').send(new DescribeSecurityGroupsCommand({})),
    ).resolves.toBeDefined();
  });

  it('renews assumed credentials shortly before they expire', async () => {
    let now = Date.now();
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: sb.url,
      credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
    });
    const roles = new AssumedRoles(
      { ...access, durationSeconds: 900 },
      () => sts,
      () => now,
    );
    const a = await roles.credentials('444444444444');
    expect(await roles.credentials('444444444444')).toBe(a);
    now += 9 * 60_000; // 6 minutes left: still fresh
    expect(await roles.credentials('444444444444')).toBe(a);
    now += 2 * 60_000; // 4 minutes left: renewed
    const b = await roles.credentials('444444444444');
    expect(b.accessKeyId).not.toBe(a.accessKeyId);
    expect(b.accessKeyId).toMatch(/^ASIA444444444444/);
    sts.destroy();
  });
});
