import { HandlerRegistry } from '../registry';
import type { Handler } from '../contract';
import { blockPublicSsh } from './block-public-ssh';

/** Every handler, one file each. The registry refuses to start if one of the six is missing. */
export const ALL_HANDLERS: readonly Handler[] = [blockPublicSsh];

export function createDefaultRegistry(): HandlerRegistry {
  return new HandlerRegistry(ALL_HANDLERS);
}
