import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { DispatchQueues } from '@aegis/dispatch';
import { bearerToken, type TokenStore } from './auth';

/**
 * Bull Board at /admin/queues behind the API tokens: `remediation:admin` gets the full board,
 * `remediation:read` a read-only one. Scripts send the bearer header; a browser logs in with
 * Basic auth whose password is a token (any user name).
 */
export function bullBoard(
  queues: DispatchQueues,
  tokens: TokenStore,
  basePath: string,
  mount = '/admin/queues',
): RequestHandler {
  const make = (readOnlyMode: boolean) => {
    const adapter = new ExpressAdapter();
    adapter.setBasePath(`${basePath}${mount}`);
    createBullBoard({
      queues: queues.all().map((q) => new BullMQAdapter(q, { readOnlyMode })),
      serverAdapter: adapter,
      options: { uiConfig: { boardTitle: readOnlyMode ? 'Aegis queues (read-only)' : 'Aegis queues' } },
    });
    return adapter.getRouter() as RequestHandler;
  };
  const full = make(false);
  const readOnly = make(true);
  const gate = (req: Request, res: Response, next: NextFunction) => {
    let token = bearerToken(req);
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!token && basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      token = decoded.slice(decoded.indexOf(':') + 1) || null;
    }
    const p = token ? tokens.authenticate(token) : null;
    if (!p) {
      res.setHeader('WWW-Authenticate', 'Basic realm="Aegis queues", charset="UTF-8"');
      return void res.status(401).json({
        error: {
          code: 'unauthorized',
          message: 'send a bearer token, or log in with any user name and a token as the password',
        },
      });
    }
    if (p.scopes.has('remediation:admin')) return full(req, res, next);
    if (p.scopes.has('remediation:read')) return readOnly(req, res, next);
    res.status(403).json({
      error: {
        code: 'forbidden',
        message: `token "${p.name}" lacks the scope remediation:admin (or remediation:read for a read-only view)`,
        details: { missing_scope: 'remediation:admin' },
      },
    });
  };
  return gate;
}
