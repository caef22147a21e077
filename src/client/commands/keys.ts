import type { Command } from 'commander';
import { dirname } from 'node:path';
import * as z from 'zod';
import { parseInput } from '../../domain/errors.ts';
import { generateOperatorKey, operatorKeyDir } from '../../approvals/operator-keys.ts';
import { generateKeyPair } from '../../artifacts/keys.ts';
import { fleetFlag, pathsFromFlags } from '../fleet-context.ts';

const generateFlags = z.object({
  dir: z.string().min(1).optional(),
  force: z.boolean().optional(),
  fleet: z.string().min(1).optional(),
  operator: z.string().min(1).optional(),
});

/** `zerodown keys`: the ed25519 key pair that signs artifacts, and operators' key pairs that sign approvals. */
export function keysCommand(program: Command): void {
  const keys = program
    .command('keys')
    .description("manage the ed25519 key pair that signs artifacts, and operators' approval keys");
  keys
    .command('generate')
    .description("make a new key pair (default: next to the fleet file's signing.publicKey, i.e. .state/keys/)")
    .option('--dir <dir>', 'folder for zerodown.key and zerodown.pub (with --operator: for <name>.key and <name>.pub)')
    .option('--operator <name>', "an operator's key pair for signed approvals (default folder .state/keys/operators/)")
    .option('--force', 'replace an existing key pair')
    .option(...fleetFlag)
    .addHelpText('after', '\nExamples:\n  zerodown keys generate\n  zerodown keys generate --operator alice')
    .action(async (raw: unknown) => {
      const flags = parseInput(generateFlags, raw, 'invalid options', 'See zerodown keys generate --help.');
      if (flags.operator) {
        const dir = flags.dir ?? operatorKeyDir(dirname((await pathsFromFlags(flags)).privateKey));
        const pair = await generateOperatorKey({ dir, operator: flags.operator, force: flags.force ?? false });
        // The private key is never printed: only its path.
        process.stdout.write(
          `Operator key pair for ${pair.operator} written:\n  private (keep secret, mode 600): ${pair.privateKeyPath}\n  public: ${pair.publicKeyPath}\n\nList it in the fleet file under the services it may approve:\n  approvals:\n    operators:\n      ${pair.operator}: ${pair.publicKeyPath}\n\n${pair.publicKeyPem}`,
        );
        return;
      }
      const dir = flags.dir ?? dirname((await pathsFromFlags(flags)).publicKey);
      const pair = await generateKeyPair({ dir, force: flags.force ?? false });
      process.stdout.write(
        `Key pair ${pair.keyId} written:\n  private (keep secret): ${pair.privateKeyPath}\n  public (give to fleets): ${pair.publicKeyPath}\n`,
      );
    });
}
