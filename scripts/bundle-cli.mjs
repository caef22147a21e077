// Bundles the CLI (src/client/main.ts) with esbuild into dist/cli/, run by scripts/build.mjs after tsc.
// Why: the CLI and the worker spent most of their start loading modules one by one — the Temporal SDK alone
// is hundreds of files (gRPC, protobuf, the worker), each resolved, read and, where CommonJS meets ESM,
// lexed for its exports. A few bundled files load in a fraction of that: `zerodown status` answers sooner,
// and a worker restarted after a crash polls sooner (crash recovery, src/workflows/proxies.ts). Commands
// stay lazy: each command file is a chunk of its own (code splitting), loaded only by the command that
// needs it (src/client/command-index.ts).
//
// The Temporal SDK is bundled whole, worker included, so that one process has one copy of each of its
// packages (the activity context and the failure classes are shared between them). Left in node_modules:
// webpack and its loaders (the worker only loads them to build a workflow bundle, which the build does
// beforehand), and every package our own code imports that is not listed in `bundled` below — those
// that read their own files at run time among them (pino's transports, BullMQ's Lua scripts,
// libpg-query's wasm). Packages that a bundled package imports are bundled with it.
import path from 'node:path';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import vm from 'node:vm';
import * as esbuild from 'esbuild';

/** Packages the CLI's commands and the worker load at start; bundling them is what saves the time. */
const bundled = new Set([
  '@temporalio/client',
  '@temporalio/common',
  '@temporalio/proto',
  '@temporalio/workflow',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/core-bridge',
  'commander',
  'zod',
  'yaml',
  'semver',
  'log-update',
  '@noble/curves',
  '@noble/hashes',
]);

const packageName = (specifier) => {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
};

/**
 * Code that finds files beside itself (`new URL('./sample-service/', import.meta.url)`, the workflow
 * bundle, the command index) is pointed at its tsc-compiled twin in dist/, where those files are.
 */
function keepModuleLocations(src, dist, outdir) {
  return {
    name: 'keep-module-locations',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (!args.path.startsWith(src + path.sep)) return undefined;
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return { contents: text, loader: 'ts' };
        const twin = path.join(dist, path.relative(src, args.path)).replace(/\.ts$/, '.js');
        const relative = path.relative(outdir, twin).split(path.sep).join('/');
        const here = `new URL(${JSON.stringify(relative)}, import.meta.url).href`;
        return { contents: text.replaceAll('import.meta.url', here), loader: 'ts' };
      });
    },
  };
}

/**
 * What the SDK's worker loads only to build a workflow bundle (never at run time here: the build
 * prebuilds it, src/worker.ts): left in node_modules, and webpack's own loaders with it.
 */
const bundlerOnly = new Set(['webpack', 'memfs', 'unionfs', 'swc-loader', 'source-map-loader', '@swc/core']);

/**
 * The SDK's worker requires webpack, memfs and unionfs at its top (src/worker.ts never bundles when it runs
 * compiled, so it never calls them): left as they were, every worker start loaded them from node_modules
 * before its first poll. Each is replaced, for the SDK's worker only, by a stand-in that loads the real
 * package on first use. The stand-in says it is an ES module so that the SDK's `__importStar` hands it
 * over as it is instead of copying (and so loading) every export.
 */
function lazyBundlerPackages() {
  const namespace = 'lazy-bundler-package';
  return {
    name: 'lazy-bundler-packages',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.namespace === namespace) return { path: args.path, external: true };
        const fromSdkWorker = /[\\/]node_modules[\\/]@temporalio[\\/]worker[\\/]/.test(args.importer);
        if (!fromSdkWorker || !bundlerOnly.has(packageName(args.path))) return undefined;
        return { path: args.path, namespace };
      });
      build.onLoad({ filter: /.*/, namespace }, (args) => ({
        contents: [
          'let loaded;',
          `const load = () => (loaded ??= require(${JSON.stringify(args.path)}));`,
          "module.exports = new Proxy({}, { get: (_, key) => (key === '__esModule' ? true : load()[key]) });",
        ].join('\n'),
        loader: 'js',
      }));
    },
  };
}

