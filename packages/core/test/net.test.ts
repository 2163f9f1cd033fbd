import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from '../src/net';

const listen = (port: number) =>
  new Promise<import('node:net').Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

describe('freePort', () => {
  it('gives a port that can be listened on, below the range outgoing connections take theirs from', async () => {
    const [lo] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(lo ?? 0);
    }
    const s = await listen(ports[0] ?? 0);
    await new Promise((r) => s.close(r));
  });
});
