import type { IncomingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';

/** The services emulated here, named as in the SigV4 credential scope. */
export const SERVICES = ['ec2', 's3', 'iam', 'guardduty', 'ssm', 'sts'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** An AWS error as the service would send it: code, message, HTTP status. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** Extra fields some protocols put beside Code/Message (S3: BucketName, Key…). */
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
    this.name = code;
  }
}

export interface SandboxRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  service: ServiceName;
  region: string;
  accessKeyId: string | undefined;
  requestId: string;
}

export interface SandboxResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export const ACCOUNT_ID = '123456789012';

export function newRequestId(): string {
  return randomUUID();
}

export function header(req: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Region and service from `Credential=AKID/20260101/us-west-2/guardduty/aws4_request` (header or presigned URL). */
export function credentialScope(
  headers: IncomingHttpHeaders,
  query: URLSearchParams,
): { accessKeyId: string; region: string; service: string } | undefined {
  const auth = header({ headers }, 'authorization') ?? '';
  const cred = /Credential=([^,\s]+)/.exec(auth)?.[1] ?? query.get('X-Amz-Credential');
  if (!cred) return undefined;
  const [accessKeyId, , region, service] = cred.split('/');
  if (!accessKeyId || !region || !service) return undefined;
  return { accessKeyId, region, service };
}

// ---------- XML ----------

export type XmlValue = string | number | boolean | undefined | null | XmlObject | XmlValue[];
export interface XmlObject {
  [key: string]: XmlValue;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[c]};`);
}

/** Arrays become repeated elements of the key's name; undefined and null are left out. */
export function toXml(obj: XmlObject): string {
  let out = '';
  for (const [k, v] of Object.entries(obj)) out += element(k, v);
  return out;
}

function element(name: string, v: XmlValue): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map((x) => element(name, x)).join('');
  if (typeof v === 'object') return `<${name}>${toXml(v)}</${name}>`;
  return `<${name}>${escapeXml(String(v))}</${name}>`;
}

export function xmlDocument(root: string, xmlns: string | undefined, body: XmlObject): string {
  const ns = xmlns ? ` xmlns="${xmlns}"` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${toXml(body)}</${root}>`;
}

export function xmlResponse(status: number, xml: string, headers: Record<string, string> = {}): SandboxResponse {
  return { status, headers: { 'content-type': 'text/xml;charset=UTF-8', ...headers }, body: xml };
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): SandboxResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

// ---------- Query protocol parameters (EC2, IAM, STS) ----------

/** Form body plus query string of a Query-protocol request. */
export function queryParams(req: { query: URLSearchParams; body: Buffer }): URLSearchParams {
  const p = new URLSearchParams(req.query);
  const text = req.body.toString('utf8');
  if (text) for (const [k, v] of new URLSearchParams(text)) p.append(k, v);
  return p;
}

/** Tree of `A.1.B.2.C=v` parameters: nested objects keyed by segment. */
export interface ParamTree {
  value?: string;
  children: Map<string, ParamTree>;
}

export function paramTree(params: URLSearchParams): ParamTree {
  const root: ParamTree = { children: new Map() };
  for (const [key, value] of params) {
    let node = root;
    for (const seg of key.split('.')) {
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map() };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.value = value;
  }
  return root;
}

export function child(tree: ParamTree | undefined, ...path: string[]): ParamTree | undefined {
  let node = tree;
  for (const seg of path) node = node?.children.get(seg);
  return node;
}

export function str(tree: ParamTree | undefined, ...path: string[]): string | undefined {
  return child(tree, ...path)?.value;
}

/** Members of a numbered list (`Name.1`, `Name.2`…), in index order. */
export function list(tree: ParamTree | undefined, ...path: string[]): ParamTree[] {
  const node = child(tree, ...path);
  if (!node) return [];
  return [...node.children.entries()]
    .filter(([k]) => /^\d+$/.test(k))
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, v]) => v);
}

export function strList(tree: ParamTree | undefined, ...path: string[]): string[] {
  return list(tree, ...path)
    .map((n) => n.value)
    .filter((v): v is string => v !== undefined);
}

export function int(tree: ParamTree | undefined, ...path: string[]): number | undefined {
  const v = str(tree, ...path);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new AwsError('InvalidParameterValue', `Invalid value '${v}' for ${path.join('.')}`);
  return n;
}

export function bool(tree: ParamTree | undefined, ...path: string[]): boolean | undefined {
  const v = str(tree, ...path);
  return v === undefined ? undefined : v.toLowerCase() === 'true';
}

// ---------- misc ----------

export function hex(n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

export function upperAlnum(n: number): string {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let s = '';
  for (let i = 0; i < n; i++) s += abc[Math.floor(Math.random() * abc.length)];
  return s;
}

export function isoNow(now = Date.now()): string {
  return new Date(now).toISOString();
}

/** `*` and `?` wildcards as in EC2 filters. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(value);
}

// ---------- Query protocol XML envelopes (IAM, STS) ----------

export function queryResult(action: string, xmlns: string, result: XmlObject, requestId: string): SandboxResponse {
  return xmlResponse(
    200,
    xmlDocument(`${action}Response`, xmlns, {
      [`${action}Result`]: result,
      ResponseMetadata: { RequestId: requestId },
    }),
  );
}

export function queryError(err: AwsError, xmlns: string, requestId: string): SandboxResponse {
  const type = err.status >= 500 ? 'Receiver' : 'Sender';
  return xmlResponse(
    err.status,
    xmlDocument('ErrorResponse', xmlns, {
      Error: { Type: type, Code: err.code, Message: err.message },
      RequestId: requestId,
    }),
  );
}
