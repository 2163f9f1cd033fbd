import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';

/** Credentials as the SDK takes them (temporary ones carry a session token and an expiry). */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}
export type CredentialsProvider = () => Promise<Credentials>;

/** How the dispatcher reaches a finding's account (DESIGN: per-account credentials). */
export interface AccountAccess {
  /** The ambient credentials' account, when configured (`AEGIS_ACCOUNT_ID`); else STS GetCallerIdentity, once. */
  homeAccountId?: string;
  /** Role assumed in every other account: `arn:aws:iam::<account>:role/<roleName>`. */
  roleName: string;
  externalId?: string;
  /** Per-account role ARNs that replace the default one. */
  roles?: Record<string, string>;
  /** Shows in CloudTrail of the target account: which service acted. */
  sessionName: string;
  durationSeconds?: number;
  /** Region of the STS client that assumes the roles. */
  stsRegion: string;
}

/** Renew this long before the credentials expire, so no call is signed with a dying session. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export function roleArnFor(access: AccountAccess, accountId: string): string {
  return access.roles?.[accountId] ?? `arn:aws:iam::${accountId}:role/${access.roleName}`;
}

/**
 * Temporary credentials per account from STS AssumeRole, cached until shortly before they expire.
 * Concurrent callers share one AssumeRole call; a failure is not cached (the next call tries again).
 */
export class AssumedRoles {
  private readonly cache = new Map<string, Promise<Credentials>>();

  constructor(
    private readonly access: AccountAccess,
    private readonly sts: () => STSClient,
    private readonly now: () => number = Date.now,
  ) {}

  credentials(accountId: string): Promise<Credentials> {
    const cached = this.cache.get(accountId);
    if (cached) return cached.then((c) => (this.fresh(c) ? c : this.renew(accountId, cached)));
    return this.renew(accountId);
  }

  private fresh(c: Credentials): boolean {
    return !c.expiration || c.expiration.getTime() - REFRESH_MARGIN_MS > this.now();
  }

  private renew(accountId: string, stale?: Promise<Credentials>): Promise<Credentials> {
    const current = this.cache.get(accountId);
    if (current && current !== stale) return current;
    const p = this.assume(accountId);
    this.cache.set(accountId, p);
    p.catch(() => {
      if (this.cache.get(accountId) === p) this.cache.delete(accountId);
    });
    return p;
  }

  private async assume(accountId: string): Promise<Credentials> {
    const out = await this.sts().send(
      new AssumeRoleCommand({
        RoleArn: roleArnFor(this.access, accountId),
        RoleSessionName: this.access.sessionName,
        DurationSeconds: this.access.durationSeconds ?? 3600,
        ...(this.access.externalId ? { ExternalId: this.access.externalId } : {}),
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey)
      throw new Error(`STS AssumeRole into ${accountId} returned no credentials`);
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: c.Expiration } : {}),
    };
  }
}
