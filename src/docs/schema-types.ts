// Renders the TypeScript types of the raw playbook document, and its defaults,
// from the JSON Schema: `npm run schema:types` writes src/playbook/document.generated.ts,
// and a unit test fails when the committed file differs from what the schema
// renders, so the types cannot drift from what `memplay validate` accepts.
//
// Only the keywords the playbook schema uses are understood; any other keyword
// stops the generator instead of being silently typed as something looser.

type SchemaNode = Record<string, unknown>;

/** Keywords that constrain values without changing their TypeScript type. */
const valueOnly = new Set([
  '$schema',
  '$id',
  'title',
  'description',
  'default',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'propertyNames',
  'dependentRequired',
  '$defs',
]);
/** Keywords that shape the type. */
const shaping = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'oneOf',
  '$ref',
]);

export const generatedTypesFile = 'src/playbook/document.generated.ts';

export function renderDocumentTypes(schema: object): string {
  const root = schema as SchemaNode;
  const defs = (root.$defs ?? {}) as Record<string, SchemaNode>;
  const named = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    if (isObjectType(def)) named.set(`#/$defs/${name}`, `${pascal(name)}Document`);
  }

  const typeOf = (node: SchemaNode, indent: string): string => {
    for (const key of Object.keys(node)) {
      if (!valueOnly.has(key) && !shaping.has(key)) {
        throw new Error(
          `schema-types: the keyword "${key}" is not understood; teach src/docs/schema-types.ts`,
        );
      }
    }
    if (typeof node.$ref === 'string') {
      const name = named.get(node.$ref);
      if (name) return name;
      const target = defs[node.$ref.replace('#/$defs/', '')];
      if (!target) throw new Error(`schema-types: unresolved ${node.$ref}`);
      return typeOf(target, indent);
    }
    if (Array.isArray(node.enum)) return node.enum.map(literal).join(' | ');
    const types = node.type === undefined ? [] : Array.isArray(node.type) ? node.type : [node.type];
    if (Array.isArray(node.oneOf)) {
      const branches = node.oneOf as SchemaNode[];
      // `oneOf: [{ required: [path] }, { required: [url] }]` under an object only says which keys.
      const typed = branches.filter((branch) => branch.required === undefined || branch.type !== undefined);
      if (types.length === 0) return unique(typed.map((branch) => typeOf(branch, indent))).join(' | ');
    }
    if (types.length === 0) throw new Error(`schema-types: a node without a type: ${JSON.stringify(node)}`);
    return (types as string[]).map((type) => scalarOrShape(type, node, indent)).join(' | ');
  };

  const scalarOrShape = (type: string, node: SchemaNode, indent: string): string => {
    switch (type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        const item = typeOf((node.items ?? {}) as SchemaNode, indent);
        // A union too long for one line: one member a line, as the formatter writes it.
        if (item.length > 80 && item.includes(' | ')) {
          const lines = item.split(' | ').map((member) => `${indent}  | ${member}\n`);
          return `readonly (\n${lines.join('')}${indent})[]`;
        }
        return /[ |]/.test(item) ? `readonly (${item})[]` : `readonly ${item}[]`;
      }
      case 'object':
        return objectType(node, indent);
      default:
        throw new Error(`schema-types: the type "${type}" is not understood`);
    }
  };

  const objectType = (node: SchemaNode, indent: string): string => {
    const properties = node.properties as Record<string, SchemaNode> | undefined;
    const extra = node.additionalProperties;
    if (!properties) {
      if (typeof extra !== 'object' || extra === null) return 'Readonly<Record<string, unknown>>';
      return `Readonly<Record<string, ${typeOf(extra as SchemaNode, indent)}>>`;
    }
    if (extra !== false)
      throw new Error('schema-types: an object with properties must set additionalProperties: false');
    return `{\n${members(node, `${indent}  `)}${indent}}`;
  };

  const members = (node: SchemaNode, indent: string): string => {
    const properties = (node.properties ?? {}) as Record<string, SchemaNode>;
    const required = new Set((node.required ?? []) as string[]);
    return Object.entries(properties)
      .map(([key, property]) => {
        const title = typeof property.title === 'string' ? `${indent}/** ${property.title} */\n` : '';
        const optional = required.has(key) ? '' : '?';
        return `${title}${indent}readonly ${key}${optional}: ${typeOf(property, indent)};\n`;
      })
      .join('');
  };

  const out: string[] = [
    '// Generated from schemas/playbook.schema.json by `npm run schema:types` (src/docs/schema-types.ts).',
    '// Do not edit: change the schema and regenerate; test/unit/schema-types.test.ts fails until you do.',
    '',
    '/** The playbook document as the schema accepts it: keys as the user writes them. */',
    `export interface PlaybookDocument {\n${members(withoutConditions(root), '  ')}}`,
  ];
  for (const [name, def] of Object.entries(defs)) {
    const typeName = named.get(`#/$defs/${name}`);
    if (!typeName) continue;
    const doc = typeof def.title === 'string' ? `/** ${def.title} */\n` : '';
    const types = Array.isArray(def.type) ? (def.type as string[]) : undefined;
    if (types === undefined) {
      out.push(`${doc}export interface ${typeName} ${typeOf(def, '')}`);
      continue;
    }
    // A union with an object: one member a line, as the formatter writes it.
    const union = types.map((type) => `  | ${scalarOrShape(type, def, '    ')}`).join('\n');
    out.push(`${doc}export type ${typeName} =\n${union};`);
  }

  out.push(
    '',
    "// The schema's `default` keywords, by the document type whose keys they belong to: what",
    '// resolving applies to a key the playbook leaves out (src/playbook/resolve.ts).',
  );
  const rootDefaults = defaultsOf(withoutConditions(root), defs);
  if (rootDefaults) out.push(`export const playbookDefaults = ${rootDefaults} as const;`);
  for (const [name, def] of Object.entries(defs)) {
    if (!named.has(`#/$defs/${name}`)) continue;
    const values = defaultsOf(def, defs);
    if (values) out.push(`export const ${name}Defaults = ${values} as const;`);
  }
  return `${out.join('\n')}\n`;
}

