import { HANDLER_NAMES, HandlerName, type Tier } from '@aegis/core';
import type { Handler } from './contract';

export class RegistryError extends Error {}

/** Handlers by name. Refuses a duplicate, an unknown name, or a registry that leaves a handler out. */
export class HandlerRegistry {
  private readonly byName = new Map<HandlerName, Handler>();

  constructor(handlers: readonly Handler[], opts: { requireAll?: boolean } = {}) {
    for (const h of handlers) {
      if (!HandlerName.safeParse(h.name).success) throw new RegistryError(`unknown handler name "${h.name}"`);
      if (this.byName.has(h.name)) throw new RegistryError(`handler "${h.name}" registered twice`);
      this.byName.set(h.name, h);
    }
    if (opts.requireAll ?? true) {
      const missing = HANDLER_NAMES.filter((n) => !this.byName.has(n));
      if (missing.length) throw new RegistryError(`no handler registered for: ${missing.join(', ')}`);
    }
  }

  get(name: string): Handler {
    const h = this.byName.get(name as HandlerName);
    if (!h) throw new RegistryError(`unknown handler "${name}" (known: ${[...this.byName.keys()].join(', ')})`);
    return h;
  }

  has(name: string): boolean {
    return this.byName.has(name as HandlerName);
  }

  all(): Handler[] {
    return [...this.byName.values()];
  }

  forTier(tier: Tier): Handler[] {
    return this.all().filter((h) => h.tier === tier);
  }

  /** Every IAM action the registered handlers need, sorted, deduplicated. */
  iamActions(): string[] {
    return [...new Set(this.all().flatMap((h) => h.iamActions))].sort();
  }
}