/** The workflow thread's script, bundled on its own beside the CLI (`bundleWorkflowThread`). */
const workflowThreadFile = 'workflow-worker-thread.cjs';

/**
 * The SDK's worker and native bridge, and source-map, find files beside themselves (`require.resolve('./…')`,
 * `__dirname`): the native library, source-map's wasm. Pointed at node_modules, where they are. The one
 * exception is the workflow thread's script, which is pointed at its bundle beside the CLI's files.
 */
function keepPackageFileLocations() {
  const owners = /[\\/]node_modules[\\/](@temporalio[\\/](worker|core-bridge)|source-map)[\\/].*\.js$/;
  return {
    name: 'keep-package-file-locations',
    setup(build) {
      build.onLoad({ filter: owners }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        const dir = path.dirname(args.path);
        const contents = text
          .replace(/require\.resolve\((['"])(\.{1,2}\/[^'"]+)\1\)/g, (_, _q, rel) =>
            rel === './workflow-worker-thread'
              ? `require.resolve(${JSON.stringify(`./${workflowThreadFile}`)})`
              : `require.resolve(${JSON.stringify(path.join(dir, rel))})`,
          )
          .replaceAll('__dirname', JSON.stringify(dir))
          .replaceAll('__filename', JSON.stringify(args.path));
        return { contents, loader: 'js' };
      });
    },
  };
}

/**
 * How every bundled file is written. Without comments and layout (`minifyWhitespace`; names are kept, and the
 * source maps still lead to each file and line): a file V8 reads at every start is about a quarter smaller, and,
 * more to the point, holds only ASCII. One emoji in one of the SDK's doc comments made the whole 2 MB chunk a
 * two-byte string, which Node decoded and V8 scanned on their slow paths. `charset: 'ascii'` (esbuild's
 * default, stated here) escapes what is left outside comments.
 */
const outputOptions = { sourcemap: true, minifyWhitespace: true, charset: 'ascii' };

/**
 * The thread a worker runs its workflows in starts from a script of the SDK's own: loaded from node_modules,
 * it resolved and read a few hundred files, and built the protobuf definitions from their object literal,
 * on the way to the workflow worker's first poll (after a crash, the workflow's next task waits for it).
 * Bundled into one CommonJS file beside the CLI's (the main bundle's `require` resolves it there), with the
 * same treatment of the definitions.
 */
async function bundleWorkflowThread(root, outdir) {
  const requireHere = createRequire(path.join(root, 'package.json'));
  const worker = path.dirname(requireHere.resolve('@temporalio/worker/package.json'));
  const result = await esbuild.build({
    entryPoints: [path.join(worker, 'lib', 'workflow', 'workflow-worker-thread.js')],
    outfile: path.join(outdir, workflowThreadFile),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    ...outputOptions,
    plugins: [keepPackageFileLocations(), protoDefinitionsAsJson()],
    logLevel: 'warning',
    metafile: true,
  });
  return result.metafile;
}

/**
 * The SDK's protobuf definitions (@temporalio/proto/protos/json-module.js, 1.4 MB) are one JavaScript object
 * literal that protobufjs turns into thousands of objects at start, in `zerodown status` and in every worker
 * start alike. Two changes make that load about 100 ms sooner:
 * - the definitions go in as a JSON string: V8 reads one that size far faster with JSON.parse than it parses
 *   the same object literal (https://v8.dev/blog/cost-of-javascript-2019#json);
 * - the Temporal Cloud Operations API (`temporal.api.cloud`, a quarter of the definitions) is left out: it is
 *   the API of Temporal Cloud's own account management, which neither zerodown nor the client and worker SDK
 *   call (zerodown does not depend on @temporalio/cloud, its client), and no other definition refers to it
 *   (checked here; were one to, it stays in).
 * Should the file ever look different, it is bundled unchanged, with a warning.
 */
function protoDefinitionsAsJson() {
  const definitions = /[\\/]@temporalio[\\/]proto[\\/]protos[\\/]json-module\.js$/;
  return {
    name: 'proto-definitions-as-json',
    setup(build) {
      build.onLoad({ filter: definitions }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        const call = '.addJSON(';
        const start = text.indexOf(call) + call.length;
        const end = text.lastIndexOf('});') + 1;
        const unchanged = (why) => ({
          contents: text,
          loader: 'js',
          warnings: [{ text: `left as it is (${why}): the CLI starts slower`, location: { file: args.path } }],
        });
        if (start < call.length || end <= start || text.indexOf(call, start) !== -1)
          return unchanged('no single addJSON call');
        let value;
        try {
          value = vm.runInThisContext(`(${text.slice(start, end)})`);
        } catch (error) {
          return unchanged(`its definitions do not evaluate: ${error.message}`);
        }
        if (JSON.stringify(value) === undefined || !isDeepStrictEqual(JSON.parse(JSON.stringify(value)), value))
          return unchanged('its definitions are not plain JSON');
        const json = JSON.stringify(withoutCloudApi(value));
        return {
          contents: `${text.slice(0, start)}JSON.parse(${JSON.stringify(json)})${text.slice(end)}`,
          loader: 'js',
        };
      });
    },
  };
}

/** The definitions without `temporal.api.cloud`, unless another definition refers to one of its types. */
function withoutCloudApi(definitions) {
  const api = definitions.temporal?.nested?.api;
  if (!api?.nested?.cloud) return definitions;
  const nested = Object.fromEntries(Object.entries(api.nested).filter(([name]) => name !== 'cloud'));
  const trimmed = {
    ...definitions,
    temporal: { ...definitions.temporal, nested: { ...definitions.temporal.nested, api: { ...api, nested } } },
  };
  const referenced = /"(?:type|keyType|requestType|responseType)":"[^"]*\bcloud\./.test(JSON.stringify(trimmed));
  return referenced ? definitions : trimmed;
}

