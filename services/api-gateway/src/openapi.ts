/** Placeholder replaced by the generated document (observability issue). */
export function openApiDocument(): object {
  return { openapi: '3.0.3', info: { title: 'Cloud Aegis remediation dispatcher', version: '0.1.0' }, paths: {} };
}
