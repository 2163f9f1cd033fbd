import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Accounts } from './accounts';
import { handleAdmin } from './admin';
import type { Behaviour, SandboxContext, ServiceHandler } from './context';
import { ec2 } from './ec2';
import { Faults, faultStatus } from './faults';
import { guardduty } from './guardduty';
import { iam } from './iam';
import { Latency, type LatencyRule } from './latency';
import { type Log, type LogLevel, createLog } from './logger';
import { s3 } from './s3';
import { type SeededIds, seedDemo } from './seed';
import { ssm } from './ssm';
import { type Instance, SandboxState } from './state';
import { sts } from './sts';
import { type ThrottleOptions, Throttler } from './throttle';
import {
  AwsError,
  type SandboxRequest,
  type SandboxResponse,
  type ServiceName,
  credentialScope,
  header,
  newRequestId,
  queryParams,
} from './wire';

const HANDLERS: Record<ServiceName, ServiceHandler> = { ec2, s3, iam, guardduty, ssm, sts };
const QUERY_VERSIONS: Record<string, ServiceName> = { '2016-11-15': 'ec2', '2010-05-08': 'iam', '2011-06-15': 'sts' };
const MAX_BODY = 64 * 1024 * 1024;

export interface SandboxOptions {
  /** 0 picks a free port (tests). Default 4566. */
  port?: number;
  host?: string;
  /** Create the demo misconfigurations (default true). */
  seed?: boolean;
  /** false turns throttling off; an object sets it on/off and overrides bucket rates. */
  throttling?: boolean | ThrottleOptions;
  /** ms for every call, `[min, max]`, or per service/operation rules. */
  latency?: number | [number, number] | LatencyRule[];
  behaviour?: Partial<Omit<Behaviour, 'ssmInstanceOutcomes'>>;
  logLevel?: LogLevel;
  /** Accounts whose roles refuse AssumeRole (AccessDenied). */
  denyAssume?: string[];
}

export interface CallStats {
  calls: number;
  throttled: number;
  faulted: number;
  errors: number;
}

/** The emulator: state, behaviour knobs and the HTTP front door on one port. */
export class Sandbox {
  /** The default account's state (123456789012). */
  readonly state = new SandboxState();
  readonly accounts = new Accounts(this.state);
  readonly faults = new Faults();
  readonly latency = new Latency();
  readonly throttler: Throttler;
  readonly behaviour: Behaviour;
  readonly stats = new Map<string, CallStats>();
  readonly log: Log;
  readonly seedOnReset: boolean;
  seeded: SeededIds | undefined;
  private server: Server | undefined;

  constructor(opts: SandboxOptions = {}) {
    this.log = createLog(opts.logLevel ?? 'warn');
    const t = opts.throttling;
    this.throttler = new Throttler(typeof t === 'object' ? t : { enabled: t ?? true });
    this.behaviour = {
      imdsApplyDelayMs: 0,
      ssmCommandMs: 1500,
      ssmOutcome: 'Success',
      ...opts.behaviour,
      ssmInstanceOutcomes: new Map(),
    };
    this.setLatency(opts.latency);
    for (const a of opts.denyAssume ?? []) this.accounts.denied.add(a);
    this.seedOnReset = opts.seed ?? true;
    this.reset(this.seedOnReset);
  }

  get ctx(): SandboxContext {
    return this.ctxFor(this.state);
  }

  ctxFor(state: SandboxState): SandboxContext {
    return { state, accounts: this.accounts, behaviour: this.behaviour, now: () => Date.now() };
  }

  /** An instance in any account and region (admin API). */
  findInstance(id: string): { region: string; instance: Instance } | undefined {
    for (const s of this.accounts.all()) {
      const found = s.findInstance(id);
      if (found) return found;
    }
    return undefined;
  }

  setLatency(l: SandboxOptions['latency']): void {
    if (l === undefined) this.latency.rules = [];
    else if (typeof l === 'number') this.latency.rules = [{ ms: l }];
    else if (typeof l[0] === 'number') this.latency.rules = [{ min_ms: l[0], max_ms: (l as [number, number])[1] }];
    else this.latency.rules = [...(l as LatencyRule[])];
  }

  /** Empties all state, faults, stats and throttle buckets; seeds again when asked. */
  reset(seed = this.seedOnReset): void {
    this.state.clear();
    this.accounts.reset();
    this.faults.clear();
    this.stats.clear();
    this.throttler.reset();
    this.behaviour.ssmInstanceOutcomes.clear();
    this.seeded = seed ? seedDemo(this.state, Date.now()) : undefined;
  }

