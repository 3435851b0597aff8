import type { ErrorObject } from 'ajv/dist/2020.js';
import type { Diagnostic } from '../errors.js';
import { conformsAt, hostSettingErrors, playbookSchema, schemaErrors } from './schema.js';
import { looksLikeSecret, secretKeyMessage } from './secret-keys.js';
import { type Anchor, displayPath, type Path, type PathSegment, type PlaybookSource } from './source.js';
import { closestName, describeValue, quoteList, quoteText } from './words.js';

type SchemaNode = Record<string, unknown>;

/** One schema violation in the user's words: `where` prefixes the message, `at` is pointed at. */
interface Finding {
  readonly where: Path;
  readonly at: Path;
  readonly anchor: Anchor;
  readonly message: string;
}

/**
 * What is wrong with a host's settings written somewhere else than the playbook (an
 * inventory's variables), in the playbook's words: each problem's path in the host entry
 * (`ssh.port`) and its message. Empty when the settings are valid.
 */
export function hostSettingProblems(settings: unknown): { path: Path; message: string }[] {
  return withoutAlternatives(hostSettingErrors(settings)).map((error) => {
    const finding = describe(error);
    return { path: finding.where, message: finding.message };
  });
}

/** Every schema violation of the document, positioned and worded for a person. */
export function schemaDiagnostics(source: PlaybookSource, data: unknown): Diagnostic[] {
  return withoutAlternatives(schemaErrors(data)).map((error) => {
    const finding = describe(error);
    const where = displayPath(finding.where);
    return source.diagnostic(
      finding.at,
      where ? `${where}: ${finding.message}` : finding.message,
      finding.anchor,
    );
  });
}

// A failed oneOf also reports why each alternative failed, and a bad host name is
// reported once by `pattern` and once by `propertyNames`: keep the summary only.
function withoutAlternatives(errors: readonly ErrorObject[]): ErrorObject[] {
  const branches = new Set<unknown>();
  for (const error of errors) {
    if (error.keyword === 'oneOf' || error.keyword === 'anyOf') collectObjects(error.schema, branches);
  }
  return errors.filter(
    (error) =>
      !branches.has(error.parentSchema) &&
      error.propertyName === undefined &&
      error.keyword !== 'if' &&
      (error.keyword === 'required' || !conditional.has(error.parentSchema)),
  );
}

// The root's `if`/`then` (hosts and each host's address are required without hosts_from)
// says only what is required; a failed `if` and the types its `then` repeats are reported
// where the properties themselves are checked.
const conditional = new Set<unknown>();
collectObjects(playbookSchema.then, conditional);

function collectObjects(value: unknown, into: Set<unknown>): void {
  if (typeof value !== 'object' || value === null) return;
  into.add(value);
  for (const child of Object.values(value)) collectObjects(child, into);
}

function describe(error: ErrorObject): Finding {
  const path = parsePointer(error.instancePath);
  const custom = error.parentSchema ? fieldMessages.get(error.parentSchema)?.(error, path) : undefined;
  if (custom)
    return typeof custom === 'string' ? { where: path, at: path, anchor: 'value', message: custom } : custom;
  return genericFinding(error, path);
}

