import type { Command } from 'commander';
import { dirname } from 'node:path';
import { z } from 'zod';
import { parseInput } from '../../domain/errors.ts';
import { generateKeyPair } from '../../artifacts/keys.ts';
import { fleetFlag, pathsFromFlags } from '../fleet-context.ts';

const generateFlags = z.object({
  dir: z.string().min(1).optional(),
  force: z.boolean().optional(),
  fleet: z.string().min(1).optional(),
});

/** `zerodown keys`: the ed25519 key pair that signs artifacts. */
export function keysCommand(program: Command): void {
  const keys = program.command('keys').description('manage the ed25519 key pair that signs artifacts');
  keys
    .command('generate')
    .description("make a new key pair (default: next to the fleet file's signing.publicKey, i.e. .state/keys/)")
    .option('--dir <dir>', 'folder for zerodown.key and zerodown.pub')
    .option('--force', 'replace an existing key pair')
    .option(...fleetFlag)
    .action(async (raw: unknown) => {
      const flags = parseInput(generateFlags, raw, 'invalid options', 'See zerodown keys generate --help.');
      const dir = flags.dir ?? dirname((await pathsFromFlags(flags)).publicKey);
      const pair = await generateKeyPair({ dir, force: flags.force ?? false });
      process.stdout.write(
        `Key pair ${pair.keyId} written:\n  private (keep secret): ${pair.privateKeyPath}\n  public (give to fleets): ${pair.publicKeyPath}\n`,
      );
    });
}
