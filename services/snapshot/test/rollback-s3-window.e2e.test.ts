import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startStack, type Stack } from '@aegis/testkit';
import { grants, ingest, openGroup, remediate, sandboxAdmin, waitBatch } from '../../api-gateway/test/sandbox-helpers';
import { cloud, snapshotsOf, waitRollback, type Cloud } from './rollback-e2e-helpers';

const BUCKET = 'aegis-e2e-snapshots';
const WINDOW_MS = 5_000;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The snapshot service on an S3 store (the aws-sandbox's S3), a short rollback window
 * (AEGIS_ROLLBACK_WINDOW=5s) and a crash of the snapshot service in the middle of a rollback.
 */
describe('rollback with an S3 snapshot store, a short window and a crash', () => {
  let stack: Stack;
  let c: Cloud;
  let early: { batch: string; sg: string; fixed: string[] };

  beforeAll(async () => {
    stack = await startStack({
      env: { AEGIS_SNAPSHOT_STORE: `s3://${BUCKET}/audit`, AEGIS_ROLLBACK_WINDOW: `${WINDOW_MS / 1000}s` },
    });
    c = cloud(stack);
    await c.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });
  afterAll(async () => {
    c?.destroy();
    await stack?.stop();
  });

  it('writes each snapshot once to s3://bucket/prefix/remediations/<batch>/<snap>.json and lists it from there', async () => {
    const sg = await openGroup(c.ec2);
    const before = await grants(c.ec2, sg);
    await ingest(stack, [{ id: 's3-early', handler: 'block-public-ssh', resource_id: sg }]);
    const batch = await remediate(stack, ['s3-early']);
    await waitBatch(stack, batch);
    early = { batch, sg, fixed: await grants(c.ec2, sg) };

    const keys = await c.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `audit/remediations/${batch}/` }));
    expect(keys.Contents?.map((o) => o.Key)).toEqual([`audit/remediations/${batch}/snap-001.json`]);
    const obj = await c.s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: `audit/remediations/${batch}/snap-001.json` }),
    );
    const doc = JSON.parse(await (obj.Body?.transformToString() ?? '')) as {
      snapshot_id: string;
      previous_state: { grants: unknown[] };
      taken_at: string;
    };
    expect(doc.snapshot_id).toBe('snap-001');
    expect(doc.previous_state.grants).toHaveLength(before.length);

    const snaps = await snapshotsOf(stack, batch);
    expect(snaps).toEqual([
      expect.objectContaining({
        snapshot_id: 'snap-001',
        resource_id: sg,
        handler: 'block-public-ssh',
        taken_at: doc.taken_at,
        expires_at: new Date(Date.parse(doc.taken_at) + WINDOW_MS).toISOString(),
      }),
    ]);

    // The store's only writer refuses to overwrite: the first document stays, in S3 too.
    const port = stack.state().ports.snapshot;
    const forged = { ...doc, previous_state: { group_id: sg, grants: [] } };
    const res = await fetch(`http://127.0.0.1:${port}/internal/snapshots`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(forged),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ stored: false, snapshot: { previous_state: doc.previous_state } });
    const again = await c.s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: `audit/remediations/${batch}/snap-001.json` }),
    );
    expect(JSON.parse(await (again.Body?.transformToString() ?? ''))).toEqual(doc);
  });

  it('finishes a rollback whose snapshot service was killed half-way (the job is recovered, the record resumed)', async () => {
    const sg = await openGroup(c.ec2);
    const before = await grants(c.ec2, sg);
    await ingest(stack, [{ id: 's3-crash', handler: 'block-public-ssh', resource_id: sg }]);
    const batch = await remediate(stack, ['s3-crash']);
    await waitBatch(stack, batch);
    // The restore's first call hangs, so the service dies with the rollback running.
    await sandboxAdmin(stack, 'POST', '/_sandbox/latency', { operation: 'AuthorizeSecurityGroupIngress', ms: 20_000 });
    const ex = await stack.api('POST', `/api/v1/remediations/${batch}/rollback`, { dry_run: false });
    expect(ex.status).toBe(202);
    await until('the rollback to start', () =>
      stack.logs().some((l) => l.batch_id === batch && l.action === 'rollback' && l.status === 'running'),
    );
    const { pids, restarts } = stack.state();
    process.kill(pids.snapshot as number, 'SIGKILL');
    await sandboxAdmin(stack, 'DELETE', '/_sandbox/latency');
    const mid = (await stack.api('GET', `/api/v1/remediations/${batch}`)).body as {
      rollback_status: string;
      rollbacks: { state: string }[];
    };
    expect(mid.rollback_status).toBe('rolling_back');
    expect(mid.rollbacks[0]?.state).toBe('running');
    await until(
      'the snapshot service to restart',
      () => (stack.state().restarts.snapshot ?? 0) > (restarts.snapshot ?? 0),
    );

    // BullMQ hands the stalled job on once its lock (15 s) expired; the window no longer applies to it.
    const rb = await waitRollback(stack, batch, 75_000);
    expect(rb.rollback_status).toBe('rolled_back');
    expect(await grants(c.ec2, sg)).toEqual(before);
    expect(
      stack.logs().some((l) => l.batch_id === batch && l.action === 'rollback' && l.status === 'running' && l.resumed),
    ).toBe(true);
  }, 90_000);

  it('refuses a rollback once the window has closed (outside_window), and changes nothing', async () => {
    const [snap] = await snapshotsOf(stack, early.batch);
    const wait = Date.parse(snap?.expires_at ?? '') - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait + 250));
    const dry = await stack.api('POST', `/api/v1/remediations/${early.batch}/rollback`, { dry_run: true });
    expect(dry.status).toBe(200);
    const a = (dry.body as { rollbacks: { refused?: { code: string; message: string }; current_state: unknown }[] })
      .rollbacks[0];
    expect(a?.refused).toMatchObject({ code: 'outside_window', message: expect.stringMatching(/window .* closed/) });
    expect(a?.current_state).not.toBeNull();
    const ex = await stack.api('POST', `/api/v1/remediations/${early.batch}/rollback`, {
      dry_run: false,
      force: true,
    });
    expect(ex.status).toBe(409);
    expect(ex.body).toMatchObject({
      error: { code: 'rollback_refused', details: { refused: [{ snapshot_id: 'snap-001', code: 'outside_window' }] } },
    });
    expect(await grants(c.ec2, early.sg)).toEqual(early.fixed);
    expect((await stack.api('GET', `/api/v1/remediations/${early.batch}`)).body).toMatchObject({
      rollback_status: 'none',
    });
  });
});
