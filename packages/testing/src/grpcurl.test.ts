import { describe, expect, it, vi } from 'vitest';
import { requireGrpcurl } from './grpcurl.js';

const NOWHERE = '/nonexistent/cloudai/grpcurl';

describe('requireGrpcurl without the binary', () => {
  it('fails under CI, naming what is missing and how to provide it', () => {
    expect(() => requireGrpcurl('the suite', { CI: 'true', CLOUDAI_GRPCURL_BIN: NOWHERE })).toThrow(
      `the suite cannot run under CI without grpcurl (CLOUDAI_GRPCURL_BIN=${NOWHERE} does not exist): ` +
        'set CLOUDAI_GRPCURL_BIN to a grpcurl binary (bash .ci/provision.sh builds one',
    );
  });

  it('skips elsewhere, with a warning that says so', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(requireGrpcurl('the suite', { CLOUDAI_GRPCURL_BIN: NOWHERE })).toBeUndefined();
      expect(String(warn.mock.calls[0]?.[0])).toContain('SKIPPED: the suite');
    } finally {
      warn.mockRestore();
    }
  });
});
