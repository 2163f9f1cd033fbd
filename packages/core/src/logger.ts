import pino from 'pino';

export type Logger = pino.Logger;

/** Fields never written, wherever they appear in a log object. */
const REDACT = [
  'token',
  'authorization',
  'password',
  'secret',
  '*.token',
  '*.authorization',
  '*.password',
  '*.secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

/**
 * One JSON object per line, `"level":"info|warn|error"` as a string and an ISO `time`, so the
 * runbook's `grep '"level":"error"' | jq` works as written.
 */
export function createLogger(
  service: string,
  level = process.env.LOG_LEVEL ?? 'info',
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    // Synchronous: a line written before a SIGKILL (a killed pod) is not lost in a buffer.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
