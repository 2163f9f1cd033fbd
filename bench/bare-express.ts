/**
 * The floor the gateway's API is measured against: express 5 (the gateway's own copy) answering
 * the same payloads with no auth, validation, Redis or logging. GET /status sends the JSON in
 * BENCH_STATUS_FILE (a real status response, re-serialised per request as the gateway does);
 * POST /findings parses the body and answers with a count. Prints its port when listening.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { express } from './lib/deps';

const file = process.env.BENCH_STATUS_FILE;
if (!file) throw new Error('bare express: BENCH_STATUS_FILE is not set');
// Read on first use: the bench writes the file while this process starts.
let status: unknown;

const app = express();
app.disable('x-powered-by');
app.get('/status', (_req, res) => {
  status ??= JSON.parse(readFileSync(file, 'utf8')) as unknown;
  res.json(status);
});
app.post('/findings', express.json({ limit: '5mb' }), (req, res) => {
  const body = req.body as { findings?: unknown[] } | undefined;
  const n = body?.findings?.length ?? 0;
  res.json({ accepted: n, created: 0, updated: n });
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`bare express listening on ${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
