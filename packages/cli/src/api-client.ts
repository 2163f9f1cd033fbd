import type { z } from 'zod';
import { ApiError, CliError, ExitCode, UnreachableError, type ApiErrorBody } from './errors';

export interface ApiClientOptions {
  apiUrl: string;
  token?: string | undefined;
  /** Per request; a hung gateway must not hang a script forever. */
  timeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'DELETE';

/** The whole answer of a call: the parsed value and the raw JSON, printed as is under --json. */
export interface ApiResponse<T> {
  status: number;
  data: T;
  raw: unknown;
}

/** A thin client of the gateway's REST API (`/api/v1`), on Node's global fetch. */
export class ApiClient {
  readonly apiUrl: string;

  constructor(private readonly opts: ApiClientOptions) {
    this.apiUrl = opts.apiUrl.replace(/\/+$/, '');
  }

  async call<S extends z.ZodType>(
    method: Method,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<ApiResponse<z.infer<S>>> {
    const url = `${this.apiUrl}/api/v1${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new UnreachableError(this.apiUrl, networkReason(err));
    }
    const text = await res.text();
    const raw = parseJson(text);
    if (!res.ok) throw new ApiError(res.status, errorBody(raw, res, text), url);
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new CliError(
        `unexpected answer from ${method} ${url} (${res.status}): it does not match the API contract`,
        ExitCode.unreachable,
        parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`),
      );
    }
    return { status: res.status, data: parsed.data as z.infer<S>, raw };
  }
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The API's `{"error":{...}}`, or a stand-in built from the status when a proxy answered instead. */
function errorBody(raw: unknown, res: Response, text: string): ApiErrorBody {
  if (raw && typeof raw === 'object' && 'error' in raw) {
    const e = (raw as { error: unknown }).error;
    if (e && typeof e === 'object') {
      const r = e as Record<string, unknown>;
      const body: ApiErrorBody = {
        code: typeof r.code === 'string' ? r.code : `http_${res.status}`,
        message: typeof r.message === 'string' ? r.message : res.statusText || `HTTP ${res.status}`,
      };
      if (r.details !== undefined) body.details = r.details;
      return body;
    }
  }
  const snippet = text.trim().slice(0, 200);
  return { code: `http_${res.status}`, message: snippet || res.statusText || `HTTP ${res.status}` };
}

/** Why fetch failed, in the words an operator acts on. */
export function networkReason(err: unknown): string {
  // Duck-typed, not `instanceof Error`: fetch's errors may come from another realm (test VMs).
  const e = (err && typeof err === 'object' ? err : {}) as { name?: unknown; message?: unknown; cause?: unknown };
  const cause = (e.cause && typeof e.cause === 'object' ? e.cause : {}) as { code?: unknown; message?: unknown };
  const code = typeof cause.code === 'string' ? cause.code : undefined;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer in time (timeout)';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused — is it running? (pnpm start)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found (check --api-url / AEGIS_API_URL)';
    case 'ECONNRESET':
      return 'connection reset by the server';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
  }
  if (code) return code;
  if (typeof cause.message === 'string') return cause.message;
  return typeof e.message === 'string' ? e.message : String(err);
}
