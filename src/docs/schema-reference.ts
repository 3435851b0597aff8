// Renders the playbook reference (a markdown table) from the JSON Schema, so the
// README cannot drift from what `memplay validate` accepts. `npm run docs`
// rewrites the README section between the reference markers; a unit test fails
// when the README holds anything else there.

type SchemaNode = {
  $ref?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  required?: string[];
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  enum?: unknown[];
  const?: unknown;
};

export const referenceStart =
  '<!-- playbook-reference:start (generated from schemas/playbook.schema.json by npm run docs) -->';
export const referenceEnd = '<!-- playbook-reference:end -->';

function resolveRef(root: SchemaNode & { $defs?: Record<string, SchemaNode> }, node: SchemaNode): SchemaNode {
  if (!node.$ref) return node;
  const name = node.$ref.replace('#/$defs/', '');
  const target = root.$defs?.[name];
  if (!target) throw new Error(`schema: unresolved ${node.$ref}`);
  return {
    ...resolveRef(root, target),
    ...(node.title ? { title: node.title } : {}),
    ...(node.description ? { description: node.description } : {}),
  };
}

function typeOf(node: SchemaNode): string {
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (node.const !== undefined) return `\`${String(node.const)}\``;
  const variants = node.oneOf ?? node.anyOf;
  if (variants && !node.type) return [...new Set(variants.map(typeOf))].join(' or ');
  if (Array.isArray(node.type)) return node.type.join(' or ');
  if (node.type === 'array' && node.items) return `list of ${typeOf(node.items)}`;
  return node.type ?? 'object';
}

export function renderReference(schema: object): string {
  const root = schema as SchemaNode & { $defs?: Record<string, SchemaNode> };
  const rows: string[] = ['| key | type | meaning |', '| --- | --- | --- |'];
  const walk = (node: SchemaNode, path: string, required: boolean) => {
    const resolved = resolveRef(root, node);
    if (path) {
      const text = (resolved.description ?? resolved.title ?? '')
        .replaceAll('|', '\\|')
        .replaceAll('\n', ' ');
      rows.push(`| \`${path}\`${required ? ' (required)' : ''} | ${typeOf(resolved)} | ${text} |`);
    }
    const branches = [resolved, ...(resolved.oneOf ?? []).map((b) => resolveRef(root, b))];
    const seen = new Set<string>();
    for (const branch of branches) {
      for (const [key, child] of Object.entries(branch.properties ?? {})) {
        if (seen.has(key)) continue;
        seen.add(key);
        walk(child, path ? `${path}.${key}` : key, branch.required?.includes(key) ?? false);
      }
    }
    if (typeof resolved.additionalProperties === 'object') {
      walk(resolved.additionalProperties, `${path}.<name>`, false);
    }
  };
  walk(root, '', false);
  return rows.join('\n');
}

export function replaceReference(readme: string, reference: string): string {
  const start = readme.indexOf(referenceStart);
  const end = readme.indexOf(referenceEnd);
  if (start < 0 || end < start) throw new Error('README has no playbook reference markers');
  return `${readme.slice(0, start + referenceStart.length)}\n${reference}\n${readme.slice(end)}`;
}
