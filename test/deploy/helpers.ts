import Ajv, { type ValidateFunction } from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

/** Shared by the deploy tests: repository paths, YAML reading and Helm-style values merging. */

export const ROOT = resolve(__dirname, '../..');
export const CHART = join(ROOT, 'charts/aegis');

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readText(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

/** YAML with merge keys (`<<: *anchor`), as docker compose reads it. */
export function readYaml(rel: string): Json {
  return parse(readText(rel), { merge: true }) as Json;
}

export function readYamlObject(rel: string): JsonObject {
  const doc = readYaml(rel);
  if (!isObject(doc)) throw new Error(`${rel}: expected a mapping at the top`);
  return doc;
}

/** Helm's coalescing of a values file over the chart's defaults: maps merge, lists and scalars replace, null deletes. */
export function mergeValues(base: JsonObject, override: Json): JsonObject {
  if (!isObject(override)) return structuredClone(base);
  const out: JsonObject = structuredClone(base);
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    if (value === null) delete out[key];
    else if (isObject(current) && isObject(value)) out[key] = mergeValues(current, value);
    else out[key] = structuredClone(value);
  }
  return out;
}

/** A path such as `tiers.t1.autoscaling` inside a values tree, or undefined. */
export function getPath(tree: Json, path: string): Json | undefined {
  let node: Json | undefined = tree;
  for (const part of path.split('.')) {
    if (!isObject(node)) return undefined;
    node = node[part];
  }
  return node;
}

export function chartDefaults(): JsonObject {
  return readYamlObject('charts/aegis/values.yaml');
}

export function ciValueFiles(): string[] {
  return readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => `charts/aegis/ci/${f}`);
}

export function valuesValidator(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  return ajv.compile(JSON.parse(readText('charts/aegis/values.schema.json')) as object);
}

export function describeErrors(validate: ValidateFunction): string {
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
}

export function templateFiles(): string[] {
  return readdirSync(join(CHART, 'templates'))
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.tpl') || f.endsWith('.txt'))
    .sort();
}

export function readTemplate(name: string): string {
  return readText(`charts/aegis/templates/${name}`);
}
