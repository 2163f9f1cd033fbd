import { resolve } from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from '../../packages/testkit/src';

export type Mode = 'full' | 'quick' | 'tiny';

export const PHASES = ['overhead', 'rate', 't1', 'api', 'memory'] as const;
export type Phase = (typeof PHASES)[number];

/** How much work each phase does. */
export interface Sizes {
  /** Overhead: items per pipeline run and per baseline run; runs of each, alternated. */
  overheadItems: number;
  overheadRounds: number;
  /** Items for the --cpu-prof run of a T1 worker (0: none). */
  profileItems: number;
  /** Rate limit: block-public-ssh findings against the throttled sandbox. */
  rateItems: number;
  /**
   * The rate-limit phase on a stack of its own with every default (true), or last on the main
   * stack, whose budget is scaled out of the way (the smoke run: one stack starts faster).
   */
  rateOwnStack: boolean;
  /** One small untimed run of each path before the overhead rounds. */
  warmup: boolean;
  /** T1 SLA: the big burst (1 replica), then the scaling runs at each replica count. */
  t1Items: number;
  t1ScaleItems: number;
  t1Replicas: number[];
  /** API: dry run size and repeats, the executed batch GET is run against, autocannon seconds. */
  dryRunItems: number;
  dryRunRepeats: number;
  statusBatchItems: number;
  findingsPerPost: number;
  cannonSeconds: number;
  cannonConnections: number;
  /** Memory: queued items at the two measuring points. */
  memSmall: number;
  memLarge: number;
}

export const SIZES: Record<Mode, Sizes> = {
  full: {
    overheadItems: 1500,
    overheadRounds: 2,
    profileItems: 800,
    rateItems: 2000,
    rateOwnStack: true,
    warmup: true,
    t1Items: 10_000,
    t1ScaleItems: 500,
    t1Replicas: [1, 2, 4],
    dryRunItems: 1000,
    dryRunRepeats: 2,
    statusBatchItems: 100,
    findingsPerPost: 100,
    cannonSeconds: 6,
    cannonConnections: 10,
    memSmall: 10_000,
    memLarge: 100_000,
  },
  quick: {
    overheadItems: 200,
    overheadRounds: 1,
    profileItems: 0,
    rateItems: 100,
    rateOwnStack: true,
    warmup: true,
    t1Items: 150,
    t1ScaleItems: 50,
    t1Replicas: [1, 2],
    dryRunItems: 200,
    dryRunRepeats: 1,
    statusBatchItems: 100,
    findingsPerPost: 100,
    cannonSeconds: 2,
    cannonConnections: 10,
    memSmall: 2000,
    memLarge: 5000,
  },
  // The CI smoke run: every phase, every figure, as little work as still measures something.
  tiny: {
    overheadItems: 60,
    overheadRounds: 1,
    profileItems: 0,
    rateItems: 60,
    rateOwnStack: false,
    warmup: false,
    t1Items: 60,
    t1ScaleItems: 30,
    t1Replicas: [1],
    dryRunItems: 30,
    dryRunRepeats: 1,
    statusBatchItems: 20,
    findingsPerPost: 20,
    cannonSeconds: 1,
    cannonConnections: 4,
    memSmall: 300,
    memLarge: 1500,
  },
};

const count = z.number().int().nonnegative();
const SizeOverrides = z
  .strictObject({
    overheadItems: count,
    overheadRounds: count.min(1),
    profileItems: count,
    rateItems: count.min(1),
    rateOwnStack: z.boolean(),
    warmup: z.boolean(),
    t1Items: count.min(1),
    t1ScaleItems: count.min(1),
    t1Replicas: z.array(count.min(1).max(8)).min(1),
    dryRunItems: count.min(1),
    dryRunRepeats: count.min(1),
    statusBatchItems: count.min(1),
    findingsPerPost: count.min(1),
    cannonSeconds: count.min(1),
    cannonConnections: count.min(1),
    memSmall: count.min(1),
    memLarge: count.min(1),
  })
  .partial() satisfies z.ZodType<Partial<Sizes>>;

const BenchEnv = z.object({
  /** `tiny` shrinks a --quick run further (the CI smoke test). */
  BENCH_SIZE: z.enum(['tiny']).optional(),
  /** Where results.{json,md} and the plots go (default: bench/). */
  BENCH_OUT_DIR: z.string().min(1).optional(),
  /** Per-size overrides as JSON, e.g. {"t1Items":5000}. */
  BENCH_SIZES: z.string().optional(),
  /** Keep the --cpu-prof files here (open them in Chrome DevTools) instead of a temporary folder. */
  BENCH_PROFILE_DIR: z.string().min(1).optional(),
  /** Only these phases (comma separated), while working on one of them. */
  BENCH_PHASES: z
    .string()
    .transform((s) => s.split(',').map((p) => p.trim()))
    .pipe(z.array(z.enum(PHASES)).min(1))
    .optional(),
});

export interface BenchConfig {
  mode: Mode;
  sizes: Sizes;
  outDir: string;
  phases: ReadonlySet<Phase>;
  profileDir: string | null;
  /** Measure nothing: write results.md, results.json and the plots again from results.detail.json. */
  renderOnly: boolean;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): BenchConfig {
  const unknown = argv.filter((a) => a !== '--quick' && a !== '--render');
  if (unknown.length) throw new Error(`bench: unknown arguments ${unknown.join(' ')} (--quick, --render)`);
  const e = BenchEnv.parse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  const mode: Mode = e.BENCH_SIZE === 'tiny' ? 'tiny' : argv.includes('--quick') ? 'quick' : 'full';
  const overrides = e.BENCH_SIZES ? SizeOverrides.parse(JSON.parse(e.BENCH_SIZES)) : {};
  return {
    mode,
    sizes: { ...SIZES[mode], ...overrides },
    outDir: resolve(e.BENCH_OUT_DIR ?? `${REPO_ROOT}/bench`),
    phases: new Set(e.BENCH_PHASES ?? PHASES),
    profileDir: e.BENCH_PROFILE_DIR ? resolve(e.BENCH_PROFILE_DIR) : null,
    renderOnly: argv.includes('--render'),
  };
}
