import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { askOnTerminal, questionLine } from '../../src/cli/batch-question.js';

// strategy.confirm_between_batches' question on a terminal, with a stream standing in
// for stdin: what counts as yes, what Ctrl-C does, and that the terminal is given back.

function fakeTerminal() {
  const input = Object.assign(new PassThrough(), {
    raw: [] as boolean[],
    setRawMode(raw: boolean) {
      this.raw.push(raw);
    },
  });
  const shown: (string | undefined)[] = [];
  const controller = new AbortController();
  let interrupted = 0;
  const answer = askOnTerminal({
    input,
    show: (typed) => shown.push(typed),
    signal: controller.signal,
    interrupt: () => {
      interrupted += 1;
    },
  });
  return { input, shown, controller, answer, interrupted: () => interrupted };
}

// The clock is moved, not waited for: 200 ms real sleeps made this file the slowest of the unit tier.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Keys typed once the question is up (keys sent at once count as typed before it). */
async function type(input: PassThrough, ...keys: string[]) {
  vi.setSystemTime(Date.now() + 200);
  for (const key of keys) input.write(key);
}

describe('the question between batches', () => {
  it('reads "batch 2 of 3: host2, host3 — continue? [y/N]"', () => {
    expect(questionLine({ phase: 'rolling', batch: 2, batches: 3, hosts: ['host2', 'host3'] })).toBe(
      'batch 2 of 3: host2, host3 — continue? [y/N] ',
    );
  });

  it.each([
    ['y\r', true],
    ['Y\r', true],
    ['yes\r', true],
    [' yes \r', true],
    ['\r', false],
    ['n\r', false],
    ['yep\r', false],
    ['no\r', false],
  ])('%j answers %s', async (keys, expected) => {
    const terminal = fakeTerminal();
    await type(terminal.input, keys);
    expect(await terminal.answer).toBe(expected);
    expect(terminal.input.raw).toEqual([true, false]);
  });

  it('shows what is typed, backspace included, and clears the question once answered', async () => {
    const terminal = fakeTerminal();
    await type(terminal.input, 'n', 'x', '\u007f', '\u007f', 'y', 'e', 's', '\r');
    expect(await terminal.answer).toBe(true);
    expect(terminal.shown).toEqual(['', 'n', 'nx', 'n', '', 'y', 'ye', 'yes', undefined]);
  });

  it('an Enter pressed before the question was up is not its answer', async () => {
    const terminal = fakeTerminal();
    terminal.input.write('\r');
    await type(terminal.input, 'y', '\r');
    expect(await terminal.answer).toBe(true);
  });

  it('Ctrl-C is no, and stops the run as the interrupt does', async () => {
    const terminal = fakeTerminal();
    await type(terminal.input, 'y', '\u0003');
    expect(await terminal.answer).toBe(false);
    expect(terminal.interrupted()).toBe(1);
    expect(terminal.input.raw).toEqual([true, false]);
  });

  it('Ctrl-D is no, without interrupting', async () => {
    const terminal = fakeTerminal();
    await type(terminal.input, 'y', '\u0004');
    expect(await terminal.answer).toBe(false);
    expect(terminal.interrupted()).toBe(0);
  });

  it('an interrupt from elsewhere (SIGTERM) ends the question with no', async () => {
    const terminal = fakeTerminal();
    terminal.controller.abort();
    expect(await terminal.answer).toBe(false);
    expect(terminal.input.raw).toEqual([true, false]);
    expect(terminal.shown.at(-1)).toBeUndefined();
  });
});
