import { writeFile } from 'node:fs/promises';
import { generatedTypesFile, renderDocumentTypes } from '../src/docs/schema-types.js';
import { playbookSchema } from '../src/playbook/schema.js';
import { projectFile } from '../src/project-root.js';

// npm run schema:types: regenerate the playbook document's types and defaults from the JSON Schema.
const path = projectFile(generatedTypesFile);
await writeFile(path, renderDocumentTypes(playbookSchema));
console.log(`${path}: regenerated from schemas/playbook.schema.json`);
