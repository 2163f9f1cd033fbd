import { startStack, type Stack } from '@aegis/testkit';
import {
  AuthorizeSecurityGroupIngressCommand,
  FIXED_GRANTS,
  OPEN_GRANTS,
  batch,
  dryRun,
  ec2,
  execute,
  grants,
  ingest,
  openGroup,
  snapshotFiles,
  waitBatch,
  type EC2Client,
} from './helpers';

/**
 * The gates in front of a change: the change ticket for production accounts
 * (AEGIS_PRODUCTION_ACCOUNTS, AEGIS_CHANGE_TICKET_PATTERN) and plan binding (execute does what the
 * dry run showed, or nothing). The sandbox's account is the production account here.
 */
const PROD = '123456789012';
let stack: Stack;
let client: EC2Client;

beforeAll(async () => {
  stack = await startStack({ env: { AEGIS_PRODUCTION_ACCOUNTS: PROD, AEGIS_RECHECK_DELAY: '0' } });
  client = ec2(stack);
}, 90_000);
afterAll(async () => {
  client?.destroy();
  await stack?.stop();
});

type ApiError = { error: { code: string; message: string; details?: { accounts?: string[] } } };

describe('change ticket for production accounts', () => {
  it('refuses to execute without a well-formed ticket, then records it on the batch and every snapshot', async () => {
    const groups = [await openGroup(client), await openGroup(client)];
    const ids = ['ct-1', 'ct-2'];
    await ingest(
      stack,
      groups.map((g, i) => ({ id: ids[i] as string, handler: 'block-public-ssh', resource_id: g })),
    );
    const batchId = await dryRun(stack, ids);

    const missing = await execute(stack, batchId, ids);
    expect(missing.status).toBe(422);
    const m = missing.body as ApiError;
    expect(m.error.code).toBe('change_ticket_required');
    expect(m.error.message).toContain(PROD);
    expect(m.error.details?.accounts).toEqual([PROD]);

    const malformed = await execute(stack, batchId, ids, { change_ticket: 'CHG1234' });
    expect(malformed.status).toBe(422);
    expect((malformed.body as ApiError).error.code).toBe('invalid_change_ticket');

    // Refused means nothing ran: the batch is still only planned and the groups are untouched.
    expect((await batch(stack, batchId)).status).toBe('planned');
    for (const g of groups) expect(await grants(client, g)).toEqual(OPEN_GRANTS);

    const ok = await execute(stack, batchId, ids, { change_ticket: 'CHG-1234' });
    expect(ok.status).toBe(202);
    const b = await waitBatch(stack, batchId);
    expect(b.status).toBe('completed');
    expect(b.change_ticket).toBe('CHG-1234');
    const snaps = snapshotFiles(stack, batchId);
    expect(Object.keys(snaps).sort()).toEqual(b.items.map((i) => i.snapshot_id).sort());
    expect(Object.values(snaps).map((s) => s.change_ticket)).toEqual(['CHG-1234', 'CHG-1234']);
    for (const g of groups) expect(await grants(client, g)).toEqual(FIXED_GRANTS);
  }, 60_000);
});

describe('plan binding', () => {
  it('fails an item whose resource changed since the dry run, and leaves that resource alone', async () => {
    const changed = await openGroup(client);
    const steady = await openGroup(client);
    await ingest(stack, [
      { id: 'pb-changed', handler: 'block-public-ssh', resource_id: changed },
      { id: 'pb-steady', handler: 'block-public-ssh', resource_id: steady },
    ]);
    const ids = ['pb-changed', 'pb-steady'];
    const batchId = await dryRun(stack, ids);
    // After the dry run, someone opens RDP to the world too: the plan would now revoke more.
    await client.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: changed,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    const before = await grants(client, changed);
    expect(before).toContain('tcp 3389-3389 0.0.0.0/0');

    expect((await execute(stack, batchId, ids, { change_ticket: 'CHG-1235' })).status).toBe(202);
    const b = await waitBatch(stack, batchId);
    const item = (id: string) => b.items.find((i) => i.finding_id === id);
    expect(item('pb-changed')).toMatchObject({ state: 'failed', error: 'plan_changed', snapshot_id: null });
    expect(item('pb-changed')?.error_message).toContain('revoke');
    expect(item('pb-steady')?.state).toBe('succeeded');
    expect(b.status).toBe('completed_with_failures');
    // Untouched: exactly as the SDK left it (nothing revoked, not even the planned 22 rule).
    expect(await grants(client, changed)).toEqual(before);
    expect(await grants(client, steady)).toEqual(FIXED_GRANTS);
    expect(Object.values(snapshotFiles(stack, batchId)).map((s) => s.finding_id)).toEqual(['pb-steady']);
  }, 60_000);
});
