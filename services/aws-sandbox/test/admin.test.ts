import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { parseSandboxEnv, seededIds, startSandbox } from '../src';
import { useSandbox } from './helpers';

const { sb, c } = useSandbox({ seed: true });
const admin = (method: string, path: string, body?: string) => fetch(`${sb().url}/_sandbox/${path}`, { method, body });

describe('admin API', () => {
  it('seeds one misconfiguration per handler, with the ids seededIds() returns', async () => {
    const s = sb().seeded();
    expect(s).toEqual(seededIds());
    expect(await (await admin('GET', 'seed')).json()).toEqual(seededIds());
    const state = (await (await admin('GET', 'state')).json()) as {
      regions: Record<
        string,
        { security_groups: { groupName: string }[]; instances: unknown[]; guardduty_detector: unknown }
      >;
      buckets: { name: string; public_access_block: unknown }[];
      iam_users: { userName: string }[];
      stats: unknown;
    };
    const east = state.regions['us-east-1'];
    expect(east?.security_groups.map((g) => g.groupName)).toContain('aegis-demo-open-ssh');
    expect(east?.instances).toHaveLength(2);
    expect(east?.guardduty_detector).toBeNull();
    expect(state.buckets).toEqual([expect.objectContaining({ name: 'aegis-demo-public', public_access_block: null })]);
    expect(state.iam_users.map((u) => u.userName)).toEqual(['aegis-demo-user']);
    expect(state.stats).toBeDefined();
  });

  it('resets to empty (seed:false) and back to seeded', async () => {
    await c().ec2.send(new DescribeSecurityGroupsCommand({}));
    const r = await admin('POST', 'reset', '{"seed":false}');
    expect(await r.json()).toEqual({ ok: true, seeded: null });
    expect(sb().stats()).toEqual({});
    expect((await c().ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups?.map((g) => g.GroupName)).toEqual(
      ['default'],
    );
    await admin('POST', 'reset');
    expect(sb().seeded()).toEqual(seededIds());
  });

  it('sets instance state and behaviour, and answers 400/404 for bad requests', async () => {
    const id = seededIds().imds_instance_id;
    const r = await admin('POST', `ec2/instances/${id}/state`, '{"state":"stopped"}');
    expect(await r.json()).toEqual({ instance_id: id, region: 'us-east-1', state: 'stopped' });
    expect((await admin('POST', `ec2/instances/${id}/state`, '{"state":"exploded"}')).status).toBe(400);
    expect((await admin('POST', 'ec2/instances/i-0000000000000000f/state', '{"state":"running"}')).status).toBe(404);
    const cfg = await admin(
      'POST',
      'config',
      '{"imds_apply_delay_ms":5,"ssm_command_ms":10,"ssm_outcome":"Cancelled"}',
    );
    expect(await cfg.json()).toMatchObject({ imds_apply_delay_ms: 5, ssm_command_ms: 10, ssm_outcome: 'Cancelled' });
    expect((await admin('POST', 'iam/access-keys/AKIAAEGISDEMO0000001', '{"age_days":400}')).status).toBe(200);
    expect((await admin('POST', 'iam/access-keys/AKIAAEGISDEMO0000001', '{}')).status).toBe(400);
    expect((await admin('GET', 'nothing-here')).status).toBe(404);
    expect((await admin('POST', 'faults', 'not json')).status).toBe(400);
  });

  it('starts without seed on a free port, and answers an unsigned GET / (readiness)', async () => {
    const other = await startSandbox({ port: 0, seed: false, logLevel: 'silent' });
    try {
      expect(other.port).toBeGreaterThan(0);
      expect(other.port).not.toBe(sb().port);
      expect(other.seeded()).toBeUndefined();
      const res = await fetch(`${other.url}/`);
      expect(res.status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('standalone configuration', () => {
  it('parses the environment once with defaults, and names a bad value', () => {
    const env = parseSandboxEnv({});
    expect(env).toMatchObject({
      AEGIS_SANDBOX_PORT: 4566,
      AEGIS_SANDBOX_HOST: '127.0.0.1',
      AEGIS_SANDBOX_SEED: true,
      AEGIS_SANDBOX_THROTTLING: true,
    });
    const custom = parseSandboxEnv({
      AEGIS_SANDBOX_PORT: '0',
      AEGIS_SANDBOX_SEED: 'false',
      AEGIS_SANDBOX_LATENCY_MS: '10-50',
      AEGIS_SANDBOX_THROTTLE_RATES: '{"ec2:DescribeInstances":{"capacity":10,"refill_per_second":2}}',
    });
    expect(custom).toMatchObject({
      AEGIS_SANDBOX_PORT: 0,
      AEGIS_SANDBOX_SEED: false,
      AEGIS_SANDBOX_LATENCY_MS: { min_ms: 10, max_ms: 50 },
      AEGIS_SANDBOX_THROTTLE_RATES: { 'ec2:DescribeInstances': { capacity: 10, refill_per_second: 2 } },
    });
    expect(() => parseSandboxEnv({ AEGIS_SANDBOX_PORT: 'abc' })).toThrow(/AEGIS_SANDBOX_PORT/);
    expect(() => parseSandboxEnv({ AEGIS_SANDBOX_LATENCY_MS: 'slow' })).toThrow(/AEGIS_SANDBOX_LATENCY_MS/);
    expect(() => parseSandboxEnv({ AEGIS_SANDBOX_THROTTLE_RATES: '{"x":{}}' })).toThrow(/AEGIS_SANDBOX_THROTTLE_RATES/);
  });
});
