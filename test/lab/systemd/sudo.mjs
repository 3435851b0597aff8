#!/usr/bin/node
// A stand-in for sudo on the lab, which has none: it cannot change user, but it
// behaves as memplay relies on. `-n` fails ("a password is required") when a
// password is configured; `-S` reads exactly one line from stdin and compares it
// (the rest of stdin stays for the command); `-p PROMPT` is accepted. The
// password, if any, is the content of ~/.sudo-standin-password. The command
// runs with SUDO_USER set, as under sudo.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
let fromStdin = false;
while (args[0]?.startsWith('-')) {
  const option = args.shift();
  if (option === '--') break;
  if (option === '-n') continue;
  if (option === '-S') fromStdin = true;
  else if (option === '-p') args.shift();
  else {
    process.stderr.write(`sudo: the stand-in does not know ${option}\n`);
    process.exit(1);
  }
}
const passwordFile = join(homedir(), '.sudo-standin-password');
const password = existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8').trim() : null;

function readLine() {
  const bytes = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let read;
    try {
      read = readSync(0, one, 0, 1, null);
    } catch (error) {
      if (error.code === 'EAGAIN') continue;
      throw error;
    }
    if (read !== 1 || one[0] === 10) break;
    bytes.push(one[0]);
  }
  return Buffer.from(bytes).toString('utf8');
}

if (password !== null) {
  if (!fromStdin) {
    process.stderr.write('sudo: a password is required\n');
    process.exit(1);
  }
  if (readLine() !== password) {
    process.stderr.write('sudo: 1 incorrect password attempt\n');
    process.exit(1);
  }
}
const result = spawnSync(args[0], args.slice(1), {
  stdio: 'inherit',
  env: { ...process.env, SUDO_USER: userInfo().username },
});
process.exit(result.status ?? 1);
