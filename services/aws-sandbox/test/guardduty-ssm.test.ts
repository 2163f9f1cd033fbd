import {
  CreateDetectorCommand,
  DeleteDetectorCommand,
  GetDetectorCommand,
  ListDetectorsCommand,
  UpdateDetectorCommand,
} from '@aws-sdk/client-guardduty';
import {
  DescribeInstancePatchStatesCommand,
  GetCommandInvocationCommand,
  ListCommandsCommand,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { awsError, clients, useSandbox } from './helpers';

const { sb, c } = useSandbox({ seed: true, behaviour: { ssmCommandMs: 300 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('GuardDuty detectors', () => {
  it('creates one detector per region, gets, updates, lists and deletes it', async () => {
    expect((await c().guardduty.send(new ListDetectorsCommand({}))).DetectorIds).toEqual([]);
    const { DetectorId } = await c().guardduty.send(
      new CreateDetectorCommand({ Enable: true, FindingPublishingFrequency: 'SIX_HOURS' }),
    );
    expect(DetectorId).toMatch(/^[0-9a-f]{32}$/);
    const again = await awsError(c().guardduty.send(new CreateDetectorCommand({ Enable: true })));
    expect(again).toMatchObject({
      name: 'BadRequestException',
      status: 400,
      message: 'The request is rejected because a detector already exists for the current account.',
    });
    await c().guardduty.send(
      new UpdateDetectorCommand({ DetectorId, Enable: false, FindingPublishingFrequency: 'FIFTEEN_MINUTES' }),
    );
    const d = await c().guardduty.send(new GetDetectorCommand({ DetectorId }));
    expect(d).toMatchObject({ Status: 'DISABLED', FindingPublishingFrequency: 'FIFTEEN_MINUTES' });
    expect(d.ServiceRole).toContain('AWSServiceRoleForAmazonGuardDuty');

    const west = clients(sb().url, 'us-west-2');
    try {
      expect((await west.guardduty.send(new ListDetectorsCommand({}))).DetectorIds).toEqual([]);
      await west.guardduty.send(new CreateDetectorCommand({ Enable: true }));
      expect(await awsError(west.guardduty.send(new GetDetectorCommand({ DetectorId })))).toMatchObject({
        name: 'BadRequestException',
      });
    } finally {
      west.guardduty.destroy();
    }

    await c().guardduty.send(new DeleteDetectorCommand({ DetectorId }));
    expect((await c().guardduty.send(new ListDetectorsCommand({}))).DetectorIds).toEqual([]);
    expect((await awsError(c().guardduty.send(new DeleteDetectorCommand({ DetectorId })))).name).toBe(
      'BadRequestException',
    );
  });
});

describe('SSM patching', () => {
  it('runs AWS-RunPatchBaseline Install: Pending/InProgress then Success, and patch counts follow', async () => {
    const id = sb().seeded()?.patch_instance_id ?? '';
    const before = await c().ssm.send(new DescribeInstancePatchStatesCommand({ InstanceIds: [id] }));
    expect(before.InstancePatchStates?.[0]).toMatchObject({ MissingCount: 7, FailedCount: 1, InstalledCount: 38 });
    const sent = await c().ssm.send(
      new SendCommandCommand({
        InstanceIds: [id],
        DocumentName: 'AWS-RunPatchBaseline',
        Parameters: { Operation: ['Install'] },
        TimeoutSeconds: 600,
      }),
    );
    const CommandId = sent.Command?.CommandId;
    expect(sent.Command).toMatchObject({ Status: 'Pending', DocumentName: 'AWS-RunPatchBaseline', InstanceIds: [id] });
    const first = await c().ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId: id }));
    expect(['Pending', 'InProgress']).toContain(first.Status);
    await sleep(350);
    const done = await c().ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId: id }));
    expect(done).toMatchObject({ Status: 'Success', ResponseCode: 0 });
    const after = await c().ssm.send(new DescribeInstancePatchStatesCommand({ InstanceIds: [id] }));
    expect(after.InstancePatchStates?.[0]).toMatchObject({
      MissingCount: 0,
      FailedCount: 0,
      InstalledCount: 46,
      Operation: 'Install',
    });
    const listed = await c().ssm.send(new ListCommandsCommand({ CommandId }));
    expect(listed.Commands?.[0]).toMatchObject({ Status: 'Success', CompletedCount: 1, ErrorCount: 0 });
  });

  it('ends in the configured failure status for an instance and leaves patches missing', async () => {
    const id = sb().seeded()?.imds_instance_id ?? '';
    sb().configure({ ssmInstanceOutcomes: { [id]: 'TimedOut' } });
    const sent = await c().ssm.send(
      new SendCommandCommand({
        InstanceIds: [id],
        DocumentName: 'AWS-RunPatchBaseline',
        Parameters: { Operation: ['Install'] },
      }),
    );
    await sleep(350);
    const inv = await c().ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: id }),
    );
    expect(inv).toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut' });
    const res = await fetch(`${sb().url}/_sandbox/ssm/instances/${id}/outcome`, {
      method: 'POST',
      body: '{"status":"Failed"}',
    });
    expect(res.status).toBe(200);
    const sent2 = await c().ssm.send(
      new SendCommandCommand({
        InstanceIds: [id],
        DocumentName: 'AWS-RunPatchBaseline',
        Parameters: { Operation: ['Scan'] },
      }),
    );
    await sleep(350);
    expect(
      (await c().ssm.send(new ListCommandsCommand({ CommandId: sent2.Command?.CommandId }))).Commands?.[0],
    ).toMatchObject({ Status: 'Failed', ErrorCount: 1 });
  });

  it('rejects unknown or stopped instances (InvalidInstanceId) and unknown invocations', async () => {
    expect(
      await awsError(
        c().ssm.send(
          new SendCommandCommand({
            InstanceIds: ['i-0123456789abcdef0'],
            DocumentName: 'AWS-RunPatchBaseline',
            Parameters: { Operation: ['Install'] },
          }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidInstanceId', status: 400 });
    const id = sb().seeded()?.imds_instance_id ?? '';
    sb().setInstanceState(id, 'stopped');
    try {
      expect(
        (
          await awsError(
            c().ssm.send(
              new SendCommandCommand({
                InstanceIds: [id],
                DocumentName: 'AWS-RunPatchBaseline',
                Parameters: { Operation: ['Install'] },
              }),
            ),
          )
        ).name,
      ).toBe('InvalidInstanceId');
    } finally {
      sb().setInstanceState(id, 'running');
    }
    expect(
      (await awsError(c().ssm.send(new SendCommandCommand({ InstanceIds: [id], DocumentName: 'No-Such-Doc' })))).name,
    ).toBe('InvalidDocument');
    expect(
      (
        await awsError(
          c().ssm.send(
            new GetCommandInvocationCommand({ CommandId: '00000000-0000-0000-0000-000000000000', InstanceId: id }),
          ),
        )
      ).name,
    ).toBe('InvocationDoesNotExist');
    expect(
      (await c().ssm.send(new DescribeInstancePatchStatesCommand({ InstanceIds: ['i-0123456789abcdef0'] })))
        .InstancePatchStates,
    ).toEqual([]);
  });
});
