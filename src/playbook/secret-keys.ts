// A playbook is committed, copied into tickets and printed by `memplay schema`
// users; a secret written in it leaks with it. Keys that look like secrets are
// refused with where the secret goes instead: an environment variable or the agent.

const becomeVariable = 'MEMPLAY_BECOME_PASSWORD';
const passphraseVariable = 'MEMPLAY_SSH_PASSPHRASE';

/** Whether a key someone wrote looks like it holds a secret (`password`, `sudo_pass`, `api_token`, …). */
export function looksLikeSecret(key: string): boolean {
  const word = key.toLowerCase().replace(/[^a-z]/g, '');
  return /pass(word|wd|phrase)?$|password|passphrase|secret|token|credential|privatekey|apikey/.test(word);
}

/** Why `key` cannot be in the playbook and which environment variable (or agent) to use instead. */
export function secretKeyMessage(key: string): string {
  const word = key.toLowerCase().replace(/[^a-z]/g, '');
  const refused = `"${key}" looks like a secret, and secrets never go in the playbook (it is committed, copied and printed)`;
  if (/sudo|become/.test(word)) {
    return `${refused} — remove it and set the environment variable ${becomeVariable} for the sudo password of become: true`;
  }
  if (/privatekey/.test(word)) {
    return `${refused} — remove it and point ssh.identity_file at the key's file (set ${passphraseVariable} if it is encrypted), or load it into ssh-agent`;
  }
  if (/phrase/.test(word)) {
    return `${refused} — remove it and set the environment variable ${passphraseVariable} to decrypt ssh.identity_file, or load the key into ssh-agent`;
  }
  return (
    `${refused} — remove it: memplay logs in with keys only, from ssh.identity_file (set ${passphraseVariable} ` +
    `if it is encrypted) or ssh-agent; for sudo set ${becomeVariable}`
  );
}

/** The credential variables memplay reads; any other MEMPLAY_* variable named like a secret counts too. */
export const secretVariables = [becomeVariable, passphraseVariable] as const;

/** Whether the environment variable `name` holds a secret by memplay's naming rule. */
export function isSecretVariable(name: string): boolean {
  return (
    (secretVariables as readonly string[]).includes(name) ||
    (name.startsWith('MEMPLAY_') && looksLikeSecret(name.slice('MEMPLAY_'.length)))
  );
}

/**
 * Secrets are taken out of every output by their value: a one-character password would
 * turn `1.6.38` into `[redacted].6.38` and still be guessable from what was left. Below
 * this length memplay refuses the value instead of printing around it.
 */
export const minimumSecretLength = 6;
