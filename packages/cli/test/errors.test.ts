import { CommanderError } from 'commander';
import {
  ApiError,
  CliError,
  ExitCode,
  UnreachableError,
  describeDetails,
  exitCodeFor,
  exitCodeForStatus,
  renderError,
} from '../src/errors';

describe('exit codes', () => {
  it.each([
    [400, ExitCode.usage],
    [404, ExitCode.usage],
    [415, ExitCode.usage],
    [422, ExitCode.usage],
    [401, ExitCode.auth],
    [403, ExitCode.auth],
    [409, ExitCode.refused],
    [429, ExitCode.refused],
    [500, ExitCode.unreachable],
    [503, ExitCode.unreachable],
  ])('HTTP %i -> exit %i', (status, code) => expect(exitCodeForStatus(status)).toBe(code));

  it('maps every error the CLI can meet', () => {
    expect(exitCodeFor(new CliError('x', ExitCode.refused))).toBe(5);
    expect(exitCodeFor(new ApiError(403, { code: 'forbidden', message: 'no' }, 'u'))).toBe(3);
    expect(exitCodeFor(new UnreachableError('http://h', 'connection refused'))).toBe(4);
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownOption', 'bad'))).toBe(2);
    expect(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '(help)'))).toBe(0);
    expect(exitCodeFor(new Error('boom'))).toBe(1);
  });

  it('keeps the documented numbers', () => {
    expect(ExitCode).toEqual({ ok: 0, failures: 1, usage: 2, auth: 3, unreachable: 4, refused: 5 });
  });
});

describe('describeDetails', () => {
  it('reads zod-style issue lists, field maps and wrapped lists', () => {
    expect(describeDetails([{ path: ['finding_ids', 0], message: 'Required' }])).toEqual(['finding_ids.0: Required']);
    expect(describeDetails({ fields: [{ field: 'dry_run', message: 'expected boolean' }] })).toEqual([
      'dry_run: expected boolean',
    ]);
    expect(describeDetails({ batch_id: 'unknown', limit: 3 })).toEqual(['batch_id: unknown', 'limit: 3']);
    expect(describeDetails(undefined)).toEqual([]);
    expect(
      describeDetails({
        findings: [{ id: 'f-1', handler: 'block-public-ssh', resource_id: 'x', message: 'not an sg id' }],
      }),
    ).toEqual(['f-1: not an sg id']);
    expect(describeDetails({ refused: [{ snapshot_id: 'snap-001', code: 'drifted', message: 'changed' }] })).toEqual([
      'snap-001: changed',
    ]);
    expect(describeDetails({ finding_ids: ['f-1', 'f-2'] })).toEqual(['finding_ids: ["f-1","f-2"]']);
    expect(
      describeDetails({
        missing: [{ finding_id: 'e-1', resource_id: 'sg-1', account_id: '123456789012', region: 'us-east-1' }],
      }),
    ).toEqual(['e-1: resource_id=sg-1 account_id=123456789012 region=us-east-1']);
  });
});

describe('renderError', () => {
  it('names the missing scope on 403', () => {
    const err = new ApiError(
      403,
      { code: 'forbidden', message: 'token lacks scope', details: { missing_scope: 'remediation:execute' } },
      'u',
    );
    expect(renderError(err)[0]).toContain('the token lacks the "remediation:execute" scope');
  });
  it('tells how to pass a token on 401', () => {
    expect(renderError(new ApiError(401, { code: 'unauthorized', message: 'bad token' }, 'u')).join('\n')).toMatch(
      /AEGIS_API_TOKEN/,
    );
  });
  it('lists validation details under the message', () => {
    const err = new ApiError(
      422,
      {
        code: 'validation_error',
        message: 'invalid request',
        details: [{ path: ['finding_ids'], message: 'too short' }],
      },
      'u',
    );
    expect(renderError(err)).toEqual(['invalid request (422 validation_error)', '  - finding_ids: too short']);
  });
});
