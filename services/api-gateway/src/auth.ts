import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { ApiError } from './http-errors';

export const SCOPES = [
  'findings:write',
  'remediation:read',
  'remediation:execute',
  'remediation:rollback',
  'remediation:admin',
] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

export const TokenEntry = z.strictObject({
  name: z.string().min(1).max(64),
  sha256: z.string().regex(/^[a-f0-9]{64}$/, 'the hex SHA-256 digest of the token'),
  scopes: z.array(Scope).min(1),
});
export type TokenEntry = z.infer<typeof TokenEntry>;

export interface Principal {
  name: string;
  scopes: ReadonlySet<Scope>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Tokens are kept only as SHA-256 digests and compared in constant time. */
export class TokenStore {
  private readonly entries: { name: string; digest: Buffer; scopes: ReadonlySet<Scope> }[];

  constructor(entries: TokenEntry[]) {
    this.entries = entries.map((e) => ({
      name: e.name,
      digest: Buffer.from(e.sha256, 'hex'),
      scopes: new Set(e.scopes),
    }));
  }

  static fromConfig(opts: { devToken?: string | undefined; file?: string | undefined }): TokenStore {
    const entries: TokenEntry[] = [];
    if (opts.devToken)
      entries.push({ name: 'dev', sha256: sha256(opts.devToken).toString('hex'), scopes: [...SCOPES] });
    if (opts.file) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(opts.file, 'utf8'));
      } catch (err) {
        throw new Error(`AEGIS_API_TOKENS_FILE: cannot read ${opts.file}: ${(err as Error).message}`, { cause: err });
      }
      const r = z.array(TokenEntry).safeParse(parsed);
      if (!r.success)
        throw new Error(
          `AEGIS_API_TOKENS_FILE: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      entries.push(...r.data);
    }
    return new TokenStore(entries);
  }

  get size(): number {
    return this.entries.length;
  }

  authenticate(token: string): Principal | null {
    const d = sha256(token);
    let found: Principal | null = null;
    // Every entry is compared, so the time taken does not say which one matched.
    for (const e of this.entries)
      if (timingSafeEqual(d, e.digest) && !found) found = { name: e.name, scopes: e.scopes };
    return found;
  }
}

export function bearerToken(req: Request): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1] ?? null;
}

/** 401 without a valid token; 403 naming the missing scope. */
export function requireScope(tokens: TokenStore, scope: Scope) {
  return (req: Request, res: Response, next: NextFunction) => {
    const token = bearerToken(req);
    if (!token)
      return next(new ApiError(401, 'unauthorized', 'missing bearer token: send Authorization: Bearer <token>'));
    const p = tokens.authenticate(token);
    if (!p) return next(new ApiError(401, 'unauthorized', 'invalid token'));
    if (!p.scopes.has(scope))
      return next(
        new ApiError(403, 'forbidden', `token "${p.name}" lacks the scope ${scope}`, { missing_scope: scope }),
      );
    res.locals.principal = p;
    next();
  };
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}
