#!/usr/bin/env node
// Runs the compiled, bundled CLI in dist/cli/ (npm run build, run by scripts/setup.sh) while it is newer than every
// source file: it starts without compiling anything. Otherwise, and with ZERODOWN_FROM_SOURCE=1, it runs
// the TypeScript sources through tsx, so an edit is never run stale and a checkout works without a build.
import { readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);

/** The build's stamp is newer than every file under src/ (a few hundred stats: about a millisecond). */
function compiledIsCurrent() {
  let built;
  try {
    built = statSync(new URL('dist/.build-stamp', root)).mtimeMs;
  } catch {
    return false;
  }
  const src = new URL('src/', root);
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && statSync(`${entry.parentPath}/${entry.name}`).mtimeMs > built) return false;
  }
  return true;
}

if (process.env.ZERODOWN_FROM_SOURCE !== '1' && compiledIsCurrent()) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/client/main.ts');
}
