import { startStack, type Stack } from '@aegis/testkit';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DescribeInstancesCommand,
  FIXED_GRANTS,
  ListAccessKeysCommand,
  ModifyInstanceMetadataOptionsCommand,
  OPEN_GRANTS,
  RunInstancesCommand,
  batch,
  dryRun,
  ec2,
  execute,
  grantsOf,
  iam,
  ingest,
  logLines,
  metricsOf,
  openGroups,
  sample,
  sandboxAdmin,
  sleep,
  snapshotFiles,
  waitBatch,
  waitFor,
  type EC2Client,
  type IAMClient,
} from './helpers';

/**
 * Emergency stop (DESIGN.md invariant 6): one call pauses every tier on every replica, and items
 * already running stop before their apply step. With 1.5 s of sandbox latency per call the first
 * items of all three tiers are inside their inspection when the stop lands: they store their
 * snapshot, reach the gate before apply and go back to the queue; nothing else starts, nothing is
 * half-applied. Resume finishes the batch, reusing the snapshots taken before the stop.
 */
let stack: Stack;
let client: EC2Client;
let iamClient: IAMClient;

beforeAll(async () => {
  // Two T1 items at a time, so T1 also has items waiting in its queue when the stop lands.
  stack = await startStack({ env: { AEGIS_T1_CONCURRENCY: '2', AEGIS_RECHECK_DELAY: '0' } });
  client = ec2(stack);
  iamClient = iam(stack);
}, 90_000);
afterAll(async () => {
  client?.destroy();
  iamClient?.destroy();
  await stack?.stop();
});

async function imdsInstance(): Promise<string> {
  const r = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  const id = r.Instances?.[0]?.InstanceId as string;
  await client.send(
    new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'optional', HttpEndpoint: 'enabled' }),
  );
  return id;
}

async function userWithOldKey(n: number): Promise<string> {
  const name = `estop-${process.pid}-${n}`;
  await iamClient.send(new CreateUserCommand({ UserName: name }));
  const key = await iamClient.send(new CreateAccessKeyCommand({ UserName: name }));
  await sandboxAdmin(stack, 'POST', `/_sandbox/iam/access-keys/${key.AccessKey?.AccessKeyId}`, { age_days: 120 });
  return name;
}

const httpTokens = async (ids: string[]) => {
  const r = await client.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  return (r.Reservations ?? []).flatMap((res) => res.Instances ?? []).map((i) => i.MetadataOptions?.HttpTokens);
};
const keyStatuses = async (users: string[]) =>
  (await Promise.all(users.map((u) => iamClient.send(new ListAccessKeysCommand({ UserName: u }))))).flatMap((r) =>
    (r.AccessKeyMetadata ?? []).map((k) => k.Status),
  );

