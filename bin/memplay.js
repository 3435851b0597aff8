#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=50
// A small young generation (4 MB semi-spaces; V8 lets them grow to 16 MB):
// memplay streams cache data through short-lived buffers, and a large young
// generation let tens of MB of them wait for a collection. Backing up a 1 GB
// cache this took memplay's peak RSS from about 215 MB to about 190 MB at the
// same throughput (npm run bench, step 4).
// An old generation that may grow by half its live size before a full GC (V8
// picks up to 4× on its own): a backup promotes its in-flight items, and their
// garbage (with the network buffers it holds) waited for a collection until
// the heap was 3.5× its 15 MB of live data. Backing up 1 GB, peak RSS fell from
// 201–213 MB to 143–145 MB (5 runs), for about 5 % more CPU per item (within
// this machine's noise). `node bin/memplay.js` skips both flags.
import '../dist/src/cli/main.js';
