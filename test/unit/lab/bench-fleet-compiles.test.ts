import { describe, expect, it } from 'vitest';
import { countCompiles } from '../../../scripts/bench-fleet/compiles.js';

// The 500-host section's "one compile for the whole fleet" is counted from the
// build tasks' details, as memplay's build task words them (src/tasks/build.ts).

describe('countCompiles', () => {
  it('counts the host that compiled, not the ones that received its tree', () => {
    const details = [
      'built 1.6.38 in 41.2 s, shipped to host2, host3',
      'received 1.6.38 built on host1 in 2.1 s (tar sha256 1f3a0c9b2d4e… verified here)',
      'received 1.6.38 built on host1 in 2.4 s (tar sha256 1f3a0c9b2d4e… verified here); removed old builds 1.6.17',
    ];
    expect(countCompiles(details)).toBe(1);
  });

  it('counts a host that compiled for itself after its ship failed', () => {
    expect(
      countCompiles([
        'built 1.6.38 in 40 s, shipped to host3',
        'shipping from host1 failed (connection reset); built 1.6.38 here in 39 s',
        'received 1.6.38 built on host1 in 2 s (tar sha256 0123456789ab… verified here)',
      ]),
    ).toBe(2);
  });

  it('counts none when every host received a shipped tree', () => {
    expect(
      countCompiles(['received 1.6.38 built on ci-builder in 3 s (tar sha256 0123456789ab… verified here)']),
    ).toBe(0);
  });
});
