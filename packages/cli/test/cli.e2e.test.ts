import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Json } from '@aegis/core';
import { writeLocalStack } from '../src/local-stack';
import { finding, injectFault } from './e2e-cloud';
import { expectExit, parsed, useE2E, type SnapshotRow, type Status } from './e2e-harness';
import { runCli } from './run-cli';

/*
 * The real `./aegis` against the real stack (see e2e-harness), for every command. Every effect is
 * checked in the sandbox, not taken from the CLI's word; the last test stops the stack and rolls
 * back from a snapshot file.
 */

jest.setTimeout(120_000);

const e = useE2E();
const aegis = e.aegis;

const MAIN = ['e-ssh', 'e-bucket', 'e-imds', 'e-gd', 'e-keys', 'e-patch'];
let batch = '';
let snapshots: SnapshotRow[] = [];
const snapOf = (handler: string) => snapshots.find((x) => x.handler === handler)?.snapshot_id ?? 'missing';

it('prints help with every command and the exit codes', async () => {
  const r = await aegis(['--help']);
  expectExit(r, 0);
  for (const c of ['remediate', 'status', 'snapshots', 'rollback', 'stop', 'resume', 'stopped', 'report', 'findings']) {
    expect(r.stdout).toContain(c);
  }
  expect(r.stdout).toMatch(/Exit codes:[\s\S]*5 {2}refused/);
  expect((await aegis(['rollback', '--help'])).stdout).toContain('--from-file <file>');
});

it('imports findings from an NDJSON file and from JSON on stdin, refusing an invalid file', async () => {
  const six = [
    finding('e-ssh', 'block-public-ssh', e.seed.security_group_id, e.seed),
    finding('e-bucket', 's3-block-public-access', e.seed.bucket, e.seed),
    finding('e-imds', 'enforce-imdsv2', e.seed.imds_instance_id, e.seed),
    finding('e-gd', 'enable-guardduty', e.seed.account_id, e.seed, e.seed.guardduty_region),
    finding('e-keys', 'rotate-iam-keys', e.seed.iam_user_arn, e.seed),
    finding('e-patch', 'run-patch-baseline', e.seed.patch_instance_id, e.seed),
  ];
  writeFileSync(join(e.work, 'scan.ndjson'), six.map((f) => JSON.stringify(f)).join('\n'));
  const r = await aegis(['findings', 'import', 'scan.ndjson', '--json']);
  expectExit(r, 0);
  expect(parsed<{ imported: number }>(r).imported).toBe(6);

  const again = { findings: [finding('e-ssh', 'block-public-ssh', e.seed.security_group_id, e.seed)] };
  const piped = await aegis(['findings', 'import', '-'], {}, JSON.stringify(again));
  expectExit(piped, 0);
  expect(piped.stdout).toContain('Imported 1 finding from stdin');

  writeFileSync(join(e.work, 'bad.ndjson'), `${JSON.stringify(six[0])}\n{"id":"x","handler":"nope"}\n`);
  const bad = await aegis(['findings', 'import', 'bad.ndjson']);
  expectExit(bad, 2);
  expect(bad.stderr).toContain('nothing was imported');
  expect(bad.stderr).toMatch(/line 2 \(id x\): handler/);
});

it('remediate --dry-run prints the preview table and the batch id', async () => {
  const r = await aegis(['remediate', '--finding-ids', MAIN.join(','), '--dry-run']);
  expectExit(r, 0);
  expect(r.stdout).toMatch(/FINDING +HANDLER +TIER +RESOURCE +NOOP +CHANGES/);
  expect(r.stdout).toMatch(/batch_id: batch-\d{8}-\d{3,}/);
  expect(r.stdout).toMatch(new RegExp(`e-ssh +block-public-ssh +T1 +${e.seed.security_group_id} +no +revoke`));
  expect(r.stdout).toMatch(/e-patch +run-patch-baseline +T3/);

  const j = await aegis(['remediate', '-f', 'e-ssh', '-f', 'e-imds', '--dry-run', '--json']);
  expectExit(j, 0);
  const preview = parsed<{ batch_id: string; actions_preview: { handler: string; noop: boolean }[] }>(j);
  expect(preview.batch_id).toMatch(/^batch-\d{8}-\d{3,}$/);
  expect(preview.actions_preview.map((a) => a.handler).sort()).toEqual(['block-public-ssh', 'enforce-imdsv2']);
});

