import { describe, expect, it } from 'vitest';
import { formatRecap } from '../../src/report/recap.js';

describe('the recap table', () => {
  it('shows the swap path and out-of-service time of a host that swapped, and nothing extra for one that did not', () => {
    const text = formatRecap({
      host1: {
        ok: 4,
        changed: 2,
        failed: 0,
        skipped: 0,
        unreachable: false,
        swap_mode: 'warm',
        out_of_service_ms: 612,
      },
      host2: { ok: 6, changed: 0, failed: 0, skipped: 0, unreachable: false },
    });
    expect(text.split('\n').slice(1)).toEqual([
      'host1 : ok=4  changed=2  unreachable=0  failed=0  skipped=0  swap=warm  out_of_service=612ms',
      'host2 : ok=6  changed=0  unreachable=0  failed=0  skipped=0',
    ]);
  });
});
