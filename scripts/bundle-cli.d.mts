import type { Metafile } from 'esbuild';

/** Types of scripts/bundle-cli.mjs, for the test that checks what the bundle holds. */
export function bundleCli(root: string, outdir?: string): Promise<Metafile>;
