import { readFileSync } from 'node:fs';
import { projectFile } from './project-root.js';

/** memplay's own version, as package.json gives it: `--version` prints it, the `start` event carries it. */
export const memplayVersion: string = (
  JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }
).version;
