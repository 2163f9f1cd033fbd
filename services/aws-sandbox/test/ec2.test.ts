import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  ModifyInstanceMetadataOptionsCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { awsError, clients, useSandbox } from './helpers';

const { sb, c } = useSandbox({ seed: true });

async function newGroup(name: string, vpcId?: string): Promise<string> {
  const out = await c().ec2.send(
    new CreateSecurityGroupCommand({ GroupName: name, Description: 'test', VpcId: vpcId }),
  );
  expect(out.GroupId).toMatch(/^sg-[0-9a-f]{17}$/);
  return out.GroupId as string;
}

async function ingress(groupId: string) {
  const out = await c().ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return out.SecurityGroups?.[0]?.IpPermissions ?? [];
}

describe('EC2 security groups', () => {
  it('creates, authorizes (IPv4, IPv6, ranges, -1, descriptions) and describes grouped permissions', async () => {
    const g = await newGroup('sg-test-1');
    const out = await c().ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: g,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 22,
            ToPort: 22,
            IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'world' }, { CidrIp: '10.0.0.0/8' }],
          },
          { IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
          { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          { IpProtocol: '-1', IpRanges: [{ CidrIp: '192.168.0.0/16' }] },
        ],
      }),
    );
    expect(out.Return).toBe(true);
    expect(out.SecurityGroupRules).toHaveLength(5);
    expect(out.SecurityGroupRules?.[0]?.SecurityGroupRuleId).toMatch(/^sgr-/);
    const perms = await ingress(g);
    expect(perms).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 22,
        ToPort: 22,
        IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'world' }, { CidrIp: '10.0.0.0/8' }],
        Ipv6Ranges: [],
      }),
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0' }] }),
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 0, ToPort: 65535 }),
      expect.objectContaining({ IpProtocol: '-1', IpRanges: [{ CidrIp: '192.168.0.0/16' }] }),
    ]);
    expect(perms[3]?.FromPort).toBeUndefined();
  });

  it('rejects a duplicate rule with InvalidPermission.Duplicate and adds nothing', async () => {
    const g = await newGroup('sg-test-dup');
    const perm = { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
    await c().ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: g, IpPermissions: [perm] }));
    const e = await awsError(
      c().ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: g,
          IpPermissions: [{ ...perm, IpRanges: [{ CidrIp: '1.2.3.4/32' }] }, perm],
        }),
      ),
    );
    expect(e).toMatchObject({ name: 'InvalidPermission.Duplicate', status: 400 });
    expect(e.message).toContain('already exists');
    expect((await ingress(g))[0]?.IpRanges).toEqual([{ CidrIp: '0.0.0.0/0' }]);
  });

  it('revokes exact rules; unknown rules are listed in the default VPC and fail in another VPC', async () => {
    const g = await newGroup('sg-test-revoke');
    await c().ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: g,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 22,
            ToPort: 22,
            IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }],
          },
        ],
      }),
    );
    const out = await c().ec2.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: g,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    expect(out.Return).toBe(true);
    expect(out.UnknownIpPermissions).toEqual([
      expect.objectContaining({ FromPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }),
    ]);
    expect((await ingress(g))[0]?.IpRanges).toEqual([{ CidrIp: '10.0.0.0/8' }]);

    const other = await newGroup('sg-test-vpc', 'vpc-0123456789abcdef0');
    const e = await awsError(
      c().ec2.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: other,
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          CidrIp: '0.0.0.0/0',
        }),
      ),
    );
    expect(e).toMatchObject({ name: 'InvalidPermission.NotFound', status: 400 });
  });

  it('filters by group-id, group-name and tag, and reports unknown or malformed ids', async () => {
    const g = await newGroup('sg-test-filter');
    await c().ec2.send(new CreateTagsCommand({ Resources: [g], Tags: [{ Key: 'team', Value: 'blue' }] }));
    const byName = await c().ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['sg-test-fil*'] }] }),
    );
    expect(byName.SecurityGroups?.map((x) => x.GroupId)).toEqual([g]);
    const byId = await c().ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: [g] }] }),
    );
    expect(byId.SecurityGroups).toHaveLength(1);
    const byTag = await c().ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:team', Values: ['blue'] }] }),
    );
    expect(byTag.SecurityGroups?.[0]?.Tags).toEqual([{ Key: 'team', Value: 'blue' }]);
    expect(
      await awsError(c().ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-0123456789abcdef0'] }))),
    ).toMatchObject({
      name: 'InvalidGroup.NotFound',
      status: 400,
    });
    expect((await awsError(c().ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['bogus'] })))).name).toBe(
      'InvalidGroupId.Malformed',
    );
    expect(
      (
        await awsError(
          c().ec2.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: 'sg-0123456789abcdef0',
              IpProtocol: 'tcp',
              FromPort: 1,
              ToPort: 1,
              CidrIp: '0.0.0.0/0',
            }),
          ),
        )
      ).name,
    ).toBe('InvalidGroup.NotFound');
    expect(
      (
        await awsError(
          c().ec2.send(new CreateSecurityGroupCommand({ GroupName: 'sg-test-filter', Description: 'again' })),
        )
      ).name,
    ).toBe('InvalidGroup.Duplicate');
  });

  it('answers DryRun with DryRunOperation (412) and changes nothing', async () => {
    const e = await awsError(
      c().ec2.send(new CreateSecurityGroupCommand({ GroupName: 'dry', Description: 'd', DryRun: true })),
    );
    expect(e).toMatchObject({ name: 'DryRunOperation', status: 412 });
    expect(
      (await c().ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['dry'] }] })))
        .SecurityGroups,
    ).toEqual([]);
  });

  it('keeps regions apart (region from the SigV4 credential scope)', async () => {
    const west = clients(sb().url, 'us-west-2');
    try {
      const out = await west.ec2.send(new DescribeSecurityGroupsCommand({}));
      expect(out.SecurityGroups?.map((g) => g.GroupName)).toEqual(['default']);
      expect(
        await awsError(
          west.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [sb().seeded()?.security_group_id ?? ''] })),
        ),
      ).toMatchObject({
        name: 'InvalidGroup.NotFound',
      });
    } finally {
      west.ec2.destroy();
    }
  });
});