it('refuses to execute without --yes when stdin is not a terminal, and changes nothing', async () => {
  const r = await aegis(['remediate', '--finding-ids', MAIN.join(',')]);
  expectExit(r, 5);
  expect(r.stderr).toMatch(/refusing to execute batch-\S+ .*stdin is not a terminal/);
  expect(r.stderr).toContain('--yes');
  expect(await e.probe.compliant('block-public-ssh', e.seed.security_group_id)).toBe(false);
});

it('remediate --yes --json executes, then status --watch --json follows it to completed', async () => {
  const r = await aegis(['remediate', '--finding-ids', MAIN.join(','), '--yes', '--json']);
  expectExit(r, 0);
  const accepted = parsed<{ batch_id: string; status: string; started_at: string }>(r);
  expect(accepted.batch_id).toMatch(/^batch-/);
  expect(accepted.started_at).toBeTruthy();
  batch = accepted.batch_id;

  const w = await aegis(['status', batch, '--watch', '--json', '--interval', '0.5']);
  expectExit(w, 0);
  const final = parsed<Status>(w);
  expect(final).toMatchObject({ batch_id: batch, status: 'completed', failed: 0, pending: 0 });
  expect(final.items.map((i) => i.state)).toEqual(Array(6).fill('succeeded'));
  expect(await e.probe.compliant('block-public-ssh', e.seed.security_group_id)).toBe(true);
  expect(await e.probe.compliant('enforce-imdsv2', e.seed.imds_instance_id)).toBe(true);
  expect(await e.probe.compliant('s3-block-public-access', e.seed.bucket)).toBe(true);

  const human = await aegis(['status', batch]);
  expectExit(human, 0);
  expect(human.stdout).toMatch(new RegExp(`${batch} +completed +· +6 completed, 0 failed, 0 pending`));
  expect(human.stdout).toMatch(/e-keys +rotate-iam-keys +T3 +\S+ +succeeded +1 +snap-\d+/);
});

it('snapshots lists one snapshot per changed resource', async () => {
  const j = await aegis(['snapshots', batch, '--json']);
  expectExit(j, 0);
  snapshots = parsed<SnapshotRow[]>(j);
  expect(snapshots.map((x) => x.handler).sort()).toEqual([
    'block-public-ssh',
    'enable-guardduty',
    'enforce-imdsv2',
    'rotate-iam-keys',
    'run-patch-baseline',
    's3-block-public-access',
  ]);
  const h = await aegis(['snapshots', batch]);
  expect(h.stdout).toMatch(/SNAPSHOT +FINDING +HANDLER +RESOURCE +TAKEN +EXPIRES/);
  expect(h.stdout).toContain(e.seed.security_group_id);
});

it('rollback --dry-run shows what comes back and refuses the irreversible handler', async () => {
  const one = await aegis(['rollback', batch, '--snapshot', snapOf('block-public-ssh'), '--dry-run']);
  expectExit(one, 0);
  expect(one.stdout).toMatch(
    new RegExp(`${snapOf('block-public-ssh')} +e-ssh +block-public-ssh .* ready +undo: revoke`),
  );
  expect(one.stdout).toContain('Dry run: nothing has been changed.');
  const all = await aegis(['rollback', batch, '--dry-run', '--json']);
  const body = parsed<{ rollbacks: { handler: string; refused?: { code: string } }[] }>(all);
  expect(body.rollbacks).toHaveLength(6);
  expect(body.rollbacks.find((x) => x.handler === 'run-patch-baseline')?.refused?.code).toBe('irreversible');
  expect(await e.probe.compliant('block-public-ssh', e.seed.security_group_id)).toBe(true);
});

it('rollback needs --yes without a terminal, then restores the security group', async () => {
  const sg = snapOf('block-public-ssh');
  const refused = await aegis(['rollback', batch, '--snapshot', sg]);
  expectExit(refused, 5);
  expect(refused.stderr).toContain('without confirmation');

  const r = await aegis(['rollback', batch, '--snapshot', sg, '--yes', '--watch', '--interval', '0.5']);
  expectExit(r, 0);
  expect(r.stdout).toMatch(new RegExp(`${sg} +block-public-ssh +${e.seed.security_group_id} +rolled_back`));
  expect(await e.probe.compliant('block-public-ssh', e.seed.security_group_id)).toBe(false);
  const after = parsed<Status>(await aegis(['status', batch, '--json']));
  // One of five reversible snapshots restored: the batch as a whole is partially rolled back.
  expect(after.rollback_status).toBe('partially_rolled_back');
  expect(after.rollbacks).toContainEqual(expect.objectContaining({ snapshot_id: sg, state: 'rolled_back' }));

  const patch = await aegis(['rollback', batch, '--snapshot', snapOf('run-patch-baseline'), '--yes']);
  expectExit(patch, 5);
  expect(patch.stdout + patch.stderr).toMatch(/cannot be rolled back/);
});

