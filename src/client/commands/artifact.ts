import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { badInput, parseInput } from '../../domain/errors.ts';
import { serviceName, version } from '../../domain/names.ts';
import { buildArtifact } from '../../artifacts/build.ts';
import { listVersions, verifyArtifact } from '../../artifacts/manifest.ts';
import { buildSampleArtifact } from '../../fleet/sample-service.ts';
import { fleetFlag, pathsFromFlags } from '../fleet-context.ts';
import { jsonFlag, printJson } from '../options.ts';

const sampleBehavior = z
  .object({
    readiness: z.enum(['ok', 'fail']).optional(),
    startupDelayMs: z.number().int().min(0).max(60_000).optional(),
    shutdownDelayMs: z.number().int().min(0).max(60_000).optional(),
  })
  .strict();

const common = { buildsRoot: z.string().min(1).optional(), fleet: z.string().min(1).optional() };
const buildInput = z
  .object({
    service: serviceName,
    version,
    ...common,
    from: z.string().min(1).optional(),
    sample: z.boolean().optional(),
    sampleBehavior: z.string().optional(),
    notes: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    commit: z.string().min(1).optional(),
    branch: z.string().min(1).optional(),
    check: z.array(z.string().trim().min(1, 'a check must be a command, e.g. --check "npm test"')).default([]),
    allowFailedChecks: z.boolean().optional(),
    reviewer: z.array(z.string().trim().min(1, 'a reviewer needs a name')).default([]),
  })
  .refine((f) => Boolean(f.from) !== Boolean(f.sample), {
    message: 'give exactly one of --from <dir> or --sample',
    path: ['from'],
  });
const verifyInput = z.object({
  service: serviceName,
  version,
  ...common,
  publicKey: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

const parse = <T>(schema: z.ZodType<T>, input: unknown): T =>
  parseInput(schema, input, 'invalid arguments', 'See zerodown artifact --help.');

/** `zerodown artifact`: signed build artifacts under <builds-root>/<service>/<version>/ (seed §3.3). */
export function artifactCommand(program: Command): void {
  const artifact = program
    .command('artifact')
    .description('build and verify signed artifacts (<builds-root>/<service>/<version>/)');
  const withRoot = (c: Command) =>
    c
      .option(
        '--builds-root <dir>',
        "artifact store (default: $ZERODOWN_BUILDS_ROOT, the fleet file's buildsRoot, or .builds)",
      )
      .option(...fleetFlag);

  withRoot(artifact.command('build <service> <version>'))
    .description('package a build output with commit metadata and release notes, and sign it')
    .option('--from <dir>', 'the build output to package')
    .option('--sample', 'package the bundled sample service instead')
    .option('--sample-behavior <json>', 'with --sample: e.g. \'{"readiness":"fail"}\' for a deliberately bad version')
    .option('--notes <file>', 'release notes (Markdown)')
    .option('--key <file>', 'private signing key (default: $ZERODOWN_SIGNING_KEY or .state/keys/zerodown.key)')
    .option('--commit <sha>', 'commit sha, when --from is not a git checkout')
    .option('--branch <name>', 'branch, when --from is not a git checkout')
    .option('--check <command>', 'run this check first and record it in the signed metadata (repeatable)', collect, [])
    .option('--allow-failed-checks', 'record failing checks and build anyway (gates requiring them refuse it)')
    .option(
      '--reviewer <name>',
      'record a reviewer of the commit, besides its Reviewed-by: trailers (repeatable)',
      collect,
      [],
    )
    .action(async (service: string, ver: string, raw: Record<string, unknown>) => {
      const flags = parse(buildInput, { ...raw, service, version: ver });
      const paths = await pathsFromFlags(flags);
      const buildsRoot = flags.buildsRoot ?? paths.buildsRoot;
      const privateKeyPath = flags.key ?? paths.privateKey;
      const releaseNotes = flags.notes
        ? await readFile(flags.notes, 'utf8').catch(() => {
            throw badInput(`cannot read release notes ${flags.notes}`);
          })
        : undefined;
      const commit = {
        ...(flags.commit ? { sha: flags.commit } : {}),
        ...(flags.branch ? { branch: flags.branch } : {}),
      };
      const evidence = {
        checks: flags.check,
        reviewers: flags.reviewer,
        ...(flags.allowFailedChecks ? { allowFailedChecks: true } : {}),
      };
      const ref = {
        buildsRoot,
        service: flags.service,
        version: flags.version,
        privateKeyPath,
        releaseNotes,
        ...evidence,
      };
      const built = flags.sample
        ? await buildSampleArtifact({
            ...ref,
            behavior: flags.sampleBehavior ? parse(sampleBehavior, parseJson(flags.sampleBehavior)) : undefined,
          })
        : await buildArtifact({ ...ref, from: flags.from ?? '', commit });
      for (const warning of built.warnings) process.stderr.write(`zerodown: warning: ${warning}\n`);
      const { checks, dependencies } = built.metadata;
      const reviewers = built.metadata.commit.reviewers ?? [];
      const facts = [
        ...checks.map((c) => `  check "${c.command}": exit ${c.exitCode ?? 'none'} in ${c.durationMs} ms`),
        ...(reviewers.length ? [`  reviewed by ${reviewers.join(', ')}`] : []),
        ...(dependencies ? [`  ${dependencies.lockfile} sha256 ${dependencies.sha256}`] : []),
      ];
      process.stdout.write(
        `Built ${built.service} ${built.version} at ${built.dir}\n  commit ${built.metadata.commit.sha} (${built.metadata.commit.branch}), by ${built.metadata.builder}\n${facts.map((f) => `${f}\n`).join('')}`,
      );
    });

  withRoot(artifact.command('verify <service> <version>'))
    .description('check the signature and every file of an artifact')
    .option('--public-key <file>', "trusted public key (default: the fleet file's signing.publicKey)")
    .option(jsonFlag[0], 'print the result as JSON')
    .action(async (service: string, ver: string, raw: Record<string, unknown>) => {
      const flags = parse(verifyInput, { ...raw, service, version: ver });
      const paths = await pathsFromFlags(flags);
      const verified = await verifyArtifact({
        buildsRoot: flags.buildsRoot ?? paths.buildsRoot,
        service: flags.service,
        version: flags.version,
        publicKeyPath: flags.publicKey ?? paths.publicKey,
      });
      for (const warning of verified.warnings) process.stderr.write(`zerodown: warning: ${warning}\n`);
      if (flags.json) printJson({ ok: true, ...verified });
      else
        process.stdout.write(
          `${verified.service} ${verified.version}: signature by key ${verified.keyId} verified, ${verified.fileCount} files intact (${verified.dir})\n`,
        );
    });

  withRoot(artifact.command('list <service>'))
    .description('list the versions in the artifact store')
    .action(async (service: string, raw: Record<string, unknown>) => {
      const flags = parse(z.object({ service: serviceName, ...common }), { ...raw, service });
      const versions = await listVersions(flags.buildsRoot ?? (await pathsFromFlags(flags)).buildsRoot, flags.service);
      process.stdout.write(versions.length ? `${versions.join('\n')}\n` : `no artifacts for ${flags.service}\n`);
    });
}

/** Commander's way to repeat an option: each value appended to the list. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badInput(`--sample-behavior is not JSON: ${text}`, 'Example: --sample-behavior \'{"readiness":"fail"}\'.');
  }
}
