import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers';

describe('deploy/helm-check.sh', () => {
  it('exits 0: helm lint + template where helm exists, a clear skip where it does not', () => {
    const r = spawnSync('bash', [join(ROOT, 'deploy/helm-check.sh')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const helm = spawnSync('bash', ['-c', 'command -v helm'], { encoding: 'utf8' }).status === 0;
    expect(r.stdout).toContain(helm ? 'helm lint/template: ok' : 'helm not installed: skipped lint/template');
  });

  it('skips (exit 0) when helm is not on PATH', () => {
    const bash = spawnSync('bash', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();
    const r = spawnSync(bash, [join(ROOT, 'deploy/helm-check.sh')], {
      encoding: 'utf8',
      env: { PATH: '/nonexistent', HOME: process.env.HOME ?? '/tmp' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('helm not installed: skipped lint/template');
  });
});
