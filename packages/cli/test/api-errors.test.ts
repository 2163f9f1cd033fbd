import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { ApiClient } from '../src/api-client';
import { AnyJson } from '../src/api-types';
import { ApiError, UnreachableError } from '../src/errors';
import { runCli } from './run-cli';

/*
 * Error paths only: a loopback server that answers the way the gateway's error contract says
 * (`{"error":{"code","message","details"?}}`). The happy paths run against the real stack in
 * cli.e2e.test.ts.
 */

const GOOD = 'good-token';
const READ_ONLY = 'read-only-token';

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const auth = req.headers.authorization;
  if (req.url === '/api/v1/proxy-down') {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html>Bad Gateway</html>');
    return;
  }
  if (auth !== `Bearer ${GOOD}` && auth !== `Bearer ${READ_ONLY}`) {
    return send(res, 401, { error: { code: 'unauthorized', message: 'missing or invalid bearer token' } });
  }
  if (req.method === 'POST' && req.url === '/api/v1/remediations') {
    if (auth === `Bearer ${READ_ONLY}`) {
      return send(res, 403, {
        error: {
          code: 'forbidden',
          message: 'this token may not execute remediations',
          details: { missing_scope: 'remediation:execute' },
        },
      });
    }
    return send(res, 422, {
      error: {
        code: 'validation_error',
        message: 'invalid request body',
        details: [
          { path: ['finding_ids', 0], message: 'letters, digits, ".", "_" and "-" only' },
          { path: ['executor_tier'], message: 'expected T1, T2 or T3' },
        ],
      },
    });
  }
  send(res, 404, { error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } });
}

/** A port nothing listens on: bound once by the OS, then released. */
async function closedPort(): Promise<number> {
  const srv = createTcpServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('ApiClient error paths', () => {
  it('connection refused becomes UnreachableError with the hint', async () => {
    const port = await closedPort();
    const err = await failure(new ApiClient({ apiUrl: `http://127.0.0.1:${port}` }).call('GET', '/handlers', AnyJson));
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toBe(
      `cannot reach the Aegis API at http://127.0.0.1:${port}: connection refused — is it running? (pnpm start)`,
    );
  });

  it('keeps status, code, message and details of an API error', async () => {
    const err = await failure(
      new ApiClient({ apiUrl: url, token: READ_ONLY }).call('POST', '/remediations', AnyJson, { finding_ids: ['x'] }),
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(403);
    expect((err as ApiError).body.details).toEqual({ missing_scope: 'remediation:execute' });
  });

  it('makes an error body up when a proxy answered instead of the gateway', async () => {
    const err = await failure(new ApiClient({ apiUrl: url, token: GOOD }).call('GET', '/proxy-down', AnyJson));
    expect((err as ApiError).body).toEqual({ code: 'http_502', message: '<html>Bad Gateway</html>' });
  });
});

describe('the aegis binary on error paths', () => {
  it('connection refused: exit 4 and says how to start the stack', async () => {
    const port = await closedPort();
    const r = await runCli(['status', 'batch-20260226-001'], { AEGIS_API_URL: `http://127.0.0.1:${port}` });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`cannot reach the Aegis API at http://127.0.0.1:${port}: connection refused`);
    expect(r.stderr).toContain('pnpm start');
    expect(r.stdout).toBe('');
  });

  it('401: exit 3 and tells how to pass a token', async () => {
    const r = await runCli(['handlers'], { AEGIS_API_URL: url, AEGIS_API_TOKEN: 'wrong' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/unauthorized \(401\): missing or invalid bearer token/);
    expect(r.stderr).toContain('AEGIS_API_TOKEN');
  });

  it('403: exit 3 and names the missing scope', async () => {
    const r = await runCli(['remediate', '--finding-ids', 'f-1', '--dry-run', '--json'], {
      AEGIS_API_URL: url,
      API_TOKEN: READ_ONLY,
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('lacks the "remediation:execute" scope');
    expect(r.stdout).toBe('');
  });

  it('422: exit 2 with the message and every field', async () => {
    const r = await runCli(['remediate', '-f', 'f-1', '--dry-run', '--api-url', url, '--token', GOOD]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid request body (422 validation_error)');
    expect(r.stderr).toContain('- finding_ids.0: letters, digits');
    expect(r.stderr).toContain('- executor_tier: expected T1, T2 or T3');
  });

  it('usage errors exit 2 before any request', async () => {
    const r = await runCli(['remediate', '--tier', 'T9', '-f', 'f-1'], { AEGIS_API_URL: url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are T1, T2, T3/);
    const bad = await runCli(['status', 'b', '--api-url', 'not a url']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid API URL');
  });
});
