import { readFile, writeFile } from 'node:fs/promises';
import { renderReference, replaceReference } from '../src/docs/schema-reference.js';
import { playbookSchema } from '../src/playbook/index.js';
import { projectFile } from '../src/project-root.js';

// npm run docs: regenerate docs/playbook-reference.md from the JSON Schema.
const referencePath = projectFile('docs/playbook-reference.md');
const page = await readFile(referencePath, 'utf8');
await writeFile(referencePath, replaceReference(page, renderReference(playbookSchema)));
console.log(`${referencePath}: playbook reference regenerated`);
