import { readFile, writeFile } from 'node:fs/promises';
import { renderReference, replaceReference } from '../src/docs/schema-reference.js';
import { playbookSchema } from '../src/playbook/index.js';
import { projectFile } from '../src/project-root.js';

// npm run docs: regenerate the README's playbook reference from the JSON Schema.
const readmePath = projectFile('README.md');
const readme = await readFile(readmePath, 'utf8');
await writeFile(readmePath, replaceReference(readme, renderReference(playbookSchema)));
console.log(`${readmePath}: playbook reference regenerated`);
