import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { freePort, startStack, waitForRedis, type Stack } from '@aegis/testkit';
import { ec2, grants, ingest, openGroup, remediate, waitBatch } from '../../services/api-gateway/test/sandbox-helpers';

/**
 * Scale-out on Redis Cluster: three masters on loopback, the hash-tagged `{aegis}` prefix (every
 * key of the dispatcher and BullMQ in one slot), two worker processes per tier.
 */
describe('a batch through a 3-master Redis Cluster with two workers per tier', () => {
  const procs: ChildProcess[] = [];
  let dir: string;
  let ports: number[] = [];
  let stack: Stack | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aegis-cluster-'));
    ports = [await freePort(), await freePort(), await freePort()];
    for (const p of ports) {
      procs.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(p),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${p}.conf`),
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const p of ports) await waitForRedis(`redis://127.0.0.1:${p}`);
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8' },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (let i = 0; i < 100; i++) {
      const info = spawnSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'], { encoding: 'utf8' }).stdout;
      if (info.includes('cluster_state:ok')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    stack = await startStack({
      redisUrl: `redis://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      workersPerTier: 2,
      env: { AEGIS_REDIS_CLUSTER: 'true', AEGIS_QUEUE_PREFIX: '{aegis}' },
      readyTimeoutMs: 120_000,
    });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('completes every item exactly once', async () => {
    const s = stack as Stack;
    const client = ec2(s);
    const groups: string[] = [];
    for (let i = 0; i < 12; i++) groups.push(await openGroup(client));
    const ids = groups.map((_, i) => `cl-${i}`);
    await ingest(
      s,
      groups.map((g, i) => ({ id: `cl-${i}`, handler: 'block-public-ssh', resource_id: g })),
    );
    const b = await remediate(s, ids);
    const done = await waitBatch(s, b, 90_000);
    expect(done).toMatchObject({ status: 'completed', completed: 12, failed: 0, pending: 0 });
    expect(done.items.every((it) => it.state === 'succeeded' && it.attempts === 1)).toBe(true);
    for (const g of groups) expect(await grants(client, g)).toEqual(['tcp 22-22 10.0.0.0/8', 'tcp 443-443 0.0.0.0/0']);
    // Each item was finished by exactly one worker: one "remediation success" line per finding.
    const finishes = s.logs().filter((l) => l.batch_id === b && l.action === 'finish');
    expect(finishes).toHaveLength(12);
    expect(new Set(finishes.map((l) => l.finding_id)).size).toBe(12);
    // Two worker processes per tier ran against it, and the keys really live in the cluster.
    const pids = s.state().pids;
    for (const t of ['t1', 't2', 't3'])
      expect([pids[`worker-${t}-1`], pids[`worker-${t}-2`]].every((p) => typeof p === 'number')).toBe(true);
    const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
    await new Promise<void>((r) => c.once('ready', () => r()));
    const keys = (await Promise.all(c.nodes('master').map((n) => n.keys('{aegis}:*')))).flat();
    expect(keys.some((k) => k.startsWith('{aegis}:remediation-t1:'))).toBe(true);
    expect(keys.some((k) => k.startsWith(`{aegis}:batch:${b}:`))).toBe(true);
    c.disconnect();
  });
});