function genericFinding(error: ErrorObject, path: Path): Finding {
  const schema = (error.parentSchema ?? {}) as SchemaNode;
  const here = (message: string, anchor: Anchor = 'value'): Finding => ({
    where: path,
    at: path,
    anchor,
    message,
  });
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      return { where: path, at: [...path, key], anchor: 'key', message: unknownKey(key, schema) };
    }
    case 'required': {
      const key = String(params.missingProperty);
      const hint = requiredHints[key];
      return here(`missing required key "${key}"${hint ? ` (${hint})` : ''}`, 'key');
    }
    case 'type':
      return here(
        `must be ${typeWords[String(params.type)] ?? params.type} (got ${describeValue(error.data)})${
          params.type === 'string' && (typeof error.data === 'number' || typeof error.data === 'boolean')
            ? '; put it in quotes'
            : ''
        }`,
      );
    case 'enum': {
      const allowed = (error.schema as unknown[]).map(String);
      const suggestion = typeof error.data === 'string' ? closestName(error.data, allowed) : undefined;
      return here(
        `must be ${quoteList(allowed, 'or')} (got ${describeValue(error.data)})${
          suggestion ? ` — did you mean "${suggestion}"?` : ''
        }`,
      );
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
      return here(`must be ${range(schema)} (got ${String(error.data)})`);
    case 'minLength':
      return here('must not be empty');
    case 'maxItems':
      return here(
        `holds ${Array.isArray(error.data) ? error.data.length : 'too many'} items; at most ${String(params.limit)} are allowed — shorten the list`,
      );
    case 'maxLength':
      return here(
        `is ${typeof error.data === 'string' ? error.data.length : 'too many'} characters long; at most ${String(params.limit)} are allowed — shorten it`,
      );
    case 'minProperties':
      return here('must not be empty', 'key');
    case 'pattern':
      // A regular expression is no answer to "what may I write here": every pattern in
      // the schema has its own words in fieldMessages (a unit test holds it to that).
      return here(
        `is not in the form this setting takes (got ${describeValue(error.data)}); docs/playbook-reference.md describes it`,
      );
    case 'dependentRequired': {
      // memcached.tls: a certificate without its key (or a key alone) cannot be presented.
      const key = String(params.property);
      return {
        where: path,
        at: [...path, key],
        anchor: 'key',
        message: `"${key}" needs "${String(params.missingProperty)}" beside it`,
      };
    }
    case 'propertyNames': {
      const name = String(params.propertyName);
      return {
        where: path,
        at: [...path, name],
        anchor: 'key',
        message: `"${name}" is not a valid name: ${nameRule}`,
      };
    }
    default:
      return here(error.message ?? `fails the schema's "${error.keyword}" check`);
  }
}

function range(schema: SchemaNode): string {
  const low =
    schema.exclusiveMinimum !== undefined ? `more than ${schema.exclusiveMinimum}` : `from ${schema.minimum}`;
  if (schema.maximum === undefined)
    return schema.exclusiveMinimum !== undefined ? low : `at least ${schema.minimum}`;
  return schema.exclusiveMinimum !== undefined
    ? `${low} and at most ${schema.maximum}`
    : `${low} to ${schema.maximum}`;
}

function unknownKey(key: string, schema: SchemaNode): string {
  const properties = (schema.properties ?? {}) as Record<string, SchemaNode>;
  // memcached.auth: the password has a variable of its own to name.
  if (looksLikeSecret(key) && 'password_env' in properties) {
    return `"${key}" looks like a secret, and secrets never go in the playbook (it is committed, copied and printed) — remove it, put the password in an environment variable and name that variable in password_env`;
  }
  if (looksLikeSecret(key)) return secretKeyMessage(key);
  const allowed = Object.keys(properties);
  const suggestion = closestName(key, allowed);
  if (suggestion) return `unknown key "${key}" — did you mean "${suggestion}"?`;
  // `port:` directly on a host: say which section it belongs in.
  const homes = allowed.filter((name) => key in (propertiesOf(properties[name]) ?? {}));
  if (homes.length > 0) return `unknown key "${key}" — it belongs under ${quoteList(homes, 'or')}`;
  return `unknown key "${key}"; the keys allowed here are ${quoteList(allowed, 'and')}`;
}

function propertiesOf(schema: SchemaNode | undefined): Record<string, unknown> | undefined {
  const target = typeof schema?.$ref === 'string' ? schemaAt(schema.$ref.slice(1)) : schema;
  return target?.properties as Record<string, unknown> | undefined;
}

function parsePointer(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      return /^(0|[1-9]\d*)$/.test(segment) ? Number(segment) : segment;
    });
}

function schemaAt(pointer: string): SchemaNode | undefined {
  let node: unknown = playbookSchema;
  for (const part of pointer.split('/').slice(1)) {
    node = (node as Record<string, unknown> | undefined)?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node as SchemaNode | undefined;
}

const typeWords: Record<string, string> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of keys to values',
};

