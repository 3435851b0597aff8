import { isSecretVariable } from '../playbook/secret-keys.js';
import type { RunEvent } from './events.js';

export { minimumSecretLength, secretVariables } from '../playbook/secret-keys.js';

// The one place secrets are taken out of what memplay shows and records: one
// Redaction per run, built here, through which every sink writes — the views and
// the run log (every event), the journal (every entry) and the error printed at
// the end. The secrets are the values of the credential environment variables and
// of the variables the playbook names for secrets (memcached.auth.password_env),
// wherever they appear (a command, its output, an error message). sudo's password
// goes to sudo on stdin, which no event carries, so it can only leak through an
// echo: caught here too.

export interface Secret {
  readonly variable: string;
  readonly value: string;
}

/**
 * The secrets set in `env`, longest value first so one that holds another is taken out
 * whole: memplay's own variables, and `named` (the variables the playbook names for secrets).
 */
export function secretsIn(env: NodeJS.ProcessEnv, named: readonly string[] = []): Secret[] {
  const names = Object.keys(env).filter((name) => isSecretVariable(name) || named.includes(name));
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

/** One run's redaction, shared by every sink. */
export interface Redaction {
  readonly secrets: readonly Secret[];
  text(text: string): string;
  /** Any JSON-like value with every string in it redacted (numbers stay numbers). */
  value<T>(value: T): T;
  event(event: RunEvent): RunEvent;
}

export function redaction(secrets: readonly Secret[]): Redaction {
  const text = redactor(secrets);
  return {
    secrets,
    text,
    value: <T>(value: T): T => (secrets.length === 0 ? value : (redactValue(value, text) as T)),
    event: (event) => redactEvent(event, secrets),
  };
}
