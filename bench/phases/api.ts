import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cannon, type CannonFigures } from '../lib/cannon';
import { spawnTs } from '../lib/child';
import { dropGroups, seedOpenSshGroups } from '../lib/sandbox';
import { dryRun, execute, findingsFor, planBatch, postFindings, waitBatch, type BenchStack } from '../lib/stack';
import { median, round } from '../lib/stats';
import type { Sizes } from '../lib/config';

export interface ApiResult {
  dry_run_items: number;
  dry_run_ms: number[];
  dry_run_p50_ms: number;
  status_batch_items: number;
  status: { gateway: CannonFigures; bare: CannonFigures };
  findings_per_request: number;
  findings_post: { gateway: CannonFigures; bare: CannonFigures };
  connections: number;
  seconds: number;
}

/**
 * The gateway under load, beside a bare express server answering the same payloads: a dry run of
 * many findings (one request, timed), then autocannon on GET /remediations/:id and POST /findings.
 */
export async function runApi(bs: BenchStack, sizes: Sizes, say: (m: string) => void): Promise<ApiResult> {
  const sb = bs.sandbox;
  const dir = mkdtempSync(join(tmpdir(), 'aegis-bench-api-'));
  const dryGroups = seedOpenSshGroups(sb, sizes.dryRunItems);
  const statusGroups = seedOpenSshGroups(sb, sizes.statusBatchItems);
  const statusFile = join(dir, 'status.json');
  // Starts while the dry runs go; it reads the status file only on its first request.
  const bareP = spawnTs('bench/bare-express.ts', { BENCH_STATUS_FILE: statusFile }, 'bare express listening');
  bareP.catch(() => undefined);
  try {
    const ids = await postFindings(bs, 'apidry', dryGroups);
    const dryMs: number[] = [];
    for (let i = 0; i < sizes.dryRunRepeats; i++) dryMs.push(round((await dryRun(bs, ids)).ms, 0));
    say(`API: dry run of ${ids.length} findings: ${dryMs.join(', ')} ms`);

    const b = await planBatch(bs, 'apistatus', statusGroups);
    await execute(bs, b.batchId, b.ids);
    await waitBatch(bs, b.batchId, b.ids.length, { everyMs: 100, timeoutMs: 120_000 });
    const statusPath = `/api/v1/remediations/${b.batchId}`;
    const statusBody = await bs.stack.api('GET', statusPath);
    writeFileSync(statusFile, statusBody.text);
    const postFile = join(dir, 'findings.json');
    const findings = findingsFor('apipost', statusGroups).slice(0, sizes.findingsPerPost);
    while (findings.length < sizes.findingsPerPost)
      findings.push({ ...(findings[0] as (typeof findings)[0]), id: `apipost-x${findings.length}` });
    writeFileSync(postFile, JSON.stringify({ findings }));

    const bare = await bareP;
    const barePort = /listening on (\d+)/.exec(bare.lines.join('\n'))?.[1];
    const bareUrl = `http://127.0.0.1:${barePort}`;
    const auth = { authorization: `Bearer ${bs.stack.token}` };
    const json = { 'content-type': 'application/json' };
    const common = { seconds: sizes.cannonSeconds, connections: sizes.cannonConnections, warmup: sizes.warmup };
    const statusGw = await cannon({ ...common, url: `${bs.stack.apiUrl}${statusPath}`, headers: auth });
    const statusBare = await cannon({ ...common, url: `${bareUrl}/status` });
    say(`API: GET status p99 ${statusGw.p99_ms} ms (bare express ${statusBare.p99_ms} ms)`);
    const post = { ...common, method: 'POST' as const, bodyFile: postFile };
    const postGw = await cannon({
      ...post,
      url: `${bs.stack.apiUrl}/api/v1/findings`,
      headers: { ...auth, ...json },
    });
    const postBare = await cannon({ ...post, url: `${bareUrl}/findings`, headers: json });
    say(`API: POST findings p99 ${postGw.p99_ms} ms (bare express ${postBare.p99_ms} ms)`);
    return {
      dry_run_items: ids.length,
      dry_run_ms: dryMs,
      dry_run_p50_ms: median(dryMs),
      status_batch_items: b.ids.length,
      status: { gateway: statusGw, bare: statusBare },
      findings_per_request: findings.length,
      findings_post: { gateway: postGw, bare: postBare },
      connections: sizes.cannonConnections,
      seconds: sizes.cannonSeconds,
    };
  } finally {
    await bareP.then((b) => b.stop()).catch(() => undefined);
    dropGroups(sb, [...dryGroups, ...statusGroups]);
    rmSync(dir, { recursive: true, force: true });
  }
}