  statsJson(): Record<string, CallStats> {
    return Object.fromEntries([...this.stats].sort(([a], [b]) => a.localeCompare(b)));
  }

  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      this.serve(req, res).catch((e: unknown) => {
        this.log.error('request failed', { error: String(e) });
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    server.keepAliveTimeout = 5000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (url.pathname.startsWith('/_sandbox/') || url.pathname === '/_sandbox') {
      const out = handleAdmin(this, req.method ?? 'GET', url.pathname, body);
      return send(res, {
        status: out.status,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(out.body),
      });
    }
    const scope = credentialScope(req.headers, url.searchParams);
    const base = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    const service = pickService(scope?.service, base);
    if (!service) {
      if (!scope && url.pathname === '/' && req.method === 'GET') {
        return send(res, {
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: '{"service":"aws-sandbox"}',
        });
      }
      return send(res, {
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: `service ${scope?.service ?? 'unknown'} is not emulated` }),
      });
    }
    const sreq: SandboxRequest = {
      ...base,
      service,
      region: scope?.region ?? 'us-east-1',
      accessKeyId: scope?.accessKeyId,
      requestId: newRequestId(),
    };
    return send(res, await this.dispatch(sreq));
  }

  private async dispatch(req: SandboxRequest): Promise<SandboxResponse> {
    const h = HANDLERS[req.service];
    const started = Date.now();
    let op = 'Unknown';
    let stat: CallStats = { calls: 0, throttled: 0, faulted: 0, errors: 0 };
    try {
      op = h.operation(req);
      const key = `${req.service}:${op}`;
      stat = this.stats.get(key) ?? stat;
      this.stats.set(key, stat);
      stat.calls++;
      const delay = this.latency.delayFor(req.service, op);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (!this.throttler.take(req.region, req.service, op, Date.now())) {
        stat.throttled++;
        throw h.throttled();
      }
      const fault = this.faults.match(req.service, op, requestText(req));
      if (fault) {
        stat.faulted++;
        throw new AwsError(
          fault.code,
          fault.message ?? `${fault.code} (injected by aws-sandbox)`,
          fault.status ?? faultStatus(fault.code),
        );
      }
      const state = this.accounts.forKey(req.accessKeyId, Date.now());
      const out = h.handle(req, this.ctxFor(state));
      this.noteKeyUse(req, state);
      this.log.debug('call', {
        aws_service: req.service,
        operation: op,
        region: req.region,
        status: out.status,
        duration_ms: Date.now() - started,
      });
      return withRequestId(out, req);
    } catch (e) {
      const err = e instanceof AwsError ? e : new AwsError('InternalError', 'An internal error has occurred', 500);
      if (!(e instanceof AwsError))
        this.log.error('handler crashed', { aws_service: req.service, operation: op, error: String(e) });
      if (err.code !== h.throttled().code) stat.errors++;
      this.log.debug('call', {
        aws_service: req.service,
        operation: op,
        region: req.region,
        status: err.status,
        error: err.code,
        duration_ms: Date.now() - started,
      });
      return withRequestId(h.error(err, req), req);
    }
  }

  /** Records IAM "last used" when a request is signed with a key the sandbox issued. */
  private noteKeyUse(req: SandboxRequest, state: SandboxState): void {
    if (!req.accessKeyId) return;
    const found = state.findAccessKey(req.accessKeyId);
    if (found) found.key.lastUsed = { date: Date.now(), service: req.service, region: req.region };
  }
}

function pickService(
  scoped: string | undefined,
  req: Pick<SandboxRequest, 'headers' | 'query' | 'body' | 'path' | 'method'>,
): ServiceName | undefined {
  if (scoped && scoped in HANDLERS) return scoped as ServiceName;
  if (scoped) return undefined;
  const target = header(req, 'x-amz-target') ?? '';
  if (target.startsWith('AmazonSSM.')) return 'ssm';
  if (req.path.startsWith('/detector')) return 'guardduty';
  const form = (header(req, 'content-type') ?? '').includes('x-www-form-urlencoded') || req.query.has('Action');
  if (form) {
    const p = queryParams(req);
    const svc = QUERY_VERSIONS[p.get('Version') ?? ''];
    if (svc && p.has('Action')) return svc;
  }
  if (req.path === '/' && req.method === 'GET' && !header(req, 'authorization')) return undefined;
  return 's3';
}

function requestText(req: SandboxRequest): string {
  let text = decodeURIComponent(req.path) + ' ' + req.query.toString();
  const body = req.body.length < 1_000_000 ? req.body.toString('utf8') : '';
  try {
    text += ' ' + decodeURIComponent(body.replace(/\+/g, ' '));
  } catch {
    text += ' ' + body;
  }
  return text;
}

function withRequestId(out: SandboxResponse, req: SandboxRequest): SandboxResponse {
  const name = req.service === 's3' ? 'x-amz-request-id' : 'x-amzn-requestid';
  return { ...out, headers: { [name]: req.requestId, ...out.headers } };
}

function send(res: ServerResponse, out: SandboxResponse): void {
  const body = out.body === undefined ? undefined : Buffer.isBuffer(out.body) ? out.body : Buffer.from(out.body);
  const headers: Record<string, string> = { ...out.headers };
  if (headers['content-length'] === undefined) headers['content-length'] = String(body?.length ?? 0);
  res.writeHead(out.status, headers);
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const b = c as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
