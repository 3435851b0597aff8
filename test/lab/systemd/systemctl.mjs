#!/usr/bin/node
// A stand-in for systemctl on the lab, which has no systemd: it reads a real
// unit file and its drop-ins (<unit>.d/*.conf, in name order) from
// $SYSTEMCTL_STANDIN_DIR (default ~/systemd), honours ExecStart= the way
// systemd does (an empty ExecStart= clears the list; quotes, `\`, `%%`, `$$`),
// and really starts (detached, main pid recorded) and stops (SIGTERM, waits for
// the exit) the daemon. Every call is appended to <dir>/.state/calls.log, with
// `sudo` when it came through sudo, so a test can check what ran in which order.
// Verbs: start, stop, restart, is-active, show -p MainPID [--value], kill -s SIG, daemon-reload,
// cat (the unit file and its drop-ins, each after a `# /path` line, as systemd prints them).
// An instance of a template (`memcached@11211.service`) without a unit file of its
// own reads the template's (`memcached@.service`), with `%i` and `%I` standing for
// the instance (`11211`), as systemd does.
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const dir = process.env.SYSTEMCTL_STANDIN_DIR ?? join(homedir(), 'systemd');
const stateDir = join(dir, '.state');
mkdirSync(stateDir, { recursive: true });
const args = process.argv.slice(2);
appendFileSync(
  join(stateDir, 'calls.log'),
  `${process.env.SUDO_USER ? 'sudo ' : ''}systemctl ${args.join(' ')}\n`,
);

function die(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const options = {};
const words = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--') {
    words.push(...args.slice(i + 1));
    break;
  }
  if (arg === '-p' || arg === '--property' || arg === '-s' || arg === '--signal')
    options[arg.replace(/^-+/, '')[0]] = args[++i];
  else if (arg.startsWith('-')) options[arg.replace(/^-+/, '')] = true;
  else words.push(arg);
}
const [verb, unit] = words;

/** ExecStart= split the way systemd splits it (no shell). */
function splitCommandLine(line) {
  const argv = [];
  let word = null;
  let quote = null;
  const text = line.replace(/^[-@:+!]+/, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (quote) {
      if (c === quote) quote = null;
      else word = (word ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word = word ?? '';
    } else if (c === ' ' || c === '\t') {
      if (word !== null) argv.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (quote) die(`${unit}: unbalanced quotes in ExecStart=${line}`);
  if (word !== null) argv.push(word);
  return argv.map((w) => w.replaceAll('%%', '\0').replaceAll('$$', '$').replaceAll('\0', '%'));
}

/** The unit's own file, else its template's, and the instance name `%i` stands for. */
function unitFile() {
  const own = join(dir, unit);
  if (existsSync(own)) return { file: own, instance: '' };
  const template = unit.match(/^([^@]+)@([^.]+)(\.[a-z]+)$/);
  const file = template ? join(dir, `${template[1]}@${template[3]}`) : own;
  if (!existsSync(file)) die(`Unit ${unit} could not be found.`, 5);
  return { file, instance: template?.[2] ?? '' };
}

/** The unit file (or its template's), then its drop-ins in the order systemd applies them. */
function unitFiles() {
  const { file } = unitFile();
  const dropInDir = join(dir, `${unit}.d`);
  const dropIns = existsSync(dropInDir)
    ? readdirSync(dropInDir)
        .filter((name) => name.endsWith('.conf'))
        .sort()
        .map((name) => join(dropInDir, name))
    : [];
  return [file, ...dropIns];
}

function unitExecStart() {
  const { instance } = unitFile();
  let execStart = [];
  for (const path of unitFiles()) {
    let section = '';
    for (const raw of readFileSync(path, 'utf8').split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      if (line.startsWith('[')) section = line;
      else if (section === '[Service]' && line.startsWith('ExecStart=')) {
        const value = line.slice('ExecStart='.length);
        execStart = value === '' ? [] : [...execStart, value];
      }
    }
  }
  if (execStart.length !== 1) die(`${unit} has ${execStart.length} ExecStart= lines; a service needs one`);
  // %% stays a literal % (splitCommandLine turns it into one); %i and %I are the instance.
  const line = execStart[0]
    .replaceAll('%%', '\u0001')
    .replaceAll(/%[iI]/g, instance)
    .replaceAll('\u0001', '%%');
  return splitCommandLine(line);
}

const pidFile = () => join(stateDir, `${unit}.pid`);
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return !/^\d+ \(.*\) Z/.test(stat);
}
function mainPid() {
  if (!existsSync(pidFile())) return 0;
  const pid = Number(readFileSync(pidFile(), 'utf8'));
  return pid > 0 && alive(pid) ? pid : 0;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function start() {
  if (mainPid()) return;
  const argv = unitExecStart();
  const log = openSync(join(stateDir, `${unit}.log`), 'a');
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
  const failed = await new Promise((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code) => resolve(`exited ${code}`));
    // Type=exec: up once the binary runs; a daemon dying at once is a failed start.
    setTimeout(() => resolve(null), 300);
  });
  if (failed)
    die(
      `Job for ${unit} failed because the control process ${failed}. See ${join(stateDir, `${unit}.log`)}.`,
    );
  writeFileSync(pidFile(), String(child.pid));
  child.unref();
}

async function stop() {
  const pid = mainPid();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; alive(pid); waited += 50) {
      if (waited > 30_000) die(`${unit}: pid ${pid} still running 30 s after SIGTERM`);
      await sleep(50);
    }
  }
  rmSync(pidFile(), { force: true });
}

if (verb === 'daemon-reload') process.exit(0);
if (!unit) die(`systemctl ${verb ?? ''}: which unit?`);
if (verb === 'cat') {
  process.stdout.write(
    unitFiles()
      .map((path) => `# ${path}\n${readFileSync(path, 'utf8').replace(/\n?$/, '\n')}`)
      .join('\n'),
  );
} else if (verb === 'start') await start();
else if (verb === 'stop') await stop();
else if (verb === 'restart') {
  await stop();
  await start();
} else if (verb === 'is-active') {
  const active = mainPid() !== 0;
  process.stdout.write(active ? 'active\n' : 'inactive\n');
  process.exit(active ? 0 : 3);
} else if (verb === 'show') {
  if (options.p !== 'MainPID') die(`systemctl show: the stand-in knows only -p MainPID`);
  process.stdout.write(options.value ? `${mainPid()}\n` : `MainPID=${mainPid()}\n`);
} else if (verb === 'kill') {
  const pid = mainPid();
  if (pid) process.kill(pid, `SIG${(options.s ?? 'TERM').replace(/^SIG/, '')}`);
} else die(`systemctl: the stand-in does not know "${verb}"`);
