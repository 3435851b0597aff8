import { describe, expect, it } from 'vitest';
import { compareVersions, parseProbeOutput } from '../../src/facts/host-facts.js';

// Parsing what the probe prints; the probe run by a real /bin/sh is test/integration/host-facts.test.ts.
describe('the fact probe output', () => {
  it('parses the platform lines, and an empty one as unknown', () => {
    const facts = parseProbeOutput('arch\tx86_64\nlibc\tglibc 2.36\nlibevent\t\n');
    expect(facts.platform).toEqual({ arch: 'x86_64', libc: 'glibc 2.36', libevent: null });
  });

  it('reads the build tools a host lacks; an empty line means it can compile, no line that it was not asked', () => {
    expect(parseProbeOutput('missing-build-tools\t compiler make\n').platform.missingBuildTools).toEqual([
      'compiler',
      'make',
    ]);
    expect(parseProbeOutput('missing-build-tools\t\n').platform.missingBuildTools).toEqual([]);
    expect(parseProbeOutput('arch\tx86_64\n').platform.missingBuildTools).toBeUndefined();
  });
});

describe('compareVersions', () => {
  it('orders numerically, not lexically', () => {
    expect(compareVersions('1.6.9', '1.6.18')).toBeLessThan(0);
    expect(compareVersions('1.6.38', '1.6.38')).toBe(0);
    expect(compareVersions('1.10.0', '1.6.45')).toBeGreaterThan(0);
  });
});
