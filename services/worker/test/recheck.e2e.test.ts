import { startStack, type Stack } from '@aegis/testkit';
import {
  AuthorizeSecurityGroupIngressCommand,
  ec2,
  grants,
  ingest,
  logLines,
  metricsOf,
  openGroup,
  remediate,
  sample,
  waitBatch,
  waitFor,
  type EC2Client,
} from './helpers';

/**
 * Regression re-check: AEGIS_RECHECK_DELAY after a success the worker reads the resource again.
 * Misconfigured again → the finding is `regressed`, a metric counts it and a warning names the
 * finding's dependencies (the runbook's "Dependency Conflict": fix the root resource instead).
 */
let stack: Stack;
let client: EC2Client;

beforeAll(async () => {
  stack = await startStack({ env: { AEGIS_RECHECK_DELAY: '2s' } });
  client = ec2(stack);
}, 90_000);
afterAll(async () => {
  client?.destroy();
  await stack?.stop();
});

const finding = async (id: string) => (await stack.api('GET', `/api/v1/findings/${id}`)).body as { status: string };

it('flags a resource misconfigured again after its remediation as regressed, naming its dependencies', async () => {
  const sg = await openGroup(client);
  const dependencies = [{ resource_id: 'lt-0abc1234def567890', relation: 'launch-template' }];
  await ingest(stack, [{ id: 'rc-regress', handler: 'block-public-ssh', resource_id: sg, dependencies }]);
  const batchId = await remediate(stack, ['rc-regress']);
  expect((await waitBatch(stack, batchId)).status).toBe('completed');
  expect(await grants(client, sg)).not.toContain('tcp 22-22 0.0.0.0/0');
  expect((await finding('rc-regress')).status).toBe('remediated');

  // Within the delay, something (a launch template, IaC) opens SSH to the world again.
  await client.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: sg,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    }),
  );
  expect(logLines(stack, { action: 'recheck', finding_id: 'rc-regress' })).toEqual([]); // not re-checked yet

  await waitFor(
    'the finding to regress',
    () => finding('rc-regress'),
    (f) => f.status === 'regressed',
    20_000,
  );
  const warn = logLines(stack, { action: 'recheck', finding_id: 'rc-regress', level: 'warn' });
  expect(warn).toHaveLength(1);
  expect(warn[0]).toMatchObject({ status: 'regressed', batch_id: batchId, resource_id: sg, dependencies });
  expect(String(warn[0]?.msg)).toContain('lt-0abc1234def567890 (launch-template)');
  const m = await metricsOf(stack, 'worker-t1');
  expect(sample(m, 'aegis_regressions_total', { tier: 'T1', handler: 'block-public-ssh' })).toBe(1);
  // The re-check only reads: the rule is still there for the operator to see.
  expect(await grants(client, sg)).toContain('tcp 22-22 0.0.0.0/0');
}, 60_000);

it('leaves a resource that stayed fixed remediated', async () => {
  const sg = await openGroup(client);
  await ingest(stack, [{ id: 'rc-stays', handler: 'block-public-ssh', resource_id: sg }]);
  const batchId = await remediate(stack, ['rc-stays']);
  expect((await waitBatch(stack, batchId)).status).toBe('completed');

  const lines = await waitFor(
    'the re-check',
    async () => logLines(stack, { action: 'recheck', finding_id: 'rc-stays' }),
    (l) => l.length > 0,
    20_000,
  );
  expect(lines).toEqual([expect.objectContaining({ level: 'info', status: 'remediated', batch_id: batchId })]);
  expect((await finding('rc-stays')).status).toBe('remediated');
  const m = await metricsOf(stack, 'worker-t1');
  expect(sample(m, 'aegis_rechecks_total', { result: 'compliant' })).toBeGreaterThanOrEqual(1);
  expect(sample(m, 'aegis_regressions_total')).toBe(1); // only the first test's
}, 60_000);