const requiredHints: Record<string, string> = {
  name: 'a short title for the run, e.g. name: upgrade to 1.6.38',
  target: 'the version to install and where its source tarball comes from',
  hosts: 'the hosts to upgrade, e.g. host1: { address: 10.0.0.1 }, or hosts_from: an Ansible inventory file',
  version: 'the version to install, e.g. version: "1.6.38"',
  source: 'the path or url of the source tarball, and its sha256',
  sha256: 'the SHA-256 of the tarball, as printed by sha256sum',
  address: 'the host name or IP address to connect to',
};

const nameRule = 'use letters, digits, "_", "." and "-", starting with a letter or digit';

function absolutePathMessage(error: ErrorObject, example: string): string | undefined {
  if (error.keyword !== 'pattern') return undefined;
  const value = String(error.data);
  if (value.startsWith('~')) {
    return `must be an absolute path on the host (got ${quoteText(value)}); ~ is not expanded on the host — write the full path, like ${example}`;
  }
  if (value.startsWith('/')) {
    return `must not go up with ".." (got ${quoteText(value)}); write the folder it leads to, like ${example}`;
  }
  return `must be an absolute path on the host, like ${example} (got ${quoteText(value)})`;
}

function listMessage(error: ErrorObject): string | undefined {
  if (error.keyword !== 'type') return undefined;
  return `must be a list with one item per argument, like ["-l", "127.0.0.1"] (got ${describeValue(error.data)})`;
}

function badName(error: ErrorObject, path: Path, kind: 'host' | 'group'): Finding {
  const name = String((error.params as { propertyName: string }).propertyName);
  return {
    where: path,
    at: [...path, name],
    anchor: 'key',
    message: `"${name}" is not a valid ${kind} name: ${nameRule}`,
  };
}

type FieldMessage = (error: ErrorObject, path: Path) => string | Finding | undefined;

const batchSizeRule = 'a count ≥ 1 or a percentage like "25%"';
const isBatchSize = (value: unknown) =>
  conformsAt('/properties/strategy/properties/serial/oneOf/2/items', value);

// The list form's bad entry is pointed at, not the whole list: the oneOf over the
// three forms would otherwise only say the list as a whole matched none.
function serialMessage(error: ErrorObject, path: Path): string | Finding | undefined {
  if (error.keyword !== 'oneOf') return undefined;
  const value = error.data;
  if (!Array.isArray(value)) {
    return `must be ${batchSizeRule}, or a list of them like [1, "25%"] (got ${JSON.stringify(value)})`;
  }
  if (value.length === 0) return 'must list at least one batch size, like [1, "25%"]';
  const bad = value.findIndex((entry) => !isBatchSize(entry));
  if (bad < 0) return undefined;
  const at = [...path, bad];
  return {
    where: at,
    at,
    anchor: 'value',
    message: `must be ${batchSizeRule} (got ${JSON.stringify(value[bad])})`,
  };
}

/** Messages for particular fields, keyed by the field's schema; everything else gets the generic wording. */
/** A sha256 in the schema (`target.source`, `target.prebuilt`): which character is not hex. */
const sha256Message: FieldMessage = (error) => {
  if (error.keyword !== 'pattern') return undefined;
  const value = String(error.data);
  if (value.length !== 64) return `must be 64 hexadecimal digits (got ${value.length} characters)`;
  const bad = [...value].findIndex((c) => !/[0-9a-fA-F]/.test(c));
  return `must be 64 hexadecimal digits; character ${bad + 1} ("${value[bad]}") is not one of 0-9, a-f`;
};

