import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { buildDir } from '../artifacts/manifest.ts';
import type { GateResult } from '../domain/gates.ts';
import type { GateContext } from './context.ts';

/**
 * Seed §3.1 "dependencies validated": the lockfile's hash recorded at build time matches the
 * lockfile packaged in the artifact, and every packaged npm dependency (build/node_modules) is the
 * version that lockfile names — none added, none changed. Without packaged node_modules the
 * dependencies are installed from that same lockfile, so the hash is what there is to check.
 */
export async function dependenciesGate(ctx: GateContext): Promise<GateResult> {
  const recorded = ctx.metadata.dependencies;
  const result = (passed: boolean, summary: string, evidence: string[]): GateResult => ({
    gate: 'dependencies',
    passed,
    summary,
    evidence,
  });
  if (!recorded)
    return result(false, 'no lockfile was recorded at build time', [
      'the signed metadata has no dependencies record: the build output had no package-lock.json, npm-shrinkwrap.json, yarn.lock or pnpm-lock.yaml at its root',
    ]);
  const root = join(ctx.artifact.dir, buildDir);
  const bytes = await readFile(join(root, recorded.lockfile)).catch(() => undefined);
  const evidence = [`recorded at build time: ${recorded.lockfile} sha256 ${recorded.sha256}`];
  if (!bytes) return result(false, `${recorded.lockfile} is not in the artifact`, evidence);
  const packaged = createHash('sha256').update(bytes).digest('hex');
  evidence.push(`packaged ${recorded.lockfile} sha256 ${packaged}`);
  if (packaged !== recorded.sha256)
    return result(false, `the packaged ${recorded.lockfile} is not the one recorded`, evidence);
  if (recorded.lockfile !== 'package-lock.json' && recorded.lockfile !== 'npm-shrinkwrap.json')
    return result(true, `${recorded.lockfile} matches its recorded hash`, evidence);

  const lock = npmLock.safeParse(safeJson(bytes.toString('utf8')));
  if (!lock.success) return result(false, `${recorded.lockfile} is not an npm lockfile (v2 or v3)`, evidence);
  const installed = await installedPackages(root);
  if (installed.size === 0) {
    evidence.push('no node_modules packaged: dependencies are installed from this lockfile');
    return result(true, `${recorded.lockfile} matches its recorded hash`, evidence);
  }
  const problems: string[] = [];
  for (const [path, version] of installed) {
    const locked = lock.data.packages[path];
    if (!locked) problems.push(`${path}@${version} is packaged but not in ${recorded.lockfile}`);
    else if (!locked.link && locked.version !== undefined && locked.version !== version)
      problems.push(`${path} is ${version}, ${recorded.lockfile} says ${locked.version}`);
  }
  for (const [path, locked] of Object.entries(lock.data.packages)) {
    if (!path.startsWith('node_modules/') || installed.has(path) || locked.link) continue;
    if (!locked.dev && !locked.optional && !locked.devOptional)
      problems.push(`${path} is in ${recorded.lockfile} but not packaged`);
  }
  evidence.push(`${installed.size} packaged dependencies compared with ${recorded.lockfile}`);
  if (problems.length > 0)
    evidence.push(...problems.slice(0, 10), ...(problems.length > 10 ? [`… and ${problems.length - 10} more`] : []));
  return problems.length === 0
    ? result(true, `${recorded.lockfile} matches its hash and the ${installed.size} packaged dependencies`, evidence)
    : result(false, `${problems.length} packaged dependencies differ from ${recorded.lockfile}`, evidence);
}

const npmLock = z.object({
  lockfileVersion: z.number().int().min(2),
  packages: z.record(
    z.string(),
    z
      .object({
        version: z.string().optional(),
        link: z.boolean().optional(),
        dev: z.boolean().optional(),
        optional: z.boolean().optional(),
        devOptional: z.boolean().optional(),
      })
      .loose(),
  ),
});

/** `node_modules/<name>` (nested ones too) → the version its package.json says; links are not followed. */
async function installedPackages(root: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
    if (depth > 20) return;
    const entries = await readdir(join(root, dir), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      if (entry.name.startsWith('@')) {
        await walk(join(dir, entry.name), `${prefix}${entry.name}/`, depth + 1);
        continue;
      }
      const path = `${dir}/${entry.name}`.replace(/^\//, '');
      const manifest = z
        .object({ version: z.string() })
        .loose()
        .safeParse(safeJson(await readFile(join(root, path, 'package.json'), 'utf8').catch(() => '')));
      found.set(`${prefix}${entry.name}`, manifest.success ? manifest.data.version : 'unknown');
      await walk(join(path, 'node_modules'), `${prefix}${entry.name}/node_modules/`, depth + 1);
    }
  };
  await walk('node_modules', 'node_modules/', 0);
  return found;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
