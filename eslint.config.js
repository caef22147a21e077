// Lint rules that carry the design: promises are awaited, and imports go one way between the layers
// (docs/architecture.md "Layers"), including Temporal's rule that workflow code imports no Node built-ins.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Every Node built-in, bare ('fs', 'fs/promises') and prefixed ('node:fs'). */
const nodeBuiltins = {
  paths: builtinModules
    .filter((name) => !name.startsWith('_'))
    .map((name) => ({ name, message: 'Node built-ins are not allowed in this layer.' })),
  pattern: { group: ['node:*'], message: 'Node built-ins are not allowed in this layer.' },
};

/** An import that climbs out of the current folder into one of `folders` (e.g. '../client/x.ts'). */
const intoFolders = (folders, message) => ({
  regex: `^(\\.\\./)+(${folders.join('|')})(/|$)`,
  message,
});

const workflowMessage =
  'Workflow code is replayed deterministically in a sandbox: no Node built-ins, no I/O libraries, no worker/client/activity SDKs.';

export default tseslint.config(
  {
    ignores: ['node_modules/', '.tools/', '.state/', '.builds/', '.test-state/', 'bench/results/', 'docs/', 'dist/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // Exhaustive switches end in a `never` check; this keeps them honest.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    // Plain JavaScript (the bin shim, the sample service, hook scripts, this file) is outside tsconfig.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // `import { z } from 'zod'` hands over zod's whole namespace object, so the CLI's bundler keeps every
    // export of zod, its 40-odd locales included (740 KB, against 200 KB with `import * as z`): loaded by
    // `zerodown status` and by every worker start (scripts/bundle-cli.mjs).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'] > ImportSpecifier[imported.name='z']",
          message: "Write `import * as z from 'zod'`: the named `z` keeps all of zod in the CLI's bundle.",
        },
      ],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.paths.map((p) => ({ ...p, message: workflowMessage })),
            { name: '@temporalio/worker', message: workflowMessage },
            { name: '@temporalio/client', message: workflowMessage },
            { name: '@temporalio/activity', message: workflowMessage },
            { name: 'pino', message: `${workflowMessage} Use \`log\` from @temporalio/workflow.` },
            { name: 'pino-pretty', message: workflowMessage },
          ],
          patterns: [
            { ...nodeBuiltins.pattern, message: workflowMessage },
            {
              regex: '^(\\.\\./)+activities(/|$)',
              allowTypeImports: true,
              message:
                'Workflows import activities as types only (`import type`), and call them through proxyActivities.',
            },
            intoFolders(
              ['client', 'adapters', 'fleet', 'artifacts', 'temporal'],
              'Workflow code must not reach the client or real systems.',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.paths.map((p) => ({ ...p, message: 'src/domain is pure: no Node built-ins, no I/O.' })),
          patterns: [
            { ...nodeBuiltins.pattern, message: 'src/domain is pure: no Node built-ins, no I/O.' },
            intoFolders(
              ['workflows', 'activities', 'client', 'adapters', 'fleet', 'artifacts', 'migrations', 'temporal'],
              'src/domain is the ground floor: it imports nothing from the other layers.',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/adapters/**/*.ts', 'src/artifacts/**/*.ts', 'src/migrations/**/*.ts', 'src/temporal/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            intoFolders(
              ['client', 'workflows', 'activities', 'fleet'],
              'adapters, artifacts, migrations and temporal are on the ground floor: they must not import client, workflows, activities or fleet.',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/activities/**/*.ts', 'src/fleet/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [intoFolders(['client'], 'activities and fleet sit below the client: they must not import it.')] },
      ],
    },
  },
  {
    // The worker sits beside the client, not on it: it takes its connection from src/temporal/.
    files: ['src/worker.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\./client(/|$)',
              message: 'src/worker.ts must not import the client; shared Temporal code lives in src/temporal/.',
            },
          ],
        },
      ],
    },
  },
);
