import { EC2Client } from '@aws-sdk/client-ec2';
import { GuardDutyClient } from '@aws-sdk/client-guardduty';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { classifyError } from '@aegis/core';
import { type AccountAccess, AssumedRoles, type Credentials, type CredentialsProvider } from './accounts';

export interface CloudSettings {
  /** `sandbox`: the local aws-sandbox on `sandboxPort`; `aws`: the standard credential chain (honours AWS_ENDPOINT_URL). */
  cloud: 'aws' | 'sandbox';
  sandboxPort?: number;
  /** Overrides the endpoint for every service (tests, or another AWS-compatible endpoint). */
  endpoint?: string;
  /** SDK attempts per call, including the first (throttling is retried by the SDK first). */
  maxAttempts?: number;
  /**
   * Awaited once per call before it is sent (before the SDK's retries): a shared rate budget waits
   * here for its token. `signal` is the call's abort signal; a rejection fails the call.
   */
  beforeCall?: BeforeCall;
  /** The `beforeCall` of calls made in one account (`forAccount`): budgets are per account. */
  beforeCallFor?: (accountId: string) => BeforeCall;
  /** Reaching other accounts by assuming a role in them; absent: every account uses the ambient credentials. */
  accounts?: AccountAccess;
}

export type BeforeCall = (service: string, operation: string, region: string, signal?: AbortSignal) => Promise<void>;

export type CallOutcome = 'ok' | 'error' | 'throttled';
/** Told about every attempt of every cloud call: metrics hang here. */
export type CallObserver = (service: string, operation: string, outcome: CallOutcome, code?: string) => void;

type AnyClient = EC2Client | S3Client | IAMClient | GuardDutyClient | SSMClient | STSClient;

interface MiddlewareContext {
  clientName?: string;
  commandName?: string;
  /** Where the SDK keeps the `abortSignal` given to `send`. */
  __smithy_context?: { abortSignal?: AbortSignal };
}

type AddMiddleware = { add: (mw: unknown, opts: unknown) => void };

/**
 * SDK clients per service and region, created once and reused. Every handler reaches the cloud
 * only through one of these, so tests can point them at the aws-sandbox or a mock.
 */
export class CloudClients {
  private readonly cache = new Map<string, AnyClient>();
  private readonly views = new Map<string, CloudClients>();
  private roles: AssumedRoles | undefined;
  private home: Promise<string> | undefined;

  constructor(
    readonly settings: CloudSettings,
    private readonly observer?: CallObserver,
    /** Set on a per-account view: the credentials of that account. */
    private readonly credentials?: CredentialsProvider,
  ) {}

  /**
   * The clients of one account: its own SDK clients (per region, reused), never shared with another
   * account. The home account signs with the ambient credentials, any other with a role assumed in
   * it; a role that cannot be assumed fails that account's calls (e.g. `AccessDenied`) and no other's.
   */
  forAccount(accountId: string): CloudClients {
    const access = this.settings.accounts;
    if (!access || this.credentials) return this;
    let view = this.views.get(accountId);
    if (!view) {
      const { accounts: _omit, beforeCallFor, ...rest } = this.settings;
      const beforeCall = beforeCallFor?.(accountId) ?? rest.beforeCall;
      view = new CloudClients({ ...rest, ...(beforeCall ? { beforeCall } : {}) }, this.observer, () =>
        this.credentialsOf(accountId, access),
      );
      this.views.set(accountId, view);
    }
    return view;
  }

  /** The ambient credentials' account (configured, else STS GetCallerIdentity once; a failure is retried). */
  homeAccount(): Promise<string> {
    const fixed = this.settings.accounts?.homeAccountId;
    if (fixed) return Promise.resolve(fixed);
    const region = this.settings.accounts?.stsRegion ?? 'us-east-1';
    if (!this.home) {
      const p = this.callerAccount(region);
      this.home = p;
      p.catch(() => {
        if (this.home === p) this.home = undefined;
      });
    }
    return this.home;
  }

  private async credentialsOf(accountId: string, access: AccountAccess): Promise<Credentials> {
    if ((await this.homeAccount()) === accountId) return this.ambientCredentials(access.stsRegion);
    this.roles ??= new AssumedRoles(access, () => this.sts(access.stsRegion));
    return this.roles.credentials(accountId);
  }

