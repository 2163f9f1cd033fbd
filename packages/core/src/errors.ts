/**
 * The error taxonomy (DESIGN.md invariant 4). Every failure a handler meets is put in one class,
 * and the class alone decides what the dispatcher does next.
 */
export const ERROR_CLASSES = [
  'permanent',
  'throttled',
  'conflict',
  'not_found',
  'transient',
  'timeout',
  'cancelled',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

const PERMANENT = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedAccess',
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'Forbidden',
  'OptInRequired',
  'InvalidParameterValue',
  'InvalidParameterCombination',
  'InvalidPermission.Malformed',
  'ValidationError',
  'ValidationException',
  'BadRequestException',
  'MalformedPolicy',
  'LimitExceeded',
  'LimitExceededException',
  'InvalidInstanceID.Malformed',
  'InvalidGroupId.Malformed',
  'InvalidBucketName',
  'plan_changed',
  'verify_failed',
  'snapshot_failed',
  'irreversible',
  // SSM command outcomes of a patch run: final answers, not worth running the install again.
  'Failed',
  'TimedOut',
  'Cancelled',
  'Undeliverable',
  'Terminated',
  'DeliveryTimedOut',
  'ExecutionTimedOut',
]);
const THROTTLED = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'SlowDown',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'EC2ThrottledException',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
]);
const CONFLICT = new Set([
  'ConflictException',
  'ResourceInUse',
  'ResourceInUseException',
  'IncorrectState',
  'IncorrectInstanceState',
  'ConcurrentModification',
  'ConcurrentModificationException',
  'OperationAborted',
  'InvalidInstanceState',
]);
const NOT_FOUND = new Set([
  'NoSuchEntity',
  'NoSuchBucket',
  'NotFound',
  'NotFoundException',
  'ResourceNotFoundException',
  'InvalidGroup.NotFound',
  'InvalidInstanceID.NotFound',
  'InvalidInstanceId',
  'InvalidDetectorId',
  'resource_not_found',
]);
const TIMEOUT = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'timeout', 'timed_out']);
const CANCELLED = new Set(['AbortError', 'cancelled']);

export interface ClassifiedError {
  class: ErrorClass;
  /** The AWS error code (or our own code) kept on the item, in logs and in metrics. */
  code: string;
  message: string;
  /** HTTP status the cloud answered with, when there was one. */
  httpStatus?: number | undefined;
}

/** A failure with a code of ours (snapshot_failed, plan_changed, …), classified like an AWS error. */
export class AegisError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: { throttling?: unknown };
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as ErrorLike;
    for (const v of [e.Code, e.code, e.name]) if (typeof v === 'string' && v && v !== 'Error') return v;
  }
  return 'InternalError';
}

export function classifyCode(code: string, httpStatus?: number): ErrorClass {
  if (PERMANENT.has(code)) return 'permanent';
  if (THROTTLED.has(code)) return 'throttled';
  if (CONFLICT.has(code)) return 'conflict';
  if (NOT_FOUND.has(code) || code.endsWith('.NotFound')) return 'not_found';
  if (TIMEOUT.has(code)) return 'timeout';
  if (CANCELLED.has(code)) return 'cancelled';
  if (httpStatus === 403 || httpStatus === 401) return 'permanent';
  if (httpStatus === 429) return 'throttled';
  if (httpStatus === 404) return 'not_found';
  if (httpStatus === 409) return 'conflict';
  if (httpStatus !== undefined && httpStatus >= 400 && httpStatus < 500) return 'permanent';
  return 'transient';
}

export function classifyError(err: unknown): ClassifiedError {
  const code = errorCode(err);
  const e = (err && typeof err === 'object' ? err : {}) as ErrorLike;
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  let cls = classifyCode(code, status);
  if (cls === 'transient' && e.$retryable?.throttling === true) cls = 'throttled';
  return { class: cls, code, message, httpStatus: status };
}

/** The code an item records for a not-found error, whatever the service called it. */
export const RESOURCE_NOT_FOUND = 'resource_not_found';
