import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Source runs from src/, the compiled CLI from dist/src/: find the package root
// (the folder with package.json and schemas/) by walking up from this module.
const root = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'playbooks'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('memplay: cannot find its package root (package.json and playbooks/)');
    dir = parent;
  }
})();

export function projectFile(relativePath: string): string {
  return join(root, relativePath);
}