const fieldMessages = new Map<unknown, FieldMessage>(
  Object.entries<FieldMessage>({
    '': (error) =>
      error.keyword === 'type'
        ? `the playbook must be a mapping with keys like name:, target: and hosts: (got ${describeValue(error.data)})`
        : undefined,
    '/properties/target/properties/version': (error) => {
      if (error.keyword === 'pattern') return `${JSON.stringify(error.data)} is not a version like 1.6.38`;
      if (error.keyword === 'type' && typeof error.data === 'number') {
        return `${error.data} is read as a number; write the version in quotes, like "1.6.38"`;
      }
      return undefined;
    },
    '/properties/target': (error, path) => {
      if (error.keyword !== 'oneOf') return undefined;
      const both = Array.isArray((error.params as { passingSchemas?: unknown }).passingSchemas);
      return both
        ? {
            where: path,
            at: [...path, 'package'],
            anchor: 'key',
            message:
              'give exactly one of "source" (a tarball to build) or "package" (the distro\'s package), not both',
          }
        : {
            where: path,
            at: path,
            anchor: 'key',
            message:
              'missing "source" (the path or url of the source tarball, and its sha256) or "package" (the distro\'s package, e.g. package: { name: memcached })',
          };
    },
    '/properties/target/properties/package/properties/version': (error) =>
      error.keyword === 'pattern'
        ? `must be a distro package version like "1.6.18-1+deb12u1" (got ${describeValue(error.data)})`
        : undefined,
    '/properties/target/properties/package/properties/name': (error) =>
      error.keyword === 'pattern'
        ? `must be a package name like "memcached": lower-case letters, digits, "+", "-" and "." (got ${describeValue(error.data)})`
        : undefined,
    '/properties/target/properties/source': (error, path) => {
      if (error.keyword !== 'oneOf') return undefined;
      const both = Array.isArray((error.params as { passingSchemas?: unknown }).passingSchemas);
      return both
        ? {
            where: path,
            at: [...path, 'url'],
            anchor: 'key',
            message: 'give exactly one of "path" or "url", not both',
          }
        : { where: path, at: path, anchor: 'key', message: 'give exactly one of "path" or "url"' };
    },
    '/properties/target/properties/source/properties/sha256': sha256Message,
    '/properties/target/properties/prebuilt/properties/sha256': sha256Message,
    '/$defs/buildHost/properties/address': (error) =>
      error.keyword === 'pattern'
        ? `must be a host name or IP address: letters, digits, ".", "-", "_", ":" and "%", not starting with "-" (got ${describeValue(error.data)})`
        : undefined,
    '/$defs/tls/properties/server_name': (error) =>
      error.keyword === 'pattern'
        ? `must be a DNS name or IP address: letters, digits, ".", "-", "_" and ":" (got ${describeValue(error.data)})`
        : undefined,
    '/properties/target/properties/source/properties/url': (error) =>
      error.keyword === 'pattern'
        ? `must be an http:// or https:// address (got ${describeValue(error.data)})`
        : undefined,
    '/properties/target/properties/configure': listMessage,
    '/properties/strategy/properties/serial': serialMessage,
    '/properties/strategy/properties/max_failed_hosts': (error) =>
      error.keyword === 'oneOf'
        ? `must be a count ≥ 0 or a percentage like "10%" (got ${JSON.stringify(error.data)})`
        : undefined,
    '/properties/strategy/properties/pause_between_batches': (error) =>
      error.keyword === 'minimum' || error.keyword === 'maximum'
        ? `must be a number of seconds from 0 to 86400 (got ${String(error.data)})`
        : undefined,
    '/properties/strategy/properties/max_fail_percentage': (error) =>
      error.keyword === 'minimum' || error.keyword === 'maximum'
        ? `must be a percentage from 0 to 100 (got ${String(error.data)})`
        : undefined,
    '/properties/verify/properties/max_latency_regression': (error) =>
      error.keyword === 'oneOf'
        ? `must be a fraction ≥ 0 like 0.25 or a percentage like "25%" (got ${JSON.stringify(error.data)})`
        : undefined,
    '/properties/backup/properties/keep': (error, path) =>
      error.keyword === 'minProperties'
        ? {
            where: path,
            at: path,
            anchor: 'key',
            message: 'give count, max_age or both, like { count: 3, max_age: "7d" }',
          }
        : undefined,
    '/properties/backup/properties/keep/properties/max_age': (error) =>
      error.keyword === 'pattern'
        ? `must be an age like "12h" or "7d": a whole number and m (minutes), h (hours), d (days) or w (weeks) (got ${describeValue(error.data)})`
        : undefined,
    '/properties/verify/properties/accept_settings/items': (error) =>
      error.keyword === 'pattern'
        ? `must be a name as \`stats settings\` prints it, like maxconns or item_size_max (got ${describeValue(error.data)})`
        : undefined,
    '/properties/hosts': (error, path) => {
      if (error.keyword === 'minProperties')
        return 'list at least one host, e.g. host1: { address: 10.0.0.1 }';
      if (error.keyword === 'type') {
        return `must map each host's name to its settings, e.g. host1: { address: 10.0.0.1 } (got ${describeValue(error.data)})`;
      }
      return error.keyword === 'propertyNames' ? badName(error, path, 'host') : undefined;
    },
    '/properties/groups': (error, path) =>
      error.keyword === 'propertyNames' ? badName(error, path, 'group') : undefined,
    '/$defs/port': (error) =>
      error.keyword === 'minimum' || error.keyword === 'maximum'
        ? `must be a port number from 1 to 65535 (got ${String(error.data)})`
        : undefined,
    '/$defs/host/properties/address': (error) => {
      if (error.keyword === 'maxLength')
        return `is ${String(error.data).length} characters long; a host name has at most 253`;
      return error.keyword === 'pattern'
        ? `must be a host name or IP address: letters, digits, ".", "-", "_", ":" and "%", not starting with "-" (got ${describeValue(error.data)})`
        : undefined;
    },
    '/$defs/ssh/properties/user': (error) => {
      if (error.keyword === 'maxLength')
        return `is ${String(error.data).length} characters long; a user name has at most 64`;
      return error.keyword === 'pattern'
        ? `must be a user name: letters, digits, "_", "." and "-", not starting with "-" or "." (got ${describeValue(error.data)})`
        : undefined;
    },
    '/$defs/service/properties/unit': (error) =>
      error.keyword === 'pattern'
        ? `must be a systemd unit name like memcached.service: letters, digits, ":", "_", ".", "@", "\\" and "-", not starting with "-" (got ${describeValue(error.data)})`
        : undefined,
    '/$defs/memcached/properties/prefix': (error) => absolutePathMessage(error, '/opt/memcached'),
    '/$defs/memcached/properties/args': listMessage,
    '/$defs/service/properties/pidfile': (error) =>
      absolutePathMessage(error, '/run/memcached/memcached.pid'),
    '/$defs/name': (error) =>
      error.keyword === 'pattern'
        ? `must be a name: ${nameRule} (got ${describeValue(error.data)})`
        : undefined,
    '/$defs/variableName': (error) =>
      error.keyword === 'pattern'
        ? `must be an environment variable name: letters, digits and "_", not starting with a digit, like MEMCACHED_PASSWORD (got ${describeValue(error.data)})`
        : undefined,
    '/$defs/ssh/properties/jump': (error) =>
      error.keyword === 'pattern'
        ? `must be jump hosts as ssh -J takes them: [user@]host[:port], several separated by "," (like ops@bastion:2222), or none (got ${describeValue(error.data)})`
        : undefined,
    '/$defs/service/properties/drop_in': (error) => {
      if (error.keyword !== 'pattern') return undefined;
      const value = String(error.data);
      if (!value.endsWith('.conf') && value.startsWith('/') && !value.includes('\n'))
        return `must end in .conf: systemd reads only *.conf files in a drop-in folder (got ${quoteText(value)})`;
      return absolutePathMessage(error, '/etc/systemd/system/memcached.service.d/memplay.conf');
    },
    '/properties/swap/properties/memory_file': (error) =>
      error.keyword === 'pattern'
        ? `must be an absolute path on the host, like /dev/shm/memcached-{port}.mem (got ${describeValue(error.data)})`
        : undefined,
    '/$defs/localPath': (error) =>
      error.keyword === 'pattern'
        ? `only ~ and ~/… are expanded; write the full path instead of ${JSON.stringify(error.data)}`
        : undefined,
  }).map(([pointer, message]) => {
    const schema = schemaAt(pointer);
    if (!schema) throw new Error(`playbook schema has no ${pointer}; update fieldMessages`);
    return [schema, message];
  }),
);

/** Whether a schema node's `pattern` has its own words (the test that no message shows a regex asks). */
export function describesPattern(schema: object): boolean {
  return fieldMessages.has(schema);
}
