import { HandlerRegistry } from '../registry';
import type { Handler } from '../contract';
import { blockPublicSsh } from './block-public-ssh';
import { s3BlockPublicAccess } from './s3-block-public-access';
import { enforceImdsv2 } from './enforce-imdsv2';
import { enableGuardduty } from './enable-guardduty';
import { rotateIamKeys } from './rotate-iam-keys';
import { runPatchBaseline } from './run-patch-baseline';

/** Every handler, one file each. The registry refuses to start if one of the six is missing. */
export const ALL_HANDLERS: readonly Handler[] = [
  blockPublicSsh,
  s3BlockPublicAccess,
  enforceImdsv2,
  enableGuardduty,
  rotateIamKeys,
  runPatchBaseline,
];

export function createDefaultRegistry(): HandlerRegistry {
  return new HandlerRegistry(ALL_HANDLERS);
}
