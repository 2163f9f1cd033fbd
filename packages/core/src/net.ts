import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's range for outgoing connections' local ports (Linux), else the IANA dynamic range. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    /* not Linux */
  }
  return [49152, 65535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A local port nobody listens on, for a process started next (the launcher's services, tests).
 * Chosen at random below the kernel's ephemeral range: a port the kernel hands out for `listen(0)`
 * can be taken by any outgoing connection before the process that was meant to bind it does.
 */
export async function freePort(): Promise<number> {
  const [lo] = ephemeralRange();
  const from = 10_000;
  const to = Math.min(lo, 65_536) - 1;
  for (let i = 0; to > from && i < 50; i++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (await canListen(port)) return port;
  }
  // Everything tried was busy: fall back to one the kernel picks.
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}