describe('EC2 instances', () => {
  it('runs an instance with default metadata options and describes it', async () => {
    const run = await c().ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web' }] }],
      }),
    );
    const i = run.Instances?.[0];
    expect(i?.InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(i?.State).toEqual({ Code: 16, Name: 'running' });
    expect(i?.MetadataOptions).toMatchObject({
      State: 'applied',
      HttpTokens: 'optional',
      HttpEndpoint: 'enabled',
      HttpPutResponseHopLimit: 1,
    });
    const d = await c().ec2.send(new DescribeInstancesCommand({ InstanceIds: [i?.InstanceId ?? ''] }));
    expect(d.Reservations?.[0]?.Instances?.[0]).toMatchObject({
      InstanceId: i?.InstanceId,
      InstanceType: 't3.micro',
      Tags: [{ Key: 'Name', Value: 'web' }],
    });
  });

  it('modifies metadata options: pending, then applied after the configured delay', async () => {
    const id = sb().seeded()?.imds_instance_id ?? '';
    sb().configure({ imdsApplyDelayMs: 150 });
    try {
      const out = await c().ec2.send(
        new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'required', HttpEndpoint: 'enabled' }),
      );
      expect(out.InstanceMetadataOptions).toMatchObject({
        State: 'pending',
        HttpTokens: 'required',
        HttpPutResponseHopLimit: 1,
      });
      const now = await c().ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      expect(now.Reservations?.[0]?.Instances?.[0]?.MetadataOptions?.State).toBe('pending');
      await new Promise((r) => setTimeout(r, 200));
      const later = await c().ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      expect(later.Reservations?.[0]?.Instances?.[0]?.MetadataOptions).toMatchObject({
        State: 'applied',
        HttpTokens: 'required',
        HttpEndpoint: 'enabled',
      });
    } finally {
      sb().configure({ imdsApplyDelayMs: 0 });
    }
    const bad = await awsError(
      c().ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpPutResponseHopLimit: 99 })),
    );
    expect(bad.name).toBe('InvalidParameterValue');
  });

  it('filters instances and reports status; state can be set through the admin helper', async () => {
    const id = sb().seeded()?.patch_instance_id ?? '';
    const f = await c().ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: ['aegis-demo-unpatched'] }] }),
    );
    expect(f.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual([id]);
    const st = await c().ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
    expect(st.InstanceStatuses?.[0]).toMatchObject({
      InstanceId: id,
      InstanceState: { Name: 'running' },
      SystemStatus: { Status: 'ok' },
    });
    sb().setInstanceState(id, 'stopped');
    expect((await c().ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }))).InstanceStatuses).toEqual([]);
    const all = await c().ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id], IncludeAllInstances: true }));
    expect(all.InstanceStatuses?.[0]?.InstanceState).toEqual({ Code: 80, Name: 'stopped' });
    sb().setInstanceState(id, 'terminated');
    expect(
      (
        await awsError(
          c().ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'required' })),
        )
      ).name,
    ).toBe('IncorrectInstanceState');
    sb().setInstanceState(id, 'running');
  });

  it('reports unknown and malformed instance ids as EC2 does', async () => {
    expect(
      await awsError(c().ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] }))),
    ).toMatchObject({
      name: 'InvalidInstanceID.NotFound',
      status: 400,
    });
    expect((await awsError(c().ec2.send(new DescribeInstancesCommand({ InstanceIds: ['nope'] })))).name).toBe(
      'InvalidInstanceID.Malformed',
    );
    expect(
      (
        await awsError(
          c().ec2.send(new CreateTagsCommand({ Resources: ['i-0123456789abcdef0'], Tags: [{ Key: 'a', Value: 'b' }] })),
        )
      ).name,
    ).toBe('InvalidInstanceID.NotFound');
  });
});