// The root's `if`/`then` (hosts, and each host's address, are required without
// hosts_from) depends on another key: the type keeps the looser shape.
function withoutConditions(root: SchemaNode): SchemaNode {
  const { if: _if, then: _then, ...rest } = root;
  return rest;
}

function isObjectType(node: SchemaNode): boolean {
  const types = Array.isArray(node.type) ? node.type : [node.type];
  return types.includes('object') && node.properties !== undefined;
}

/** `{ key: default, … }` for the keys of an object node that have one (inline objects nested), or undefined. */
function defaultsOf(node: SchemaNode, defs: Record<string, SchemaNode>, indent = ''): string | undefined {
  const properties = (node.properties ?? {}) as Record<string, SchemaNode>;
  const lines: string[] = [];
  for (const [key, property] of Object.entries(properties)) {
    const target =
      typeof property.$ref === 'string' ? defs[property.$ref.replace('#/$defs/', '')] : undefined;
    const value =
      'default' in property ? property.default : target && 'default' in target ? target.default : undefined;
    if (value !== undefined) {
      lines.push(`${indent}  ${key}: ${valueLiteral(value, `${indent}  `)},`);
    } else if (property.properties !== undefined && property.$ref === undefined) {
      const nested = defaultsOf(property, defs, `${indent}  `);
      if (nested) lines.push(`${indent}  ${key}: ${nested},`);
    }
  }
  return lines.length > 0 ? `{\n${lines.join('\n')}\n${indent}}` : undefined;
}

function valueLiteral(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[${value.map((item) => valueLiteral(item, indent)).join(', ')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(
      ([key, item]) => `${indent}  ${key}: ${valueLiteral(item, `${indent}  `)},`,
    );
    return `{\n${entries.join('\n')}\n${indent}}`;
  }
  return literal(value);
}

function literal(value: unknown): string {
  return typeof value === 'string'
    ? `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
    : String(value);
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
