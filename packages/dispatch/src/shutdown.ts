import type { Logger } from '@aegis/core';

type Hook = { name: string; fn: () => Promise<void> };

/**
 * One shutdown manager per process: hooks run in reverse order of registration on SIGTERM/SIGINT,
 * under a deadline, then the process exits with 128 + signal number.
 */
export class ShutdownManager {
  private readonly hooks: Hook[] = [];
  private stopping = false;

  constructor(
    private readonly log: Logger,
    private readonly deadlineMs: number,
  ) {}

  register(name: string, fn: () => Promise<void>): void {
    this.hooks.push({ name, fn });
  }

  listen(): void {
    process.once('SIGTERM', () => void this.shutdown('SIGTERM', 15));
    process.once('SIGINT', () => void this.shutdown('SIGINT', 2));
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  async shutdown(signal: string, signo: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ signal, deadline_ms: this.deadlineMs }, 'shutting down');
    const deadline = setTimeout(() => {
      this.log.error({ signal }, 'shutdown deadline passed, exiting');
      process.exit(128 + signo);
    }, this.deadlineMs);
    deadline.unref();
    for (const h of [...this.hooks].reverse()) {
      try {
        await h.fn();
      } catch (err) {
        this.log.error({ hook: h.name, err: (err as Error).message }, 'shutdown hook failed');
      }
    }
    clearTimeout(deadline);
    process.exit(128 + signo);
  }
}
