import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { FindingsImported } from '../api-types';
import { contextOf } from '../context';
import { CliError, ExitCode } from '../errors';
import { chunk, parseFindings } from '../findings-input';
import { plural } from '../format';

interface ImportOptions {
  chunkSize: string;
}

async function readSource(source: string): Promise<string> {
  if (source === '-') {
    const parts: Buffer[] = [];
    for await (const c of process.stdin) parts.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
    return Buffer.concat(parts).toString('utf8');
  }
  try {
    return await readFile(source, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${source}: ${code === 'ENOENT' ? 'no such file' : String(err)}`, ExitCode.usage);
  }
}

export function registerFindings(program: Command): void {
  const findings = program
    .command('findings')
    .summary('manage findings (import scanner exports)')
    .description('Findings are what scanners report; remediation works on their ids.');
  findings
    .command('import')
    .summary('upsert findings from a JSON or NDJSON file (or - for stdin)')
    .description(
      'Upserts findings from a scanner export: {"findings":[...]}, a JSON array, or NDJSON (one finding ' +
        'per line). Every finding is validated first, then sent in chunks; importing twice is harmless. ' +
        'A finding: {id, handler, provider:"aws", account_id, region, resource_id, severity?, title?, ' +
        'dependencies?:[{resource_id, relation}]}.',
    )
    .argument('<file>', 'file to read, or - for stdin')
    .option('--chunk-size <n>', 'findings per request', '500')
    .addHelpText(
      'after',
      '\nExamples:\n  $ aegis findings import scan.json\n  $ scanner --ndjson | aegis findings import -',
    )
    .action(async (file: string, opts: ImportOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const size = Number(opts.chunkSize);
      if (!Number.isInteger(size) || size < 1 || size > 10_000) {
        throw new CliError(`--chunk-size must be an integer from 1 to 10000, got "${opts.chunkSize}"`, ExitCode.usage);
      }
      const source = file === '-' ? 'stdin' : file;
      const list = parseFindings(await readSource(file), source);
      const api = ctx.api();
      const totals = { imported: 0, created: 0, updated: 0, requests: 0 };
      let sent = 0;
      for (const part of chunk(list, size)) {
        try {
          const r = (await api.call('POST', '/findings', FindingsImported, { findings: part })).data;
          totals.imported += r.accepted;
          totals.created += r.created ?? 0;
          totals.updated += r.updated ?? 0;
          totals.requests += 1;
        } catch (err) {
          if (sent)
            ctx.note(`${sent} of ${list.length} findings were imported before this error; importing again is safe.`);
          throw err;
        }
        sent += part.length;
        if (!ctx.json && totals.requests > 1) ctx.note(`… ${sent}/${list.length}`);
      }
      if (ctx.json) ctx.printJson(totals);
      ctx.print(
        `Imported ${plural(totals.imported, 'finding')} from ${source} (${totals.created} new, ${totals.updated} updated) in ${plural(totals.requests, 'request')}.`,
      );
    });
}
