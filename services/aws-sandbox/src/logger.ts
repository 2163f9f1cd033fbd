/** JSON lines in the shape of @aegis/core's logger (`"level":"info"`, ISO `time`, `service`). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Log {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLog(level: LogLevel, write: (line: string) => void = (l) => process.stdout.write(l)): Log {
  const min = LOG_LEVELS.indexOf(level);
  const at =
    (l: Exclude<LogLevel, 'silent'>) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (LOG_LEVELS.indexOf(l) < min) return;
      write(
        `${JSON.stringify({ level: l, time: new Date().toISOString(), service: 'aws-sandbox', ...fields, msg })}\n`,
      );
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
