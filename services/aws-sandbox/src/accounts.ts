import { randomBytes } from 'node:crypto';
import { SandboxState } from './state';
import { ACCOUNT_ID, AwsError, upperAlnum } from './wire';

/** Temporary credentials issued by AssumeRole; their access key id carries the account. */
export interface RoleSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  accountId: string;
  roleArn: string;
  sessionName: string;
  roleId: string;
  expiresAt: number;
}

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/([\w+=,.@/-]{1,512})$/;

/**
 * One state per account. A request belongs to the account of its credentials: keys issued by
 * AssumeRole (and IAM keys created in an account) map to that account, anything else to the
 * default account 123456789012. Roles exist implicitly; accounts in `denied` refuse AssumeRole.
 */
export class Accounts {
  private readonly others = new Map<string, SandboxState>();
  private readonly sessions = new Map<string, RoleSession>();
  readonly denied = new Set<string>();

  constructor(readonly home: SandboxState) {}

  /** The state of an account, created empty on first use. */
  get(accountId: string): SandboxState {
    if (accountId === this.home.accountId) return this.home;
    let s = this.others.get(accountId);
    if (!s) {
      s = new SandboxState(accountId);
      this.others.set(accountId, s);
    }
    return s;
  }

  all(): SandboxState[] {
    return [this.home, ...this.others.values()];
  }

  /** The account a request signed with this key acts in; expired session keys are refused. */
  forKey(accessKeyId: string | undefined, now: number): SandboxState {
    if (!accessKeyId) return this.home;
    const session = this.sessions.get(accessKeyId);
    if (session) {
      if (now >= session.expiresAt)
        throw new AwsError('ExpiredToken', 'The security token included in the request is expired', 400);
      return this.get(session.accountId);
    }
    for (const s of this.others.values()) if (s.findAccessKey(accessKeyId)) return s;
    return this.home;
  }

  session(accessKeyId: string | undefined): RoleSession | undefined {
    return accessKeyId ? this.sessions.get(accessKeyId) : undefined;
  }

  assumeRole(roleArn: string, sessionName: string, durationS: number, now: number): RoleSession {
    const m = ROLE_ARN.exec(roleArn);
    if (!m) throw new AwsError('ValidationError', `${roleArn} is invalid`);
    const accountId = m[1] as string;
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      throw new AwsError(
        'ValidationError',
        `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint`,
      );
    }
    if (durationS < 900 || durationS > 43_200) {
      throw new AwsError(
        'ValidationError',
        `The requested DurationSeconds exceeds the MaxSessionDuration set for this role.`,
      );
    }
    if (this.denied.has(accountId)) {
      throw new AwsError(
        'AccessDenied',
        `User is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    }
    const session: RoleSession = {
      accessKeyId: `ASIA${accountId}${upperAlnum(4)}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(48).toString('base64'),
      accountId,
      roleArn,
      sessionName,
      roleId: `AROA${upperAlnum(17)}`,
      expiresAt: now + durationS * 1000,
    };
    this.sessions.set(session.accessKeyId, session);
    return session;
  }

  /** Forgets every account but the default one and every session; the deny list is configuration and stays. */
  reset(): void {
    this.others.clear();
    this.sessions.clear();
  }

  describe(): { default_account: string; accounts: string[]; deny_assume: string[]; sessions: number } {
    return {
      default_account: ACCOUNT_ID,
      accounts: this.all().map((s) => s.accountId),
      deny_assume: [...this.denied].sort(),
      sessions: this.sessions.size,
    };
  }
}
