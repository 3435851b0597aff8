import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { localPath, type PlaybookDocument, sshConfigPaths } from '../../src/playbook/resolve.js';
import { playbookSchema } from '../../src/playbook/schema.js';
import type { Playbook } from '../../src/playbook/types.js';
import { head, resolveText, tester } from '../support/playbook-helpers.js';

// The schema's `default` keywords are the one place a default is written: resolving
// reads them (src/playbook/document.generated.ts), and the reference shows the text.
// These tests fail when the text, or what resolving does, says something else.

type SchemaNode = Record<string, unknown>;

/** Every `default` keyword of the schema, by its JSON pointer, with the description of its node. */
function schemaDefaults(): Map<string, { value: unknown; description: string }> {
  const found = new Map<string, { value: unknown; description: string }>();
  const walk = (node: unknown, pointer: string) => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as SchemaNode;
    if ('default' in record) {
      found.set(pointer, { value: record.default, description: String(record.description ?? '') });
    }
    for (const [key, child] of Object.entries(record)) {
      if (key !== 'default') walk(child, `${pointer}/${key}`);
    }
  };
  walk(playbookSchema, '');
  return found;
}

/** The values a description gives as the default: `Default: X …, or Y` and `` `X` (the default) ``. */
function documentedDefaults(description: string): unknown[] {
  const values: unknown[] = [];
  const named = /Default: (.*)$/.exec(description)?.[1] ?? '';
  for (const [, quoted] of named.matchAll(/`([^`]+)`/g)) values.push(quoted);
  const plain = /^([^`\s(,]+?)\.?(?:\s|$)/.exec(named)?.[1];
  if (plain !== undefined) values.push(plain);
  for (const [, quoted] of description.matchAll(/`([^`]+)` \(the default\)/g)) values.push(quoted);
  return values.map((text) => (text === 'none' ? [] : parse(String(text))));
}

const folder = '/fleet/prod';
const minimal = `${head}hosts:
  a: { address: 10.0.0.1 }
tasks: [version_check, build, backup, { command: drain, argv: [/bin/true] }, swap, restore, verify]
`;
const playbook = resolveText(minimal, `${folder}/playbook.yml`);
const host = playbook.hosts[0] as Playbook['hosts'][number];

/** What resolving makes of each default, put back into the schema's units. */
const behaviour: Record<string, () => unknown> = {
  '/properties/target/properties/configure': () => playbook.target.configure,
  '/properties/target/properties/package/properties/name': () => {
    const fromPackage = resolveText(
      'name: test fleet\ntarget:\n  version: "1.6.18"\n  package: {}\nhosts:\n  a: { address: 10.0.0.1 }\n',
      `${folder}/playbook.yml`,
    );
    return fromPackage.target.source.kind === 'package' && fromPackage.target.source.name;
  },
  '/properties/strategy/properties/serial': () =>
    playbook.strategy.serial.map((count) => count.kind === 'count' && count.count),
  '/properties/strategy/properties/max_fail_percentage': () => playbook.strategy.maxFailPercentage,
  '/properties/strategy/properties/pause_between_batches': () => playbook.strategy.pauseBetweenBatches,
  '/properties/strategy/properties/confirm_between_batches': () => playbook.strategy.confirmBetweenBatches,
  '/properties/strategy/properties/instances_together': () => playbook.strategy.instancesTogether === true,
  '/properties/backup/properties/dir': () => playbook.backup.dir,
  '/properties/backup/properties/keep': () => playbook.backup.keep,
  '/properties/swap/properties/mode': () => playbook.swap.mode,
  '/properties/swap/properties/memory_file': () => playbook.swap.memoryFile,
  '/properties/verify/properties/sample': () => playbook.verify.sample,
  '/properties/verify/properties/full': () => playbook.verify.full,
  '/properties/verify/properties/min_restored_ratio': () => playbook.verify.minRestoredRatio,
  '/properties/verify/properties/accept_settings': () => playbook.verify.acceptSettings,
  '/properties/verify/properties/max_latency_regression': () => playbook.verify.maxLatencyRegression,
  '/properties/verify/properties/min_throughput_ratio': () => playbook.verify.minThroughputRatio,
  '/$defs/become': () => host.become,
  '/$defs/connection': () => host.connection,
  '/$defs/ssh/properties/port': () => host.ssh.port,
  '/$defs/ssh/properties/known_hosts': () => host.ssh.knownHosts,
  '/$defs/ssh/properties/connect_timeout': () => host.ssh.connectTimeoutMs / 1000,
  '/$defs/ssh/properties/config_file': () => {
    const document = parsePlaybookText('playbook.yml', minimal).source?.data() as PlaybookDocument;
    return sshConfigPaths(document, `${folder}/playbook.yml`, tester).get('a');
  },
  '/$defs/memcached/properties/port': () => host.memcached.port,
  '/$defs/memcached/properties/prefix': () => host.memcached.prefix,
  '/$defs/memcached/properties/args': () => host.memcached.args,
  '/$defs/memcached/properties/keep_builds': () => host.memcached.keepBuilds,
  '/$defs/service/properties/manager': () => host.memcached.service.manager,
  '/$defs/taskStep/properties/when': () => {
    const step = playbook.tasks?.find((task) => task.name === 'drain');
    return step?.kind === 'command' ? step.when : undefined;
  },
};

/** A default as resolving holds it: controller paths absolute, `{ count: 3 }` as the engine's retention. */
function asResolved(pointer: string, value: unknown): unknown {
  if (pointer.endsWith('/serial')) return [value];
  if (pointer.endsWith('/dir') || pointer.endsWith('/known_hosts') || pointer.endsWith('/config_file')) {
    return localPath(String(value), folder, tester.homeDir);
  }
  return value;
}

describe('defaults, written once in the schema', () => {
  it('every default keyword has its behaviour checked here (add a row for a new one)', () => {
    expect([...schemaDefaults().keys()].sort()).toEqual(Object.keys(behaviour).sort());
  });

  it.each([...schemaDefaults()])(
    '%s: resolving a playbook that leaves it out applies the default',
    (pointer, { value }) => {
      expect(behaviour[pointer]?.()).toEqual(asResolved(pointer, value));
    },
  );

  it.each([...schemaDefaults()])(
    '%s: the description names the same default',
    (pointer, { value, description }) => {
      expect(documentedDefaults(description), `${pointer}: ${description}`).toContainEqual(value);
    },
  );
});
