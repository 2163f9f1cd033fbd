import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { REPO_ROOT } from '../../packages/testkit/src';
import { round } from './stats';

const Profile = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
type Node = z.infer<typeof Profile>['nodes'][number];

/** Which part of the stack a profiled frame belongs to, by its script URL. */
const CATEGORIES: [string, RegExp][] = [
  ['bullmq (queue scripts, job handling, msgpack)', /\/(bullmq|msgpackr|cron-parser)\//],
  ['ioredis (Redis protocol)', /\/(ioredis|redis-parser|denque|cluster-key-slot|redis-errors)\//],
  ['aws-sdk (serialise, sign, parse XML)', /\/(@aws-sdk|@smithy|@aws-crypto|fast-xml-parser|strnum|tslib)\//],
  ['pino (logs)', /\/(pino|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep)/],
  ['zod (schemas)', /\/zod\//],
  ['prom-client (metrics)', /\/(prom-client|tdigest|bintrees)\//],
  ['dispatch (remediate-item, state-store, budget)', /\/packages\/dispatch\/src\//],
  ['handlers', /\/packages\/handlers\/src\//],
  ['core', /\/packages\/core\/src\//],
  ['worker service / bench worker', /\/(services\/worker\/src|bench)\//],
  ['tsx / esbuild (TypeScript loading)', /\/(tsx|esbuild|get-tsconfig|source-map)/],
  ['undici (fetch)', /undici/],
];

export interface ProfileSummary {
  /** Busy (non-idle) CPU sampled, ms. */
  busy_ms: number;
  /** Busy CPU per part of the stack, ms; a native frame counts for the JS code that called it. */
  categories_ms: Record<string, number>;
  /** The frames with most self time, with the nearest JS caller of native ones. */
  top: { fn: string; via: string; ms: number }[];
}

const short = (url: string) =>
  url.replace(/^.*\/node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '').replace(`file://${REPO_ROOT}/`, '');

/**
 * Self time by part and by function in a `--cpu-prof` file, samples before `skipMs` left out
 * (process start-up: loading TypeScript, opening connections).
 */
export function summariseProfile(file: string, skipMs: number): ProfileSummary {
  const p = Profile.parse(JSON.parse(readFileSync(file, 'utf8')));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, Node>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  // Native and node-internal frames are charged to the nearest caller in a package or in our code:
  // writev under ioredis is Redis traffic, http internals under the SDK are AWS calls.
  const isNode = (url: string) => !url || /^node:|^internal\//.test(url);
  const owner = (n: Node): Node | null => {
    let x: Node | undefined = n;
    for (let i = 0; x && i < 300; i++, x = parent.get(x.id)) if (!isNode(x.callFrame.url)) return x;
    return null;
  };
  const cat = new Map<string, number>();
  const fn = new Map<string, { via: string; us: number }>();
  let t = 0;
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < skipMs * 1000) continue;
    const node = byId.get(p.samples[i] ?? -1);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += dt;
    const o = owner(node);
    const ownerUrl = o?.callFrame.url ?? '';
    const c =
      functionName === '(garbage collector)'
        ? 'garbage collector'
        : functionName === '(program)'
          ? 'native, no JS caller'
          : (CATEGORIES.find(([, re]) => re.test(ownerUrl))?.[0] ??
            (o ? 'other' : 'node internals with no caller of ours (event loop, timers, sockets)'));
    cat.set(c, (cat.get(c) ?? 0) + dt);
    const key = `${functionName || '(anonymous)'}${url ? ` ${short(url)}:${lineNumber + 1}` : ''}`;
    const via = !o || o === node ? '' : `${o.callFrame.functionName || '(anonymous)'} ${short(o.callFrame.url)}`;
    const e = fn.get(`${key}|${via}`) ?? { via, us: 0 };
    e.us += dt;
    fn.set(`${key}|${via}`, e);
  }
  return {
    busy_ms: round(busy / 1000, 0),
    categories_ms: Object.fromEntries([...cat].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v / 1000, 1)])),
    top: [...fn]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 15)
      .map(([k, v]) => ({ fn: k.split('|')[0] ?? k, via: v.via, ms: round(v.us / 1000, 1) })),
  };
}
