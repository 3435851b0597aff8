#!/usr/bin/env -S node --max-semi-space-size=4
// A small young generation (4 MB semi-spaces; V8 lets them grow to 16 MB):
// memplay streams cache data through short-lived buffers, and a large young
// generation let tens of MB of them wait for a collection. Backing up a 1 GB
// cache this took memplay's peak RSS from about 215 MB to about 190 MB at the
// same throughput (npm run bench, step 4). `node bin/memplay.js` skips it.
import '../dist/src/cli/main.js';
