// Renders the playbook reference (markdown tables) from the JSON Schema, so
// docs/playbook-reference.md cannot drift from what `memplay validate` accepts.
// `npm run docs` rewrites the section between the reference markers; a unit test
// fails when the page holds anything else there.

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

// The host settings (ssh, memcached, become, connection) are valid both under
// `defaults` and under `hosts.<name>`, through the same $ref: listing them under
// each path printed every row twice, so they get one table of their own.
export const hostSettingsHeading = '## Host settings';

type Root = SchemaNode & { $defs?: Record<string, SchemaNode> };

function sharedHostSettings(root: Root): Set<string> {
  const defaults = root.properties?.defaults;
  const hosts = root.properties?.hosts;
  const host =
    hosts && typeof hosts.additionalProperties === 'object'
      ? resolveRef(root, hosts.additionalProperties)
      : undefined;
  const shared = new Set<string>();
  for (const [key, node] of Object.entries(defaults?.properties ?? {})) {
    if (node.$ref && node.$ref === host?.properties?.[key]?.$ref) shared.add(key);
  }
  return shared;
}

function renderRows(root: Root, node: SchemaNode, prefix: string, skip: (path: string) => boolean): string[] {
  const rows: string[] = ['| key | type | meaning |', '| --- | --- | --- |'];
  const walk = (current: SchemaNode, path: string, required: boolean) => {
    if (path && skip(path)) return;
    const resolved = resolveRef(root, current);
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
  walk(node, prefix, false);
  return rows;
}

export function renderReference(schema: object): string {
  const root = schema as Root;
  const shared = sharedHostSettings(root);
  const underHost = (path: string) =>
    [...shared].some((key) =>
      ['defaults', 'hosts.<name>'].some(
        (owner) => path === `${owner}.${key}` || path.startsWith(`${owner}.${key}.`),
      ),
    );
  const main = renderRows(root, root, '', underHost);
  if (shared.size === 0) return main.join('\n');
  const pointer = ` Its ${[...shared].map((key) => `\`${key}\``).join(', ')}: see [Host settings](#host-settings). |`;
  const withPointers = main.map((row) =>
    row.startsWith('| `defaults` |') || row.startsWith('| `hosts.<name>` |')
      ? row.replace(/ \|$/, pointer)
      : row,
  );
  // Each shared key is walked from its own $ref, so the rows read `ssh.user`, not `defaults.ssh.user`.
  const defaults = root.properties?.defaults?.properties ?? {};
  const settings = [...shared].flatMap((key) =>
    renderRows(root, { properties: { [key]: defaults[key] as SchemaNode } }, '', () => false).slice(2),
  );
  return [
    ...withPointers,
    '',
    hostSettingsHeading,
    '',
    'Valid under `defaults` (every host inherits them) and under `hosts.<name>` (that host only; its own',
    'keys win key by key): `ssh.port` below is `defaults.ssh.port` or `hosts.<name>.ssh.port`.',
    '',
    '| key | type | meaning |',
    '| --- | --- | --- |',
    ...settings,
  ].join('\n');
}

export function replaceReference(page: string, reference: string): string {
  const start = page.indexOf(referenceStart);
  const end = page.indexOf(referenceEnd);
  if (start < 0 || end < start)
    throw new Error('docs/playbook-reference.md has no playbook reference markers');
  return `${page.slice(0, start + referenceStart.length)}\n${reference}\n${page.slice(end)}`;
}
