import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { awsError, useSandbox } from './helpers';

const { sb, c } = useSandbox({ seed: true });

describe('IAM users and access keys', () => {
  it('creates and gets a user; NoSuchEntity (404) and EntityAlreadyExists (409)', async () => {
    const u = await c().iam.send(new CreateUserCommand({ UserName: 'alice' }));
    expect(u.User).toMatchObject({ UserName: 'alice', Arn: 'arn:aws:iam::123456789012:user/alice', Path: '/' });
    expect(u.User?.CreateDate).toBeInstanceOf(Date);
    expect((await c().iam.send(new GetUserCommand({ UserName: 'alice' }))).User?.UserId).toBe(u.User?.UserId);
    expect(await awsError(c().iam.send(new GetUserCommand({ UserName: 'nobody' })))).toMatchObject({
      code: 'NoSuchEntity',
      status: 404,
    });
    expect(await awsError(c().iam.send(new CreateUserCommand({ UserName: 'alice' })))).toMatchObject({
      code: 'EntityAlreadyExists',
      status: 409,
    });
  });

  it('creates, lists, deactivates, reports last use of and deletes access keys', async () => {
    await c().iam.send(new CreateUserCommand({ UserName: 'bob' }));
    const k = (await c().iam.send(new CreateAccessKeyCommand({ UserName: 'bob' }))).AccessKey;
    expect(k?.AccessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(k?.SecretAccessKey).toHaveLength(40);
    expect(k?.Status).toBe('Active');
    await c().iam.send(
      new UpdateAccessKeyCommand({ UserName: 'bob', AccessKeyId: k?.AccessKeyId, Status: 'Inactive' }),
    );
    const list = await c().iam.send(new ListAccessKeysCommand({ UserName: 'bob' }));
    expect(list.AccessKeyMetadata).toEqual([
      expect.objectContaining({ AccessKeyId: k?.AccessKeyId, Status: 'Inactive', UserName: 'bob' }),
    ]);
    const never = await c().iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k?.AccessKeyId }));
    expect(never).toMatchObject({ UserName: 'bob', AccessKeyLastUsed: { ServiceName: 'N/A', Region: 'N/A' } });

    // a call signed with the key records its last use, and STS knows whose key it is
    const asBob = new STSClient({
      region: 'eu-west-1',
      endpoint: sb().url,
      credentials: { accessKeyId: k?.AccessKeyId ?? '', secretAccessKey: k?.SecretAccessKey ?? '' },
    });
    try {
      expect((await asBob.send(new GetCallerIdentityCommand({}))).Arn).toBe('arn:aws:iam::123456789012:user/bob');
    } finally {
      asBob.destroy();
    }
    const used = await c().iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k?.AccessKeyId }));
    expect(used.AccessKeyLastUsed).toMatchObject({ ServiceName: 'sts', Region: 'eu-west-1' });
    expect(used.AccessKeyLastUsed?.LastUsedDate).toBeInstanceOf(Date);

    await c().iam.send(new CreateAccessKeyCommand({ UserName: 'bob' }));
    expect(await awsError(c().iam.send(new CreateAccessKeyCommand({ UserName: 'bob' })))).toMatchObject({
      code: 'LimitExceeded',
      status: 409,
    });
    await c().iam.send(new DeleteAccessKeyCommand({ UserName: 'bob', AccessKeyId: k?.AccessKeyId }));
    expect((await c().iam.send(new ListAccessKeysCommand({ UserName: 'bob' }))).AccessKeyMetadata).toHaveLength(1);
    expect(
      await awsError(c().iam.send(new DeleteAccessKeyCommand({ UserName: 'bob', AccessKeyId: k?.AccessKeyId }))),
    ).toMatchObject({
      code: 'NoSuchEntity',
      status: 404,
    });
    expect(
      (
        await awsError(
          c().iam.send(
            new UpdateAccessKeyCommand({ UserName: 'bob', AccessKeyId: 'AKIAXXXXXXXXXXXXXXXX', Status: 'Active' }),
          ),
        )
      ).code,
    ).toBe('NoSuchEntity');
    expect((await awsError(c().iam.send(new ListAccessKeysCommand({ UserName: 'nobody' })))).code).toBe('NoSuchEntity');
  });

  it('seeds a user with a 120-day-old key, and the admin helper can age keys', async () => {
    const seeded = sb().seeded();
    const keys = await c().iam.send(new ListAccessKeysCommand({ UserName: seeded?.iam_user }));
    const created = keys.AccessKeyMetadata?.[0]?.CreateDate?.getTime() ?? 0;
    expect(Math.round((Date.now() - created) / 86_400_000)).toBe(120);
    const res = await fetch(`${sb().url}/_sandbox/iam/access-keys/${seeded?.access_key_id}`, {
      method: 'POST',
      body: JSON.stringify({ create_date: '2020-01-02T03:04:05Z' }),
    });
    expect(res.status).toBe(200);
    const again = await c().iam.send(new ListAccessKeysCommand({ UserName: seeded?.iam_user }));
    expect(again.AccessKeyMetadata?.[0]?.CreateDate?.toISOString()).toBe('2020-01-02T03:04:05.000Z');
    sb().setAccessKeyCreateDate(seeded?.access_key_id ?? '', new Date('2021-01-01T00:00:00Z'));
    const third = await c().iam.send(new ListAccessKeysCommand({ UserName: seeded?.iam_user }));
    expect(third.AccessKeyMetadata?.[0]?.CreateDate?.getUTCFullYear()).toBe(2021);
  });

  it('answers the global IAM endpoint whatever region the client is in', async () => {
    const west = new IAMClient({
      region: 'us-west-2',
      endpoint: sb().url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    try {
      expect((await west.send(new GetUserCommand({ UserName: 'alice' }))).User?.UserName).toBe('alice');
    } finally {
      west.destroy();
    }
  });
});

describe('STS', () => {
  it('accepts any credentials and answers the sandbox account', async () => {
    const id = await c().sts.send(new GetCallerIdentityCommand({}));
    expect(id).toMatchObject({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:root' });
  });
});
