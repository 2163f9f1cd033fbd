import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, type Stack } from '@aegis/testkit';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ec2, grants, ingest, openGroup, remediate, sandboxAdmin, waitBatch } from './sandbox-helpers';

/** The spine end to end: real processes, Redis, the aws-sandbox over HTTP, snapshots on disk. */
describe('remediation spine (block-public-ssh)', () => {
  let stack: Stack;
  let client: EC2Client;
  beforeAll(async () => {
    stack = await startStack({ env: { AEGIS_PLAN_TTL: '6s' } });
    client = ec2(stack);
  });
  afterAll(async () => stack?.stop());

  it('removes world access to 22/3389 precisely, keeps every other rule, and snapshots first', async () => {
    const g1 = await openGroup(client);
    const g2 = await openGroup(client, [
      { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'wide' }] },
    ]);
    const g3 = await openGroup(client, [{ IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] }]);
    const before2 = await grants(client, g2);
    await ingest(stack, [
      { id: 'sp-1', handler: 'block-public-ssh', resource_id: g1 },
      { id: 'sp-2', handler: 'block-public-ssh', resource_id: g2 },
      { id: 'sp-3', handler: 'block-public-ssh', resource_id: g3 },
    ]);
    const dry = await stack.api('POST', '/api/v1/remediations', {
      finding_ids: ['sp-1', 'sp-2', 'sp-3'],
      dry_run: true,
      executor_tier: 'T1',
    });
    expect(dry.status).toBe(200);
    const preview = dry.body as {
      batch_id: string;
      actions_preview: { finding_id: string; noop: boolean; changes: string[] }[];
      estimated_duration_s: number;
    };
    expect(preview.batch_id).toMatch(/^batch-\d{8}-\d{3}$/);
    expect(preview.actions_preview).toHaveLength(3);
    expect(preview.actions_preview.every((a) => !a.noop && a.changes.length > 0)).toBe(true);
    expect(await grants(client, g2)).toEqual(before2); // the dry run changed nothing

    const ex = await stack.api('POST', '/api/v1/remediations', {
      batch_id: preview.batch_id,
      finding_ids: ['sp-1', 'sp-2', 'sp-3'],
      dry_run: false,
      executor_tier: 'T1',
    });
    expect(ex.status).toBe(202);
    expect(ex.body).toMatchObject({ batch_id: preview.batch_id, status: 'running' });
    const done = await waitBatch(stack, preview.batch_id);
    expect(done).toMatchObject({ status: 'completed', completed: 3, failed: 0, pending: 0 });

    expect(await grants(client, g1)).toEqual(['tcp 22-22 10.0.0.0/8', 'tcp 443-443 0.0.0.0/0']);
    // The wide range is narrowed around 22 and 3389, not dropped.
    expect(await grants(client, g2)).toEqual(
      [
        'tcp 0-21 0.0.0.0/0',
        'tcp 22-22 10.0.0.0/8',
        'tcp 23-3388 0.0.0.0/0',
        'tcp 3390-65535 0.0.0.0/0',
        'tcp 443-443 0.0.0.0/0',
      ].sort(),
    );
    const after3 = await grants(client, g3);
    expect(after3.filter((g) => g.startsWith('-1 '))).toEqual([]);
    expect(after3.some((g) => /^tcp 23-3388 ::\/0$/.test(g))).toBe(true);

    // A snapshot object for every changed resource, with the state before the change.
    const dir = join(stack.snapshotDir, 'remediations', preview.batch_id);
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(3);
    const snaps = files.map(
      (f) =>
        JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
          resource_id: string;
          previous_state: { grants: unknown[] };
          snapshot_id: string;
          taken_at: string;
        },
    );
    const s2 = snaps.find((s) => s.resource_id === g2);
    expect(s2?.previous_state.grants.length).toBe(before2.length);
    for (const it of done.items) expect(it.snapshot_id).toMatch(/^snap-\d{3}$/);

    // A second execute of the same batch is refused.
    const again = await stack.api('POST', '/api/v1/remediations', {
      batch_id: preview.batch_id,
      finding_ids: ['sp-1', 'sp-2', 'sp-3'],
      dry_run: false,
    });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: 'already_executed' } });

    // The finding records its outcome; running it again is a recorded noop.
    expect((await stack.api('GET', '/api/v1/findings/sp-1')).body).toMatchObject({
      status: 'remediated',
      last_batch_id: preview.batch_id,
    });
    const b2 = await remediate(stack, ['sp-1']);
    const d2 = await waitBatch(stack, b2);
    expect(d2.items[0]).toMatchObject({ state: 'noop', snapshot_id: null });
  });

  it('refuses to execute without a dry run, with other findings, or with a stale plan', async () => {
    const g = await openGroup(client);
    await ingest(stack, [{ id: 'sp-stale', handler: 'block-public-ssh', resource_id: g }]);
    const noPlan = await stack.api('POST', '/api/v1/remediations', { finding_ids: ['sp-stale'], dry_run: false });
    expect(noPlan.status).toBe(400);
    expect(noPlan.body).toMatchObject({ error: { code: 'validation_failed', details: [{ field: 'batch_id' }] } });
    const fake = await stack.api('POST', '/api/v1/remediations', {
      finding_ids: ['sp-stale'],
      dry_run: false,
      batch_id: 'batch-19990101-001',
    });
    expect(fake.status).toBe(404);
    const dry = await stack.api('POST', '/api/v1/remediations', { finding_ids: ['sp-stale'], dry_run: true });
    const batchId = (dry.body as { batch_id: string }).batch_id;
    const other = await stack.api('POST', '/api/v1/remediations', {
      batch_id: batchId,
      finding_ids: ['sp-1'],
      dry_run: false,
    });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ error: { code: 'plan_mismatch' } });
    await new Promise((r) => setTimeout(r, 6500));
    const stale = await stack.api('POST', '/api/v1/remediations', {
      batch_id: batchId,
      finding_ids: ['sp-stale'],
      dry_run: false,
    });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: { code: 'plan_expired' } });
    expect(await grants(client, g)).toContain('tcp 22-22 0.0.0.0/0');
  });

  it('fails AccessDenied at once, keeps the code, changes nothing', async () => {
    const g = await openGroup(client);
    const before = await grants(client, g);
    await sandboxAdmin(stack, 'POST', '/_sandbox/faults', {
      operation: 'RevokeSecurityGroupIngress',
      resource_id: g,
      code: 'UnauthorizedOperation',
      always: true,
    });
    await ingest(stack, [{ id: 'sp-denied', handler: 'block-public-ssh', resource_id: g }]);
    const b = await remediate(stack, ['sp-denied']);
    const done = await waitBatch(stack, b);
    expect(done.items[0]).toMatchObject({ state: 'failed', error: 'UnauthorizedOperation', attempts: 1 });
    expect(done.status).toBe('completed_with_failures');
    await sandboxAdmin(stack, 'DELETE', '/_sandbox/faults');
    // Authorize of the narrowed sub-ranges comes first, but this group has none to add: nothing changed.
    expect(await grants(client, g)).toEqual(before);
    const line = stack.logs().find((l) => l.finding_id === 'sp-denied' && l.level === 'error');
    expect(line).toMatchObject({
      error: 'UnauthorizedOperation',
      handler: 'block-public-ssh',
      status: 'failed',
      batch_id: b,
    });
  });

  it('retries throttling and conflicts, then succeeds', async () => {
    const g = await openGroup(client);
    await sandboxAdmin(stack, 'POST', '/_sandbox/faults', {
      operation: 'RevokeSecurityGroupIngress',
      resource_id: g,
      code: 'RequestLimitExceeded',
      times: 4,
    });
    await ingest(stack, [{ id: 'sp-throttled', handler: 'block-public-ssh', resource_id: g }]);
    const b = await remediate(stack, ['sp-throttled']);
    const done = await waitBatch(stack, b, 60_000);
    expect(done.items[0]).toMatchObject({ state: 'succeeded' });
    expect(await grants(client, g)).not.toContain('tcp 22-22 0.0.0.0/0');
  });

  it('single-resource calls follow the same two steps', async () => {
    const g = await openGroup(client);
    const dry = await stack.api(
      'POST',
      '/api/v1/remediations/handlers/block-public-ssh',
      JSON.stringify({ resource_id: g, provider: 'aws', dry_run: true }),
    );
    expect(dry.status).toBe(200);
    const body = dry.body as { batch_id: string; finding_id: string; actions_preview: unknown[] };
    expect(body.actions_preview).toHaveLength(1);
    expect(await grants(client, g)).toContain('tcp 22-22 0.0.0.0/0');
    const refused = await stack.api('POST', '/api/v1/remediations/handlers/block-public-ssh', {
      resource_id: g,
      provider: 'aws',
      dry_run: false,
    });
    expect(refused.status).toBe(400);
    const ex = await stack.api('POST', '/api/v1/remediations/handlers/block-public-ssh', {
      resource_id: g,
      provider: 'aws',
      dry_run: false,
      batch_id: body.batch_id,
    });
    expect(ex.status).toBe(202);
    await waitBatch(stack, body.batch_id);
    expect(await grants(client, g)).not.toContain('tcp 22-22 0.0.0.0/0');
    expect(
      (
        await stack.api('POST', '/api/v1/remediations/handlers/delete-everything', {
          resource_id: g,
          provider: 'aws',
          dry_run: true,
        })
      ).status,
    ).toBe(404);
    const mismatch = await stack.api('POST', '/api/v1/remediations/handlers/enforce-imdsv2', {
      resource_id: 'my-bucket',
      provider: 'aws',
      dry_run: true,
    });
    expect(mismatch.status).toBe(422);
  });

  it('writes snapshots to the configured folder only', () => {
    expect(existsSync(join(stack.snapshotDir, 'remediations'))).toBe(true);
  });
});

describe('snapshot store failing', () => {
  let stack: Stack;
  beforeAll(async () => {
    // A path under a file: every write fails, whoever runs the test (root included).
    stack = await startStack({ env: { AEGIS_SNAPSHOT_STORE: 'file:///dev/null/aegis-snapshots' } });
  });
  afterAll(async () => stack?.stop());

  it('fails the item with snapshot_failed and changes nothing', async () => {
    const client = ec2(stack);
    const g = await openGroup(client, [
      { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    ]);
    const before = await grants(client, g);
    await ingest(stack, [{ id: 'sf-1', handler: 'block-public-ssh', resource_id: g }]);
    const b = await remediate(stack, ['sf-1']);
    const done = await waitBatch(stack, b);
    expect(done.items[0]).toMatchObject({ state: 'failed', error: 'snapshot_failed' });
    expect(await grants(client, g)).toEqual(before);
  });
});