/** Bare imports from zerodown's own code: bundled when listed, else left to node_modules. */
function onlyListedPackages(src) {
  return {
    name: 'only-listed-packages',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:')) return { path: args.path, external: true };
        if (bundlerOnly.has(packageName(args.path))) return { path: args.path, external: true };
        const fromOwnCode = args.importer.startsWith(src + path.sep);
        if (fromOwnCode && !bundled.has(packageName(args.path))) return { path: args.path, external: true };
        return undefined;
      });
    },
  };
}

/**
 * Writes dist/cli/main.js and its chunks (or into `outdir`, for a test: its files then do not find the
 * files beside dist/ they need); returns esbuild's metafile: every output, its inputs and its imports.
 */
export async function bundleCli(root, outdir = path.join(root, 'dist', 'cli')) {
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  // Chunk names carry a hash: a clean folder, so no stale chunk lingers.
  rmSync(outdir, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: { main: path.join(src, 'client', 'main.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    ...outputOptions,
    // CommonJS inside an ESM bundle still calls require() for Node's own modules.
    banner: {
      js: "import { createRequire as __zerodownRequire } from 'node:module';\nconst require = __zerodownRequire(import.meta.url);",
    },
    plugins: [
      lazyBundlerPackages(),
      onlyListedPackages(src),
      keepModuleLocations(src, dist, outdir),
      keepPackageFileLocations(),
      protoDefinitionsAsJson(),
    ],
    logLevel: 'warning',
    metafile: true,
  });
  const thread = await bundleWorkflowThread(root, outdir);
  return {
    inputs: { ...result.metafile.inputs, ...thread.inputs },
    outputs: { ...result.metafile.outputs, ...thread.outputs },
  };
}
