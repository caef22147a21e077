import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { customSearchAttributes } from '../src/domain/search-attributes.ts';
import { projectRoot } from '../src/paths.ts';

// Docker cannot run in the test environment, so these checks keep docker-compose.yml and the Dockerfile
// in step with the code they start: a renamed variable or attribute fails here, not on a user's machine.

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | null> | string[];
  ports?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  stop_grace_period?: string;
}

const read = (file: string) => readFileSync(path.join(projectRoot, file), 'utf8');
const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  assert.ok(found, `docker-compose.yml has a "${name}" service`);
  return found;
};

function environment(svc: ComposeService): Record<string, string> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => [entry.split('=')[0] ?? '', entry.split('=').slice(1).join('=')]));
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? '')]));
}

/** Environment variables the worker process reads, taken from its source so the list cannot drift. */
function variablesTheWorkerReads(): Set<string> {
  const sources = [
    'src/temporal/connection.ts',
    'src/client/commands/worker.ts',
    'src/client/options.ts',
    'src/worker.ts',
    'src/logging.ts',
  ];
  const names = new Set<string>();
  for (const file of sources) {
    for (const match of read(file).matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(match[1] ?? '');
  }
  return names;
}

const seconds = (duration: string): number => {
  const match = /^(\d+)(s|m)?$/.exec(duration.trim());
  assert.ok(match, `"${duration}" is a duration like 45s`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
};

const commandWords = (command: string | string[] | undefined): string[] =>
  Array.isArray(command) ? command : (command ?? '').split(/\s+/).filter(Boolean);

describe('docker-compose.yml and Dockerfile', () => {
  it('defines PostgreSQL, Temporal on PostgreSQL, the Web UI, the search-attribute setup and the worker', () => {
    assert.match(service('postgresql').image ?? '', /^postgres:16/);
    const temporal = service('temporal');
    assert.match(temporal.image ?? '', /^temporalio\/auto-setup:/);
    assert.equal(environment(temporal).DB, 'postgres12');
    assert.equal(environment(temporal).POSTGRES_SEEDS, 'postgresql');
    assert.match(service('temporal-ui').image ?? '', /^temporalio\/ui:/);
    assert.ok(service('zerodown-worker').build, 'the worker is built from this repository');
  });

  it('registers every search attribute zerodown uses', () => {
    const setup = service('temporal-search-attributes');
    assert.match(setup.image ?? '', /^temporalio\/admin-tools:/);
    const script = commandWords(setup.command).join(' ');
    assert.match(script, /temporal operator search-attribute create/);
    for (const key of customSearchAttributes)
      assert.match(script, new RegExp(`\\b${key.name}\\b`), `${key.name} is registered`);
  });

  it('publishes the Web UI on 8233, pointed at the Temporal service', () => {
    const ui = service('temporal-ui');
    assert.ok(
      (ui.ports ?? []).some((port) => /^(\d+\.\d+\.\d+\.\d+:)?8233:8080$/.test(port)),
      `ports: ${String(ui.ports)}`,
    );
    assert.equal(environment(ui).TEMPORAL_ADDRESS, 'temporal:7233');
  });

  it('gives the worker only environment variables the worker reads, and time to finish its activities', () => {
    const worker = service('zerodown-worker');
    const env = environment(worker);
    const known = variablesTheWorkerReads();
    assert.ok(
      known.has('TEMPORAL_ADDRESS') && known.has('ZERODOWN_TASK_QUEUE'),
      `found in the sources: ${[...known].join(', ')}`,
    );
    for (const name of Object.keys(env))
      assert.ok(known.has(name), `${name} is read by the worker (it reads ${[...known].join(', ')})`);
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(env.TEMPORAL_NAMESPACE, 'default');
    assert.deepEqual(commandWords(worker.command), ['node', 'bin/zerodown.js', 'worker']);
    const grace = Number(env.ZERODOWN_SHUTDOWN_GRACE ?? 30);
    assert.ok(
      seconds(worker.stop_grace_period ?? '10s') > grace,
      'Docker waits longer than the worker lets activities finish',
    );
    const dependsOn = worker.depends_on;
    assert.ok(dependsOn && !Array.isArray(dependsOn), 'depends_on with conditions');
    assert.equal(dependsOn['temporal-search-attributes']?.condition, 'service_completed_successfully');
  });

  it('builds an image that runs the worker as an unprivileged user', () => {
    const dockerfile = read('Dockerfile');
    assert.match(dockerfile, /^FROM node:20-bookworm-slim/m);
    assert.match(dockerfile, /npm ci --omit=dev/);
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', 'runs as a non-root user');
    const cmd = [...dockerfile.matchAll(/^CMD\s+(.+)$/gm)].at(-1)?.[1];
    assert.ok(cmd, 'the Dockerfile has a CMD');
    assert.deepEqual(JSON.parse(cmd) as unknown, ['node', 'bin/zerodown.js', 'worker']);
    // tsx runs the sources at run time, so `npm ci --omit=dev` must still install it.
    const pkg = JSON.parse(read('package.json')) as { dependencies?: Record<string, string> };
    assert.ok(pkg.dependencies?.tsx, 'tsx is a runtime dependency');
  });
});
