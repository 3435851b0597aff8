import { describe, expect, it } from 'vitest';
import { joinCommands, quote, sh } from '../../src/transport/quote.js';

// What `sh` builds, as text. That a real /bin/sh reads each value back as one argument
// is test/integration/quote.test.ts.
describe('sh quoting', () => {
  it('leaves safe words bare and quotes everything else', () => {
    expect(sh`ls ${'/opt/memcached-1.6.38'}`.text).toBe('ls /opt/memcached-1.6.38');
    expect(sh`echo ${'two words'}`.text).toBe("echo 'two words'");
    expect(sh`echo ${"it's"}`.text).toBe(`echo 'it'\\''s'`);
    expect(sh`echo ${''}`.text).toBe("echo ''");
    expect(sh`kill ${1234}`.text).toBe('kill 1234');
    expect(quote('$(id)')).toBe("'$(id)'");
  });

  it('turns an array into several quoted words and splices a nested command as-is', () => {
    expect(sh`./configure ${['--prefix=/opt/x', 'CFLAGS=-O2 -g']}`.text).toBe(
      "./configure --prefix=/opt/x 'CFLAGS=-O2 -g'",
    );
    const inner = sh`cat ${'my file'}`;
    expect(sh`${inner} | wc -c`.text).toBe("cat 'my file' | wc -c");
    expect(joinCommands([sh`cd ${'/a b'}`, sh`make`], ' && ').text).toBe("cd '/a b' && make");
  });
});
