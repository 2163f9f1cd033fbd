import { HandlerRegistry } from '../registry';
import type { Handler } from '../contract';

/** Every handler, one file each. The registry refuses to start if one of the six is missing. */
export const ALL_HANDLERS: readonly Handler[] = [];

export function createDefaultRegistry(): HandlerRegistry {
  return new HandlerRegistry(ALL_HANDLERS);
}
