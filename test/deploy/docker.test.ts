import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dependencyClosure, vendorPackage } from '../../docker/vendor-tsx';
import { ROOT, readText } from './helpers';

const run = promisify(execFile);
const dockerfile = readText('docker/Dockerfile');
/** The Dockerfile's instructions, continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function indexOf(pattern: RegExp): number {
  return instructions.findIndex((l) => pattern.test(l));
}

describe('docker/Dockerfile', () => {
  it('fetches from the lockfile alone, then installs offline', () => {
    const fetch = indexOf(/^RUN pnpm fetch\b/);
    const copyLock = indexOf(/^COPY pnpm-lock\.yaml /);
    const copyAll = indexOf(/^COPY \. \.$/);
    expect(copyLock).toBeGreaterThan(-1);
    expect(fetch).toBeGreaterThan(copyLock);
    expect(copyAll).toBeGreaterThan(fetch);
    const installs = instructions.filter((l) => /pnpm install/.test(l));
    expect(installs.length).toBeGreaterThan(0);
    for (const l of installs) expect(l).toMatch(/--offline --frozen-lockfile/);
  });

  it('installs only production dependencies of the one service for the runtime image', () => {
    expect(dockerfile).toMatch(
      /pnpm install --offline --frozen-lockfile --prod --filter "@aegis\/\$\{SERVICE\}\.\.\."/,
    );
    expect(dockerfile).toMatch(/^ARG SERVICE$/m);
  });

  it('keeps tsx at run time by vendoring it, and starts through tini as a non-root user', () => {
    expect(dockerfile).toContain('node --import tsx docker/vendor-tsx.ts /opt/tsx');
    expect(dockerfile).toContain('COPY --from=tsx /opt/tsx/node_modules /app/node_modules/');
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends tini/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/app\/docker\/entrypoint\.sh"\]$/m);
    const user = /^USER (\S+)$/m.exec(dockerfile.slice(dockerfile.lastIndexOf('\nFROM ')))?.[1] ?? '';
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*CMD \["node", "\/app\/docker\/healthcheck\.mjs"\]$/m);
  });

  it('runs the baked-in service with node --import tsx', () => {
    const entry = readText('docker/entrypoint.sh');
    expect(entry).toMatch(/^#!\/bin\/sh/);
    expect(entry).toContain('exec node --import tsx "/app/services/${service}/src/main.ts" "$@"');
    expect(dockerfile).toMatch(/AEGIS_SERVICE=\$\{SERVICE\}/);
  });

  it('keeps node_modules, git and tests out of the build context', () => {
    const ignore = readText('docker/Dockerfile.dockerignore').split('\n');
    for (const entry of ['**/node_modules', '.git', '**/test']) expect(ignore).toContain(entry);
  });
});

describe('docker/vendor-tsx.ts', () => {
  it('finds tsx, esbuild and this platform’s esbuild binary in the workspace install', () => {
    const names = dependencyClosure('tsx', ROOT).map((p) => p.name);
    expect(names).toContain('tsx');
    expect(names).toContain('esbuild');
    expect(names.some((n) => n.startsWith('@esbuild/'))).toBe(true);
  });

  it('vendors a tsx that runs TypeScript with nothing else installed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aegis-vendor-tsx-'));
    try {
      vendorPackage('tsx', ROOT, dir);
      writeFileSync(
        join(dir, 'main.ts'),
        'class Box {\n  constructor(readonly n: number) {}\n}\nconst b: Box = new Box(41);\nconsole.log(`ok ${b.n + 1}`);\n',
      );
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'main.ts'], { cwd: dir });
      expect(stdout.trim()).toBe('ok 42');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docker/healthcheck.mjs', () => {
  let server: Server;
  let port = 0;
  let status = 200;
  const paths: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function check(env: Record<string, string>): Promise<number> {
    const r = await new Promise<number>((resolve) => {
      const child = execFile(process.execPath, [join(ROOT, 'docker/healthcheck.mjs')], {
        env: { PATH: process.env.PATH ?? '', ...env },
      });
      child.on('exit', (code) => resolve(code ?? -1));
    });
    return r;
  }

  it.each([
    ['worker', 'AEGIS_METRICS_PORT', '/readyz'],
    ['api-gateway', 'PORT', '/readyz'],
    ['snapshot', 'AEGIS_SNAPSHOT_PORT', '/readyz'],
    ['aws-sandbox', 'AEGIS_SANDBOX_PORT', '/_sandbox/config'],
  ])('%s: healthy when %s answers 200 on %s', async (service, portVar, path) => {
    status = 200;
    paths.length = 0;
    expect(await check({ AEGIS_SERVICE: service, [portVar]: String(port) })).toBe(0);
    expect(paths).toEqual([path]);
  });

  it('unhealthy when the service answers 503, is not listening, or is unknown', async () => {
    status = 503;
    expect(await check({ AEGIS_SERVICE: 'worker', AEGIS_METRICS_PORT: String(port) })).toBe(1);
    expect(await check({ AEGIS_SERVICE: 'worker', AEGIS_METRICS_PORT: '1' })).toBe(1);
    expect(await check({ AEGIS_SERVICE: 'nope' })).toBe(1);
  });
});

describe('docker/entrypoint.sh', () => {
  it('refuses to start without AEGIS_SERVICE', () => {
    const r = spawnSync('sh', [join(ROOT, 'docker/entrypoint.sh')], {
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('AEGIS_SERVICE is unset');
  });
});
