// Bundles the CLI (src/client/main.ts) with esbuild into dist/cli/, run by scripts/build.mjs after tsc.
// Why: `zerodown status` spent most of its start loading modules one by one — @temporalio/client alone is
// hundreds of files (gRPC, protobuf), each resolved, read and, where CommonJS meets ESM, lexed for its
// exports. A few bundled files load in a fraction of that. Commands stay lazy: each command file is a
// chunk of its own (code splitting), loaded only by the command that needs it (src/client/command-index.ts).
//
// What stays outside the bundle, loaded from node_modules as before: every package not listed in
// `bundled` below — above all @temporalio/worker and @temporalio/activity (a native module, webpack, and
// the activity context, which must be the very module instance the worker runs activities with), and
// packages that read their own files at run time (pino's transports, BullMQ's Lua scripts, libpg-query's
// wasm). Packages that a bundled package imports are bundled with it.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import * as esbuild from 'esbuild';

/** Pure-JavaScript packages the CLI's commands load at start; bundling them is what saves the time. */
const bundled = new Set([
  '@temporalio/client',
  '@temporalio/common',
  '@temporalio/proto',
  '@temporalio/workflow',
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

/** Bare imports from zerodown's own code: bundled when listed, else left to node_modules. */
function onlyListedPackages(src) {
  return {
    name: 'only-listed-packages',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:')) return { path: args.path, external: true };
        const fromOwnCode = args.importer.startsWith(src + path.sep);
        if (fromOwnCode && !bundled.has(packageName(args.path))) return { path: args.path, external: true };
        return undefined;
      });
    },
  };
}

/** Writes dist/cli/main.js and its chunks; returns how many files it wrote. */
export async function bundleCli(root) {
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  const outdir = path.join(dist, 'cli');
  const result = await esbuild.build({
    entryPoints: { main: path.join(src, 'client', 'main.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    // CommonJS inside an ESM bundle still calls require() for Node's own modules.
    banner: {
      js: "import { createRequire as __zerodownRequire } from 'node:module';\nconst require = __zerodownRequire(import.meta.url);",
    },
    plugins: [onlyListedPackages(src), keepModuleLocations(src, dist, outdir)],
    logLevel: 'warning',
    metafile: true,
  });
  return Object.keys(result.metafile.outputs).filter((file) => file.endsWith('.js')).length;
}