it('a watched batch with a failed item ends with a summary and exit code 1', async () => {
  // The rollback above opened the group again; the cloud now refuses the fix twice.
  await injectFault(e.sandbox.url, {
    operation: 'RevokeSecurityGroupIngress',
    resource_id: e.seed.security_group_id,
    code: 'UnauthorizedOperation',
    times: 2,
  });
  await aegis(
    ['findings', 'import', '-'],
    {},
    JSON.stringify([finding('e-denied', 'block-public-ssh', e.seed.security_group_id, e.seed)]),
  );
  const r = await aegis(['remediate', '--finding-ids', 'e-denied', '--yes', '--watch', '--interval', '0.5']);
  expectExit(r, 1);
  expect(r.stdout).toMatch(/finished with failures/);
  expect(r.stdout).toMatch(/e-denied block-public-ssh sg-\S+: failed \(UnauthorizedOperation/);
  expect(r.stderr).toMatch(/batch-\S+ +(running|completed_with_failures|stopped)/);

  const j = await aegis(['remediate', '-f', 'e-denied', '--yes', '--watch', '--json', '--interval', '0.5']);
  expectExit(j, 1);
  expect(parsed<Status>(j).failed).toBe(1);
  expect(await e.probe.compliant('block-public-ssh', e.seed.security_group_id)).toBe(false);
});

it('emergency stop holds a new batch until resume', async () => {
  const stop = await aegis(['stop', '--reason', 'cli e2e']);
  expectExit(stop, 0);
  expect(stop.stdout).toContain('Emergency stop in effect');
  const state = parsed<{ paused: boolean; reason: string }>(await aegis(['stopped', '--json']));
  expect(state).toMatchObject({ paused: true, reason: 'cli e2e' });

  await aegis(
    ['findings', 'import', '-'],
    {},
    JSON.stringify([finding('e-ssh-2', 'block-public-ssh', e.seed.security_group_id, e.seed)]),
  );
  const r = await aegis(['remediate', '-f', 'e-ssh-2', '--yes', '--json']);
  expectExit(r, 0);
  const held = parsed<{ batch_id: string; dispatcher_paused: boolean }>(r);
  expect(held.dispatcher_paused).toBe(true);
  expect(r.stderr).toContain('runs after `aegis resume`');
  await new Promise((done) => setTimeout(done, 1500));
  expect(parsed<Status>(await aegis(['status', held.batch_id, '--json'])).pending).toBe(1);
  expect(await e.probe.compliant('block-public-ssh', e.seed.security_group_id)).toBe(false);

  expect((await aegis(['resume'])).code).toBe(0);
  expect((await aegis(['stopped'])).stdout).toContain('No emergency stop');
  const w = await aegis(['status', held.batch_id, '--watch', '--json', '--interval', '0.5']);
  expect(parsed<Status>(w).status).toBe('completed');
  expect(await e.probe.compliant('block-public-ssh', e.seed.security_group_id)).toBe(true);
});

it('report, handlers and iam-policy: the local policy covers every action the gateway reports', async () => {
  const total = parsed<{ total: number; success_rate: number }>(await aegis(['report', '--period', '7d', '--json']));
  expect(total.total).toBeGreaterThanOrEqual(9);
  const by = parsed<{ handler: string }[]>(await aegis(['report', '--group-by', 'handler', '--json']));
  expect(by.map((x) => x.handler)).toContain('block-public-ssh');
  expect((await aegis(['report'])).stdout).toMatch(/success_rate: +\d+(\.\d)?%/);

  const handlers = parsed<{ handlers: { name: string; iam_actions: string[] }[] }>(await aegis(['handlers', '--json']));
  expect(handlers.handlers).toHaveLength(6);
  const policy = parsed<{ Statement: { Action: string[]; Resource: string }[] }>(await aegis(['iam-policy']));
  const allowed = new Set(policy.Statement.flatMap((st) => st.Action));
  for (const h of handlers.handlers) for (const a of h.iam_actions) expect(allowed).toContain(a);
  const snap = parsed<{ Statement: { Action: string[]; Resource: string }[] }>(
    await aegis(['iam-policy', '--role', 'snapshot', '--bucket', 'acme-snaps']),
  );
  expect(snap.Statement).toContainEqual(expect.objectContaining({ Resource: 'arn:aws:s3:::acme-snaps/*' }));
});

it('auth and validation errors: 401 and 403 exit 3, 400/404 exit 2, with clear messages', async () => {
  const wrong = await aegis(['status', batch], { AEGIS_API_TOKEN: 'wrong' });
  expectExit(wrong, 3);
  expect(wrong.stderr).toMatch(/unauthorized \(401\)/);
  const reader = { AEGIS_API_TOKEN: '', API_TOKEN: e.readToken };
  expect((await aegis(['status', batch], reader)).code).toBe(0);
  const forbidden = await aegis(['remediate', '-f', 'e-ssh', '--dry-run'], reader);
  expectExit(forbidden, 3);
  expect(forbidden.stderr).toContain('lacks the "remediation:execute" scope');

  const unknown = await aegis(['status', 'batch-20990101-999']);
  expectExit(unknown, 2);
  expect(unknown.stderr).toContain('no batch batch-20990101-999');
  const invalid = await aegis(['remediate', '-f', 'bad id!', '--dry-run']);
  expectExit(invalid, 2);
  expect(invalid.stderr).toMatch(/- finding_ids\.0: /);
});

it('finds the stack `pnpm start` published, with no URL or token set (the runbook line as written)', async () => {
  const file = join(e.work, 'local-stack.json');
  writeLocalStack({ api_url: e.live().apiUrl, token: e.live().token, pid: e.live().process.pid ?? process.pid }, file);
  const r = await runCli(['remediate', '--finding-ids', 'e-ssh,e-imds', '--dry-run'], { AEGIS_LOCAL_STACK_FILE: file });
  expectExit(r, 0);
  expect(r.stdout).toMatch(/batch_id: batch-/);
});

it('rollback --from-file restores straight from a snapshot file with the stack stopped', async () => {
  const dir = join(e.live().snapshotDir, 'remediations', batch);
  for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(e.work, f));
  const fileOf = (h: string) => `${snapOf(h)}.json`;
  const imds = JSON.parse(readFileSync(join(e.work, fileOf('enforce-imdsv2')), 'utf8')) as {
    previous_state: Json;
    ops: Json;
  };
  const apiUrl = e.live().apiUrl;
  await e.live().stop();
  e.stack = undefined;

  const down = await aegis(['status', batch], { AEGIS_API_URL: apiUrl });
  expectExit(down, 4);
  expect(down.stderr).toContain(`cannot reach the Aegis API at ${apiUrl}: connection refused`);
  const cloud = { AEGIS_CLOUD: 'sandbox', AEGIS_SANDBOX_PORT: String(e.sandbox.port) };
  const dry = await aegis(['rollback', '--from-file', fileOf('enforce-imdsv2'), '--dry-run'], cloud);
  expectExit(dry, 0);
  expect(dry.stdout).toContain('Live state now:');
  expect(dry.stdout).toContain('Drift: none');
  const viaEndpoint = {
    AEGIS_CLOUD: 'aws',
    AWS_ENDPOINT_URL: e.sandbox.url,
    AWS_ACCESS_KEY_ID: 't',
    AWS_SECRET_ACCESS_KEY: 't',
  };
  const dryJson = parsed<{ drift: string | null; restored: boolean }>(
    await aegis(['rollback', '--from-file', fileOf('enforce-imdsv2'), '--dry-run', '--json'], viaEndpoint),
  );
  expect(dryJson).toMatchObject({ drift: null, restored: false });
  expect((await aegis(['rollback', '--from-file', fileOf('enforce-imdsv2')], cloud)).code).toBe(5);

  const done = await aegis(['rollback', '--from-file', fileOf('enforce-imdsv2'), '--yes'], cloud);
  expectExit(done, 0);
  expect(done.stdout).toContain('it matches the snapshot again');
  expect(await e.probe.matches('enforce-imdsv2', e.seed.imds_instance_id, imds.previous_state, imds.ops)).toBeNull();
  expect(await e.probe.compliant('enforce-imdsv2', e.seed.imds_instance_id)).toBe(false);

  const again = await aegis(['rollback', '--from-file', fileOf('enforce-imdsv2'), '--yes'], cloud);
  expectExit(again, 5);
  expect(again.stderr).toContain('changed since the remediation');
  const irreversible = await aegis(['rollback', '--from-file', fileOf('run-patch-baseline'), '--dry-run'], cloud);
  expectExit(irreversible, 5);
  expect(irreversible.stderr).toContain('run-patch-baseline is not reversible');
  expect((await aegis(['rollback', '--from-file', 'nope.json'], cloud)).code).toBe(2);
});