  private async ambientCredentials(region: string): Promise<Credentials> {
    const provider = this.sts(region).config.credentials as Credentials | CredentialsProvider;
    return typeof provider === 'function' ? provider() : provider;
  }

  ec2(region: string): EC2Client {
    return this.get('ec2', region, (c) => new EC2Client(c));
  }
  s3(region: string): S3Client {
    return this.get(
      's3',
      region,
      (c) =>
        new S3Client({
          ...c,
          forcePathStyle:
            this.settings.cloud === 'sandbox' || !!this.settings.endpoint || !!process.env.AWS_ENDPOINT_URL,
        }),
    );
  }
  iam(): IAMClient {
    return this.get('iam', 'us-east-1', (c) => new IAMClient(c));
  }
  guardduty(region: string): GuardDutyClient {
    return this.get('guardduty', region, (c) => new GuardDutyClient(c));
  }
  ssm(region: string): SSMClient {
    return this.get('ssm', region, (c) => new SSMClient(c));
  }
  sts(region: string): STSClient {
    return this.get('sts', region, (c) => new STSClient(c));
  }

  /** The account the credentials belong to (STS GetCallerIdentity). */
  async callerAccount(region: string): Promise<string> {
    const out = await this.sts(region).send(new GetCallerIdentityCommand({}));
    if (!out.Account) throw new Error('STS GetCallerIdentity returned no account');
    return out.Account;
  }

  destroy(): void {
    for (const v of this.views.values()) v.destroy();
    this.views.clear();
    for (const c of this.cache.values()) c.destroy();
    this.cache.clear();
  }

  private config(region: string) {
    const s = this.settings;
    const base: {
      region: string;
      maxAttempts: number;
      endpoint?: string;
      credentials?: Credentials | CredentialsProvider;
    } = { region, maxAttempts: s.maxAttempts ?? 3 };
    if (s.endpoint) base.endpoint = s.endpoint;
    if (s.cloud === 'sandbox') {
      base.endpoint = s.endpoint ?? `http://127.0.0.1:${s.sandboxPort ?? 4566}`;
      base.credentials = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' };
    }
    if (this.credentials) base.credentials = this.credentials;
    return base;
  }

  private get<C extends AnyClient>(
    service: string,
    region: string,
    make: (cfg: ReturnType<CloudClients['config']>) => C,
  ): C {
    const key = `${service}:${region}`;
    let client = this.cache.get(key) as C | undefined;
    if (!client) {
      client = make(this.config(region));
      this.observe(client, service);
      this.gate(client, service, region);
      this.cache.set(key, client);
    }
    return client;
  }

  private observe(client: AnyClient, service: string): void {
    const observer = this.observer;
    if (!observer) return;
    // Added after the retry middleware, so each attempt is counted, throttled ones included.
    (client.middlewareStack as unknown as { add: (mw: unknown, opts: unknown) => void }).add(
      (next: (args: unknown) => Promise<unknown>, context: MiddlewareContext) => async (args: unknown) => {
        const op = (context.commandName ?? 'unknown').replace(/Command$/, '');
        try {
          const out = await next(args);
          observer(service, op, 'ok');
          return out;
        } catch (err) {
          const c = classifyError(err);
          observer(service, op, c.class === 'throttled' ? 'throttled' : 'error', c.code);
          throw err;
        }
      },
      { step: 'deserialize', name: 'aegisCallObserver', priority: 'high' },
    );
  }

  private gate(client: AnyClient, service: string, region: string): void {
    const before = this.settings.beforeCall;
    if (!before) return;
    // The initialize step runs once per call, before the retry middleware: one token per call.
    (client.middlewareStack as unknown as AddMiddleware).add(
      (next: (args: unknown) => Promise<unknown>, context: MiddlewareContext) => async (args: unknown) => {
        const op = (context.commandName ?? 'unknown').replace(/Command$/, '');
        await before(service, op, region, context.__smithy_context?.abortSignal);
        return next(args);
      },
      { step: 'initialize', name: 'aegisBeforeCall', priority: 'high' },
    );
  }
}
