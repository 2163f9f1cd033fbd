import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The dispatcher's Prometheus metrics. Each process owns one registry and serves it on /metrics;
 * Prometheus sums across processes (the runbook's queries aggregate with `by (tier)` etc).
 */
export class DispatchMetrics {
  readonly registry = new Registry();
  readonly remediations: Counter<'tier' | 'handler' | 'status'>;
  readonly active: Gauge<'tier'>;
  readonly duration: Histogram<'tier' | 'handler'>;
  readonly paused: Gauge;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly snapshots: Counter<'handler' | 'status'>;
  readonly rollbacks: Counter<'handler' | 'status'>;
  readonly cloudCalls: Counter<'aws_service' | 'operation' | 'outcome'>;
  readonly cloudErrors: Counter<'aws_service' | 'operation' | 'code'>;
  readonly cloudThrottles: Counter<'aws_service' | 'operation'>;
  readonly batchesStopped: Counter<'reason'>;
  readonly retries: Counter<'tier' | 'handler' | 'class'>;
  readonly budgetWait: Histogram<'category'>;
  readonly budgetDeferrals: Counter<'category'>;
  readonly rechecks: Counter<'tier' | 'handler' | 'result'>;
  readonly regressions: Counter<'tier' | 'handler'>;

  /** Read at scrape time: is the emergency stop on? */
  pausedSource?: () => Promise<boolean>;
  /** Read at scrape time: job counts per queue and state. */
  queueSource?: () => Promise<Record<string, Record<string, number>>>;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    const r = [this.registry];
    this.remediations = new Counter({
      name: 'aegis_remediations_total',
      help: 'Remediation items finished, by outcome.',
      labelNames: ['tier', 'handler', 'status'],
      registers: r,
    });
    this.active = new Gauge({
      name: 'aegis_remediations_active',
      help: 'Items being processed now.',
      labelNames: ['tier'],
      registers: r,
    });
    this.duration = new Histogram({
      name: 'aegis_remediation_duration_seconds',
      help: 'Time from an item starting to its outcome.',
      labelNames: ['tier', 'handler'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers: r,
    });
    this.paused = new Gauge({
      name: 'aegis_dispatcher_paused',
      help: '1 while the emergency stop holds every tier.',
      registers: r,
      collect: async () => {
        if (this.pausedSource) this.paused.set((await this.pausedSource().catch(() => false)) ? 1 : 0);
      },
    });
    this.queueJobs = new Gauge({
      name: 'aegis_queue_jobs',
      help: 'Jobs per queue and state (waiting, active, delayed, failed, prioritized, completed).',
      labelNames: ['queue', 'state'],
      registers: r,
      collect: async () => {
        if (!this.queueSource) return;
        const counts = await this.queueSource().catch(() => ({}));
        for (const [queue, byState] of Object.entries(counts))
          for (const [state, n] of Object.entries(byState)) this.queueJobs.set({ queue, state }, n);
      },
    });
    this.snapshots = new Counter({
      name: 'aegis_snapshots_total',
      help: 'Snapshot writes by outcome.',
      labelNames: ['handler', 'status'],
      registers: r,
    });
    this.rollbacks = new Counter({
      name: 'aegis_rollbacks_total',
      help: 'Rollbacks by outcome.',
      labelNames: ['handler', 'status'],
      registers: r,
    });
    this.cloudCalls = new Counter({
      name: 'aegis_cloud_api_calls_total',
      help: 'Cloud API call attempts.',
      labelNames: ['aws_service', 'operation', 'outcome'],
      registers: r,
    });
    this.cloudErrors = new Counter({
      name: 'aegis_cloud_api_errors_total',
      help: 'Cloud API errors by code.',
      labelNames: ['aws_service', 'operation', 'code'],
      registers: r,
    });
    this.cloudThrottles = new Counter({
      name: 'aegis_cloud_api_throttles_total',
      help: 'Throttled cloud API call attempts.',
      labelNames: ['aws_service', 'operation'],
      registers: r,
    });
    this.batchesStopped = new Counter({
      name: 'aegis_batches_stopped_total',
      help: 'Batches stopped by the failure breaker.',
      labelNames: ['reason'],
      registers: r,
    });
    this.retries = new Counter({
      name: 'aegis_remediation_retries_total',
      help: 'Items sent back to the queue, by error class.',
      labelNames: ['tier', 'handler', 'class'],
      registers: r,
    });
    this.budgetWait = new Histogram({
      name: 'aegis_rate_budget_wait_seconds',
      help: 'Time a cloud call waited for a token of the shared rate budget.',
      labelNames: ['category'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.budgetDeferrals = new Counter({
      name: 'aegis_rate_budget_deferrals_total',
      help: 'Cloud calls not sent because the rate budget had no token within the longest wait (item requeued).',
      labelNames: ['category'],
      registers: r,
    });
    this.rechecks = new Counter({
      name: 'aegis_rechecks_total',
      help: 'Regression re-checks of remediated resources, by result.',
      labelNames: ['tier', 'handler', 'result'],
      registers: r,
    });
    this.regressions = new Counter({
      name: 'aegis_regressions_total',
      help: 'Remediated resources found misconfigured again by the re-check.',
      labelNames: ['tier', 'handler'],
      registers: r,
    });
  }

  /**
   * The exposition text. prom-client writes `le` first in bucket lines; we move it last, which
   * Prometheus reads the same, so label-order-sensitive greps (the runbook's checks) work too.
   */
  async text(): Promise<string> {
    const body = await this.registry.metrics();
    return body.replace(/^(\w+_bucket)\{le="([^"]*)",([^}]*)\}/gm, '$1{$3,le="$2"}');
  }

  /** The CloudClients observer: every attempt of every cloud call. */
  observeCall = (service: string, operation: string, outcome: 'ok' | 'error' | 'throttled', code?: string): void => {
    this.cloudCalls.inc({ aws_service: service, operation, outcome });
    if (outcome === 'throttled') this.cloudThrottles.inc({ aws_service: service, operation });
    if (outcome !== 'ok') this.cloudErrors.inc({ aws_service: service, operation, code: code ?? 'unknown' });
  };
}
