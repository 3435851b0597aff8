import { looksLikeSecret } from '../playbook/secret-keys.js';
import type { RunEvent } from './events.js';

// The one place secrets are taken out of what memplay shows and records: every
// event passes through here before any renderer or the run log sees it. The
// secrets are the values of the credential environment variables, wherever they
// appear (a command, its output, an error message). sudo's password goes to sudo
// on stdin, which no event carries, so it can only leak through an echo: caught here too.

/** The credential variables memplay reads; any other MEMPLAY_* variable named like a secret counts too. */
export const secretVariables = ['MEMPLAY_BECOME_PASSWORD', 'MEMPLAY_SSH_PASSPHRASE'] as const;

export interface Secret {
  readonly variable: string;
  readonly value: string;
}

/** The secrets set in `env`, longest value first so one that holds another is taken out whole. */
export function secretsIn(env: NodeJS.ProcessEnv): Secret[] {
  const names = Object.keys(env).filter(
    (name) =>
      (secretVariables as readonly string[]).includes(name) ||
      (name.startsWith('MEMPLAY_') && looksLikeSecret(name.slice('MEMPLAY_'.length))),
  );
  return names
    .map((variable) => ({ variable, value: env[variable] ?? '' }))
    .filter((secret) => secret.value !== '')
    .sort((a, b) => b.value.length - a.value.length);
}

/** Replaces every occurrence of a secret's value by `[redacted $NAME]`. */
export function redactor(secrets: readonly Secret[]): (text: string) => string {
  if (secrets.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const { variable, value } of secrets) out = out.split(value).join(`[redacted $${variable}]`);
    return out;
  };
}

function redactValue(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redact));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v, redact)]));
  }
  // Numbers stay numbers: a secret made of digits never turns a count into a string.
  return value;
}

/** The event with every string in it redacted; the same object when there are no secrets. */
export function redactEvent(event: RunEvent, secrets: readonly Secret[]): RunEvent {
  if (secrets.length === 0) return event;
  return redactValue(event, redactor(secrets)) as RunEvent;
}
