import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_API_URL, resolveEndpoint } from '../src/context';
import { CliError } from '../src/errors';
import { readLocalStack, removeLocalStack, writeLocalStack, type LocalStack } from '../src/local-stack';

const local: LocalStack = { api_url: 'http://127.0.0.1:41234', token: 'dev-local', pid: 4242 };

describe('resolveEndpoint', () => {
  const none = () => undefined;

  it('flags win over the environment, which wins over the local stack', () => {
    const env = { AEGIS_API_URL: 'http://env:1', AEGIS_API_TOKEN: 'env-token', API_TOKEN: 'other' };
    expect(resolveEndpoint({ apiUrl: 'http://flag:2/', token: 'flag-token' }, env, () => local)).toEqual({
      apiUrl: 'http://flag:2',
      token: 'flag-token',
    });
    expect(resolveEndpoint({}, env, () => local)).toEqual({ apiUrl: 'http://env:1', token: 'env-token' });
    expect(resolveEndpoint({}, { API_TOKEN: 'other' }, none)).toEqual({ apiUrl: DEFAULT_API_URL, token: 'other' });
  });

  it('finds the stack `pnpm start` runs here when nothing is configured', () => {
    expect(resolveEndpoint({}, {}, () => local)).toEqual({ apiUrl: local.api_url, token: 'dev-local' });
    expect(resolveEndpoint({}, { AEGIS_API_TOKEN: 'mine' }, () => local)).toEqual({
      apiUrl: local.api_url,
      token: 'mine',
    });
  });

  it('never sends the local dev token to another gateway', () => {
    expect(resolveEndpoint({ apiUrl: 'https://aegis.example.com' }, {}, () => local)).toEqual({
      apiUrl: 'https://aegis.example.com',
      token: undefined,
    });
    expect(resolveEndpoint({}, { AEGIS_API_URL: `${local.api_url}/` }, () => local).token).toBe('dev-local');
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => resolveEndpoint({ apiUrl: 'not a url' }, {}, none)).toThrow(CliError);
    expect(() => resolveEndpoint({}, { AEGIS_API_URL: 'ftp://x' }, none)).toThrow(/only http/);
  });
});

describe('the local stack file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'aegis-local-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written for its owner only and read back while the process lives', () => {
    const file = join(dir, 'nested', 'local-stack.json');
    writeLocalStack({ ...local, pid: process.pid }, file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readLocalStack(file)).toEqual({ ...local, pid: process.pid });
    expect(readLocalStack(file, () => false)).toBeUndefined();
  });

  it('is ignored when missing or malformed', () => {
    expect(readLocalStack(join(dir, 'none.json'))).toBeUndefined();
    writeFileSync(join(dir, 'bad.json'), '{"api_url":"nope"}');
    expect(readLocalStack(join(dir, 'bad.json'), () => true)).toBeUndefined();
  });

  it('is removed only by the process it describes', () => {
    const file = join(dir, 'local-stack.json');
    writeLocalStack(local, file);
    removeLocalStack(999_999, file);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(local);
    removeLocalStack(local.pid, file);
    expect(readLocalStack(file, () => true)).toBeUndefined();
  });
});