it('holds every tier while stopped, stops running items before apply, and resume completes the batch', async () => {
  const groups = await openGroups(client, 6);
  const instances = [await imdsInstance(), await imdsInstance(), await imdsInstance()];
  const users = [await userWithOldKey(1), await userWithOldKey(2)];
  const findings = [
    ...groups.map((g, i) => ({ id: `es-sg-${i}`, handler: 'block-public-ssh', resource_id: g })),
    ...instances.map((id, i) => ({ id: `es-imds-${i}`, handler: 'enforce-imdsv2', resource_id: id })),
    ...users.map((u, i) => ({ id: `es-key-${i}`, handler: 'rotate-iam-keys', resource_id: u })),
  ];
  const ids = findings.map((f) => f.id);
  await ingest(stack, findings);
  const batchId = await dryRun(stack, ids);

  await sandboxAdmin(stack, 'POST', '/_sandbox/latency', { ms: 1500 });
  expect((await execute(stack, batchId, ids)).status).toBe(202);
  // Stop once every tier has an item in flight.
  await waitFor(
    'an item running on every tier',
    () => batch(stack, batchId),
    (b) => ['T1', 'T2', 'T3'].every((t) => b.items.some((i) => i.tier === t && i.state === 'running')),
  );
  const stop = await stack.api('POST', '/api/v1/emergency-stop', { reason: 'e2e drill' });
  expect(stop.status).toBe(200);
  const stoppedAt = Date.now();

  // The items in flight reach their gate (one slow call later) and go back to the queue.
  await waitFor(
    'the running items to stop',
    () => batch(stack, batchId),
    (b) => b.counts.running === 0,
    20_000,
  );
  await sleep(3_000); // and nothing moves while stopped
  const held = await batch(stack, batchId);
  expect(held.counts).toMatchObject({ queued: ids.length, succeeded: 0, failed: 0 });

  const started = logLines(stack, { action: 'start', batch_id: batchId });
  const startedIds = [...new Set(started.map((l) => l.finding_id as string))];
  expect(new Set(started.map((l) => l.tier))).toEqual(new Set(['T1', 'T2', 'T3']));
  // No item started after the stop (a check in flight when it landed gets a second's grace)...
  for (const l of started) expect(Date.parse(l.time as string)).toBeLessThan(stoppedAt + 1_000);
  // ...T1's waiting items never started at all...
  expect(startedIds.filter((f) => f.startsWith('es-sg-')).length).toBeLessThanOrEqual(2);
  // ...each started item went back to the queue at its gate, and none reached apply.
  const requeued = logLines(stack, { action: 'requeue', batch_id: batchId, reason: 'emergency_stop' });
  expect(new Set(requeued.map((l) => l.finding_id))).toEqual(new Set(startedIds));
  expect(logLines(stack, { action: 'apply', batch_id: batchId })).toEqual([]);

  // Nothing half-applied: every resource is exactly as before. The started items hold a snapshot.
  const sg = await grantsOf(client, groups);
  for (const g of groups) expect(sg[g]).toEqual(OPEN_GRANTS);
  expect(await httpTokens(instances)).toEqual(['optional', 'optional', 'optional']);
  expect(await keyStatuses(users)).toEqual(['Active', 'Active']);
  const snapsWhileStopped = snapshotFiles(stack, batchId);
  expect(
    Object.values(snapsWhileStopped)
      .map((s) => s.finding_id as string)
      .sort(),
  ).toEqual([...startedIds].sort());

  const state = (await stack.api('GET', '/api/v1/emergency-stop')).body as {
    paused: boolean;
    in_flight: Record<string, { active: number }>;
  };
  expect(state.paused).toBe(true);
  expect(Object.values(state.in_flight).map((t) => t.active)).toEqual([0, 0, 0]);
  expect(sample(await metricsOf(stack, 'worker-t1'), 'aegis_dispatcher_paused')).toBe(1);

  // Resume (the latency has done its job): the whole batch completes.
  await sandboxAdmin(stack, 'DELETE', '/_sandbox/latency');
  expect((await stack.api('DELETE', '/api/v1/emergency-stop')).status).toBe(200);
  const done = await waitBatch(stack, batchId, 45_000);
  expect(done.status).toBe('completed');
  expect(done.counts.succeeded).toBe(ids.length);

  const after = await grantsOf(client, groups);
  for (const g of groups) expect(after[g]).toEqual(FIXED_GRANTS);
  expect(await httpTokens(instances)).toEqual(['required', 'required', 'required']);
  expect(await keyStatuses(users)).toEqual(['Inactive', 'Inactive']);
  // Every changed resource has its snapshot; those taken before the stop were kept, not taken again.
  const snaps = snapshotFiles(stack, batchId);
  expect(
    Object.values(snaps)
      .map((s) => s.finding_id as string)
      .sort(),
  ).toEqual([...ids].sort());
  for (const [snapId, doc] of Object.entries(snapsWhileStopped)) expect(snaps[snapId]).toEqual(doc);
  console.log(
    `emergency stop: ${startedIds.length} items in flight on 3 tiers stopped before apply, ` +
      `${ids.length - startedIds.length} never started; resume completed ${done.counts.succeeded} in ${done.elapsed_s} s`,
  );
}, 90_000);
