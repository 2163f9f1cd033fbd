import { CliError, ExitCode } from '../src/errors';
import { chunk, parseFindings } from '../src/findings-input';

const f = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  handler: 'block-public-ssh',
  provider: 'aws',
  account_id: '123456789012',
  region: 'us-east-1',
  resource_id: 'sg-0abc123def456789',
  ...extra,
});

function failure(run: () => unknown): CliError {
  try {
    run();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error('expected a CliError');
}

describe('parseFindings', () => {
  it('reads {findings:[...]}', () => {
    expect(parseFindings(JSON.stringify({ findings: [f('f-1'), f('f-2')] }), 'x').map((x) => x.id)).toEqual([
      'f-1',
      'f-2',
    ]);
  });

  it('reads a bare JSON array and a single object', () => {
    expect(parseFindings(JSON.stringify([f('f-1')]), 'x')).toHaveLength(1);
    expect(parseFindings(JSON.stringify(f('f-7')), 'x')[0]?.id).toBe('f-7');
  });

  it('reads NDJSON, skipping blank lines and CRLF', () => {
    const text = `${JSON.stringify(f('f-1'))}\r\n\n${JSON.stringify(f('f-2', { severity: 'high' }))}\n`;
    const out = parseFindings(text, 'x');
    expect(out.map((x) => x.id)).toEqual(['f-1', 'f-2']);
    expect(out[1]?.severity).toBe('high');
  });

  it('names the NDJSON line that is not JSON', () => {
    const err = failure(() => parseFindings(`${JSON.stringify(f('f-1'))}\n{oops\n`, 'scan.ndjson'));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.lines[0]).toMatch(/^line 2: not JSON/);
  });

  it('validates every finding against the API schema, with where and which field', () => {
    const err = failure(() =>
      parseFindings(
        JSON.stringify({ findings: [f('f-1'), f('f-2', { handler: 'nope', region: 'mars' })] }),
        'scan.json',
      ),
    );
    expect(err.message).toBe('invalid findings in scan.json; nothing was imported');
    expect(err.lines.some((l) => l.startsWith('findings[1] (id f-2): handler:'))).toBe(true);
    expect(err.lines.some((l) => l.startsWith('findings[1] (id f-2): region:'))).toBe(true);
  });

  it('refuses empty input and JSON that is not findings', () => {
    expect(failure(() => parseFindings('  \n', 'stdin')).message).toMatch(/empty/);
    expect(failure(() => parseFindings('42', 'x')).message).toMatch(/not findings/);
    expect(failure(() => parseFindings('{"findings":{}}', 'x')).message).toMatch(/must be an array/);
    expect(failure(() => parseFindings('[]', 'x')).message).toMatch(/no findings/);
  });
});

describe('chunk', () => {
  it('slices in order, the last slice shorter', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 500)).toEqual([]);
    expect(
      chunk(
        Array.from({ length: 1001 }, (_, i) => i),
        500,
      ).map((c) => c.length),
    ).toEqual([500, 500, 1]);
  });
  it('refuses a size below 1', () => {
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});
