import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout zerodown runs from; local state and tools live beside the sources. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where local state lives (Temporal's SQLite file, fleet pid files, keys): git-ignored. */
export function stateDir(): string {
  return path.resolve(process.env.ZERODOWN_STATE_DIR ?? path.join(projectRoot, '.state'));
}

/** Where project-local tools (the Temporal CLI build) are installed: git-ignored. */
export const toolsBinDir = path.join(projectRoot, '.tools', 'bin');
