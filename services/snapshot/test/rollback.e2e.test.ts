import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthorizeSecurityGroupIngressCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateDetectorCommand } from '@aws-sdk/client-guardduty';
import { CreateAccessKeyCommand, CreateUserCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { startStack, type Stack } from '@aegis/testkit';
import { grants, ingest, openGroup, remediate, sandboxAdmin, waitBatch } from '../../api-gateway/test/sandbox-helpers';
import {
  accessKeys,
  cloud,
  detectors,
  imdsV1Instance,
  metadataOptions,
  publicAccessBlock,
  sample,
  snapshotMetrics,
  snapshotsOf,
  waitRollback,
  type Cloud,
} from './rollback-e2e-helpers';

interface Assessment {
  snapshot_id: string;
  finding_id: string;
  handler: string;
  resource_id: string;
  taken_at: string;
  current_state: unknown;
  restore_state: unknown;
  drift: string | null;
  refused?: { code: string; message: string };
}
interface Refusal {
  snapshot_id: string;
  handler: string;
  code: string;
  message: string;
}
type Accepted = { accepted: string[]; refused: Refusal[]; rollback_status: string };
type Refused = { error: { code: string; message: string; details: { refused: Refusal[] } } };

/**
 * Rollback end to end: the stack as `pnpm start` runs it, the real SDK against its aws-sandbox,
 * snapshots on disk. Every reversible handler is remediated, previewed, rolled back and compared
 * field by field with the state before; then each refusal.
 */
describe('rollback', () => {
  let stack: Stack;
  let c: Cloud;
  let uniq = 0;
  const id = (p: string) => `${p}-${process.pid}-${uniq++}`;
  const rollback = (batchId: string, body: Record<string, unknown>) =>
    stack.api('POST', `/api/v1/remediations/${batchId}/rollback`, body);

  beforeAll(async () => {
    stack = await startStack({ env: { AEGIS_KEY_MAX_AGE_DAYS: '0' } });
    c = cloud(stack);
    await sandboxAdmin(stack, 'POST', '/_sandbox/config', { imds_apply_delay_ms: 200, ssm_command_ms: 300 });
  });
  afterAll(async () => {
    c?.destroy();
    await stack?.stop();
  });

  it('restores every reversible handler exactly as it was: dry run first, newest snapshot first, metric and log line', async () => {
    const sg = await openGroup(c.ec2);
    const bareBucket = id('rb-bare');
    const partBucket = id('rb-part');
    await c.s3.send(new CreateBucketCommand({ Bucket: bareBucket }));
    await c.s3.send(new CreateBucketCommand({ Bucket: partBucket }));
    await c.s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: partBucket,
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: false },
      }),
    );
    const inst = await imdsV1Instance(c);
    const user = id('rb-user');
    await c.iam.send(new CreateUserCommand({ UserName: user }));
    await c.iam.send(new CreateAccessKeyCommand({ UserName: user }));
    const spare = (await c.iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey?.AccessKeyId;
    await c.iam.send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: spare, Status: 'Inactive' }));
    // One region with a disabled, hourly detector; one with none.
    await c
      .guardduty('eu-west-2')
      .send(new CreateDetectorCommand({ Enable: false, FindingPublishingFrequency: 'ONE_HOUR' }));

    const read = async () => ({
      sg: await grants(c.ec2, sg),
      bare: await publicAccessBlock(c, bareBucket),
      part: await publicAccessBlock(c, partBucket),
      imds: await metadataOptions(c, inst),
      keys: await accessKeys(c, user),
      gdWest2: await detectors(c, 'eu-west-2'),
      gdNorth1: await detectors(c, 'eu-north-1'),
    });
    const before = await read();
    expect(before.bare).toBeNull();
    expect(before.gdNorth1).toEqual([]);
    expect(before.keys.map((k) => k.status).sort()).toEqual(['Active', 'Inactive']);

    const f = (s: string) => `${s}-${process.pid}`;
    await ingest(stack, [
      { id: f('rb-sg'), handler: 'block-public-ssh', resource_id: sg },
      { id: f('rb-bare'), handler: 's3-block-public-access', resource_id: bareBucket },
      { id: f('rb-part'), handler: 's3-block-public-access', resource_id: partBucket },
      { id: f('rb-imds'), handler: 'enforce-imdsv2', resource_id: inst },
      { id: f('rb-iam'), handler: 'rotate-iam-keys', resource_id: `arn:aws:iam::123456789012:user/${user}` },
      { id: f('rb-gd-w2'), handler: 'enable-guardduty', resource_id: '123456789012', region: 'eu-west-2' },
      { id: f('rb-gd-n1'), handler: 'enable-guardduty', resource_id: '123456789012', region: 'eu-north-1' },
    ]);
    const findings = ['rb-sg', 'rb-bare', 'rb-part', 'rb-imds', 'rb-iam', 'rb-gd-w2', 'rb-gd-n1'].map(f);
    const batch = await remediate(stack, findings);
    const done = await waitBatch(stack, batch, 60_000);
    expect(done).toMatchObject({ status: 'completed', completed: 7, failed: 0 });
    const changed = await read();
    expect(changed.imds.HttpTokens).toBe('required');
    expect(changed.keys.every((k) => k.status === 'Inactive')).toBe(true);
    expect(changed.gdNorth1).toHaveLength(1);
    expect(changed.bare).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });

    // The snapshot list, from the store.
    const snaps = await snapshotsOf(stack, batch);
    expect(snaps).toHaveLength(7);
    for (const s of snaps) {
      expect(s).toEqual({
        snapshot_id: expect.stringMatching(/^snap-\d{3}$/),
        resource_id: expect.any(String),
        handler: expect.any(String),
        taken_at: expect.any(String),
        finding_id: expect.any(String),
        expires_at: new Date(Date.parse(s.taken_at) + 48 * 3_600_000).toISOString(),
      });
    }
    expect(snaps.map((s) => s.snapshot_id)).toEqual([...snaps.map((s) => s.snapshot_id)].sort());
    const fileOf = (snap: string) =>
      JSON.parse(readFileSync(join(stack.snapshotDir, 'remediations', batch, `${snap}.json`), 'utf8')) as {
        previous_state: unknown;
        planned_state: unknown;
      };

    // Dry run: per snapshot the live state, what comes back, no drift; nothing changes.
    const dry = await rollback(batch, { dry_run: true });
    expect(dry.status).toBe(200);
    const preview = dry.body as { dry_run: boolean; rollbacks: Assessment[] };
    expect(preview.dry_run).toBe(true);
    expect(preview.rollbacks).toHaveLength(7);
    for (const a of preview.rollbacks) {
      expect(a.refused).toBeUndefined();
      expect(a.drift).toBeNull();
      expect(a.restore_state).toEqual(fileOf(a.snapshot_id).previous_state);
      // The live state is what the remediation planned (a detector we created got its id only then).
      if (a.handler === 'enable-guardduty')
        expect(a.current_state).toMatchObject({ detector: { status: 'ENABLED', frequency: 'FIFTEEN_MINUTES' } });
      else expect(a.current_state).toEqual(fileOf(a.snapshot_id).planned_state);
    }
    const newestFirst = [...preview.rollbacks].sort(
      (x, y) => y.taken_at.localeCompare(x.taken_at) || y.snapshot_id.localeCompare(x.snapshot_id),
    );
    expect(preview.rollbacks.map((a) => a.snapshot_id)).toEqual(newestFirst.map((a) => a.snapshot_id));
    expect(await read()).toEqual(changed);

    // Execute: everything accepted, in that order; a second request meanwhile is refused.
    const ex = await rollback(batch, { dry_run: false });
    expect(ex.status).toBe(202);
    const acc = ex.body as Accepted;
    expect(acc).toMatchObject({ rollback_status: 'rolling_back', refused: [] });
    expect(acc.accepted).toEqual(newestFirst.map((a) => a.snapshot_id));
    const again = await rollback(batch, { dry_run: false });
    expect(again.status).toBe(409);
    for (const r of (again.body as Refused).error.details.refused)
      expect(['rollback_running', 'already_rolled_back']).toContain(r.code);

    const rb = await waitRollback(stack, batch);
    expect(rb.rollback_status).toBe('rolled_back');
    expect(rb.rollbacks.map((r) => r.state)).toEqual(Array(7).fill('rolled_back'));

    // Field by field as before the remediation.
    const after = await read();
    expect(after.sg).toEqual(before.sg);
    expect(after.bare).toBeNull();
    expect(after.part).toEqual(before.part);
    expect(after.imds).toEqual(before.imds);
    expect(after.keys).toEqual(before.keys);
    expect(after.gdWest2).toEqual(before.gdWest2);
    expect(after.gdNorth1).toEqual([]);
    expect((await stack.api('GET', `/api/v1/findings/${f('rb-imds')}`)).body).toMatchObject({ status: 'rolled_back' });

    // aegis_rollbacks_total{handler,status} on the snapshot service.
    const m = await snapshotMetrics(stack);
    const ok = (handler: string) => sample(m, 'aegis_rollbacks_total', { handler, status: 'success' });
    expect(ok('block-public-ssh')).toBeGreaterThanOrEqual(1);
    expect(ok('s3-block-public-access')).toBeGreaterThanOrEqual(2);
    expect(ok('enforce-imdsv2')).toBeGreaterThanOrEqual(1);
    expect(ok('rotate-iam-keys')).toBeGreaterThanOrEqual(1);
    expect(ok('enable-guardduty')).toBeGreaterThanOrEqual(2);

    // One JSON log line per snapshot, as for remediations, written in the order the jobs ran.
    const lines = stack.logs().filter((l) => l.batch_id === batch && l.action === 'rollback' && l.status === 'success');
    expect(lines.map((l) => l.snapshot_id)).toEqual(acc.accepted);
    for (const l of lines) {
      expect(l).toMatchObject({
        level: 'info',
        service: 'snapshot',
        handler: expect.any(String),
        tier: expect.stringMatching(/^T[123]$/),
        finding_id: expect.any(String),
        resource_id: expect.any(String),
        duration_ms: expect.any(Number),
      });
    }

    // Twice: refused per snapshot, nothing queued; the dry run says why and still shows the live state.
    const twice = await rollback(batch, { dry_run: false });
    expect(twice.status).toBe(409);
    const t = twice.body as Refused;
    expect(t.error.code).toBe('rollback_refused');
    expect(t.error.details.refused.map((r) => r.code)).toEqual(Array(7).fill('already_rolled_back'));
    const dry2 = (await rollback(batch, { dry_run: true })).body as { rollbacks: Assessment[] };
    for (const a of dry2.rollbacks) {
      expect(a.refused?.code).toBe('already_rolled_back');
      expect(a.current_state).toEqual(fileOf(a.snapshot_id).previous_state);
    }
  }, 120_000);

  it('refuses an irreversible snapshot (run-patch-baseline) and still rolls the rest of the batch back', async () => {
    const run = await c.ec2.send(
      new RunInstancesCommand({ ImageId: 'ami-12c6146b', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
    );
    const inst = run.Instances?.[0]?.InstanceId as string;
    const sg = await openGroup(c.ec2);
    const before = await grants(c.ec2, sg);
    const fp = id('rb-patch');
    const fs = id('rb-sg-with-patch');
    await ingest(stack, [
      { id: fp, handler: 'run-patch-baseline', resource_id: inst },
      { id: fs, handler: 'block-public-ssh', resource_id: sg },
    ]);
    const batch = await remediate(stack, [fp, fs]);
    expect(await waitBatch(stack, batch, 60_000)).toMatchObject({ completed: 2, failed: 0 });
    const snaps = await snapshotsOf(stack, batch);
    const patchSnap = snaps.find((s) => s.handler === 'run-patch-baseline')?.snapshot_id as string;
    const sgSnap = snaps.find((s) => s.handler === 'block-public-ssh')?.snapshot_id as string;

    const dry = (await rollback(batch, { dry_run: true })).body as { rollbacks: Assessment[] };
    const p = dry.rollbacks.find((a) => a.snapshot_id === patchSnap);
    expect(p?.refused?.code).toBe('irreversible');
    expect(p?.refused?.message).toMatch(/cannot be rolled back/);
    expect(dry.rollbacks.find((a) => a.snapshot_id === sgSnap)?.refused).toBeUndefined();

    const one = await rollback(batch, { snapshot_id: patchSnap, dry_run: false });
    expect(one.status).toBe(409);
    expect((one.body as Refused).error.details.refused).toEqual([
      expect.objectContaining({ snapshot_id: patchSnap, handler: 'run-patch-baseline', code: 'irreversible' }),
    ]);

    const ex = await rollback(batch, { dry_run: false });
    expect(ex.status).toBe(202);
    expect(ex.body).toMatchObject({
      accepted: [sgSnap],
      refused: [{ snapshot_id: patchSnap, handler: 'run-patch-baseline', code: 'irreversible' }],
    });
    // Every snapshot that can be rolled back was: the batch is rolled_back, the refusal stays listed above.
    const rb = await waitRollback(stack, batch);
    expect(rb.rollback_status).toBe('rolled_back');
    expect(rb.rollbacks.map((r) => [r.snapshot_id, r.state])).toEqual([[sgSnap, 'rolled_back']]);
    expect(await grants(c.ec2, sg)).toEqual(before);

    const gw = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    expect(
      sample(gw, 'aegis_rollbacks_total', { handler: 'run-patch-baseline', status: 'refused' }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      stack
        .logs()
        .some(
          (l) => l.batch_id === batch && l.status === 'refused' && l.error === 'irreversible' && l.level === 'warn',
        ),
    ).toBe(true);
  }, 90_000);

  it('refuses a resource changed since the remediation, and rolls it back with force:true', async () => {
    const sg = await openGroup(c.ec2);
    const before = await grants(c.ec2, sg);
    const fid = id('rb-drift');
    await ingest(stack, [{ id: fid, handler: 'block-public-ssh', resource_id: sg }]);
    const batch = await remediate(stack, [fid]);
    await waitBatch(stack, batch);
    await c.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: sg,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8443, ToPort: 8443, IpRanges: [{ CidrIp: '192.168.0.0/16' }] }],
      }),
    );
    const drifted = await grants(c.ec2, sg);
    const dry = (await rollback(batch, { dry_run: true })).body as { rollbacks: Assessment[] };
    expect(dry.rollbacks[0]?.drift).toMatch(/8443/);
    expect(dry.rollbacks[0]?.refused).toMatchObject({ code: 'drifted', message: expect.stringMatching(/force:true/) });
    const no = await rollback(batch, { dry_run: false });
    expect(no.status).toBe(409);
    expect((no.body as Refused).error.details.refused[0]?.code).toBe('drifted');
    expect(await grants(c.ec2, sg)).toEqual(drifted);

    const forcedDry = (await rollback(batch, { dry_run: true, force: true })).body as { rollbacks: Assessment[] };
    expect(forcedDry.rollbacks[0]).toMatchObject({ drift: expect.stringMatching(/8443/) });
    expect(forcedDry.rollbacks[0]?.refused).toBeUndefined();
    const yes = await rollback(batch, { dry_run: false, force: true });
    expect(yes.status).toBe(202);
    const rb = await waitRollback(stack, batch);
    expect(rb.rollback_status).toBe('rolled_back');
    expect(rb.rollbacks[0]?.message).toMatch(/changes made since the remediation remain/);
    // Our change is undone; the rule added by someone else since stays.
    expect(await grants(c.ec2, sg)).toEqual([...before, 'tcp 8443-8443 192.168.0.0/16'].sort());
  });

  it('rolls back one snapshot by id (partially_rolled_back), then the rest of the batch', async () => {
    const g1 = await openGroup(c.ec2);
    const g2 = await openGroup(c.ec2);
    const b1 = await grants(c.ec2, g1);
    const b2 = await grants(c.ec2, g2);
    const [f1, f2] = [id('rb-part-1'), id('rb-part-2')];
    await ingest(stack, [
      { id: f1, handler: 'block-public-ssh', resource_id: g1 },
      { id: f2, handler: 'block-public-ssh', resource_id: g2 },
    ]);
    const batch = await remediate(stack, [f1, f2]);
    await waitBatch(stack, batch);
    const fixed2 = await grants(c.ec2, g2);
    const snaps = await snapshotsOf(stack, batch);
    const s1 = snaps.find((s) => s.resource_id === g1)?.snapshot_id as string;
    const s2 = snaps.find((s) => s.resource_id === g2)?.snapshot_id as string;
    expect(
      (await stack.api('POST', `/api/v1/remediations/${batch}/rollback`, { snapshot_id: 'snap-999', dry_run: true }))
        .status,
    ).toBe(404);

    const one = await rollback(batch, { snapshot_id: s1, dry_run: false });
    expect(one.status).toBe(202);
    expect(one.body).toMatchObject({ accepted: [s1], refused: [] });
    const rb = await waitRollback(stack, batch);
    expect(rb.rollback_status).toBe('partially_rolled_back');
    expect(await grants(c.ec2, g1)).toEqual(b1);
    expect(await grants(c.ec2, g2)).toEqual(fixed2);

    const rest = await rollback(batch, { dry_run: false });
    expect(rest.status).toBe(202);
    expect(rest.body).toMatchObject({ accepted: [s2], refused: [{ snapshot_id: s1, code: 'already_rolled_back' }] });
    expect((await waitRollback(stack, batch)).rollback_status).toBe('rolled_back');
    expect(await grants(c.ec2, g2)).toEqual(b2);
  });

  it('records a failed rollback (failed, error kept, metric, error log line) and lets it be retried', async () => {
    const sg = await openGroup(c.ec2);
    const before = await grants(c.ec2, sg);
    const fid = id('rb-fail');
    await ingest(stack, [{ id: fid, handler: 'block-public-ssh', resource_id: sg }]);
    const batch = await remediate(stack, [fid]);
    await waitBatch(stack, batch);
    const failedBefore = sample(await snapshotMetrics(stack), 'aegis_rollbacks_total', {
      handler: 'block-public-ssh',
      status: 'failed',
    });
    await sandboxAdmin(stack, 'POST', '/_sandbox/faults', {
      operation: 'AuthorizeSecurityGroupIngress',
      resource_id: sg,
      code: 'UnauthorizedOperation',
      always: true,
    });
    expect((await rollback(batch, { dry_run: false })).status).toBe(202);
    const rb = await waitRollback(stack, batch);
    await sandboxAdmin(stack, 'DELETE', '/_sandbox/faults');
    expect(rb.rollback_status).toBe('failed');
    expect(rb.rollbacks[0]).toMatchObject({ state: 'failed', error: 'UnauthorizedOperation' });
    expect(
      sample(await snapshotMetrics(stack), 'aegis_rollbacks_total', { handler: 'block-public-ssh', status: 'failed' }),
    ).toBe(failedBefore + 1);
    expect(
      stack
        .logs()
        .some(
          (l) =>
            l.level === 'error' &&
            l.batch_id === batch &&
            l.action === 'rollback' &&
            l.status === 'failed' &&
            l.error === 'UnauthorizedOperation',
        ),
    ).toBe(true);

    // The failed attempt changed nothing, so a retry needs no force.
    const retry = await rollback(batch, { dry_run: false });
    expect(retry.status).toBe(202);
    expect((await waitRollback(stack, batch)).rollback_status).toBe('rolled_back');
    expect(await grants(c.ec2, sg)).toEqual(before);
  });
});
