import { readFile } from 'node:fs/promises';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
import type { Command } from 'commander';
import * as z from 'zod';
import { badInput, formatIssues, unreachable } from '../domain/errors.ts';

/**
 * How to reach Temporal: the same settings for the CLI and the worker, so one environment
 * serves the local dev server, a self-hosted cluster or Temporal Cloud. The environment
 * variable names are the Temporal CLI's own.
 */
export const connectionSettingsSchema = z
  .object({
    address: z
      .string()
      .regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, 'must be host:port, for example 127.0.0.1:7233')
      .refine((a) => Number(a.slice(a.lastIndexOf(':') + 1)) >= 1 && Number(a.slice(a.lastIndexOf(':') + 1)) <= 65535, {
        message: 'the port must be from 1 to 65535, for example 127.0.0.1:7233',
      }),
    namespace: z.string().min(1, 'must not be empty'),
    tlsCertPath: z.string().min(1).optional(),
    tlsKeyPath: z.string().min(1).optional(),
    tlsCaPath: z.string().min(1).optional(),
    tlsServerName: z.string().min(1).optional(),
    tls: z.boolean().optional(),
    apiKey: z.string().min(1).optional(),
  })
  .refine((s) => Boolean(s.tlsCertPath) === Boolean(s.tlsKeyPath), {
    message: 'a TLS client certificate and its key go together: give both or neither',
    path: ['tlsKeyPath'],
  });

/** Connection settings after validation. */
export type ConnectionSettings = z.infer<typeof connectionSettingsSchema>;

export const defaultAddress = '127.0.0.1:7233';
export const defaultNamespace = 'default';

/** Adds the connection flags to a command; each falls back to its environment variable. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--address <host:port>', 'Temporal frontend address [env TEMPORAL_ADDRESS]')
    .option('--namespace <name>', 'Temporal namespace [env TEMPORAL_NAMESPACE]')
    .option('--tls-cert-path <file>', 'TLS client certificate (mTLS) [env TEMPORAL_TLS_CLIENT_CERT_PATH]')
    .option('--tls-key-path <file>', 'TLS client key (mTLS) [env TEMPORAL_TLS_CLIENT_KEY_PATH]')
    .option('--tls-ca-path <file>', 'CA certificate of the server [env TEMPORAL_TLS_SERVER_CA_CERT_PATH]')
    .option('--tls-server-name <name>', 'server name to verify [env TEMPORAL_TLS_SERVER_NAME]')
    .option('--tls', 'use TLS without a client certificate [env TEMPORAL_TLS=true]')
    .option('--api-key <key>', 'API key, e.g. for Temporal Cloud (implies TLS) [env TEMPORAL_API_KEY]');
}

/** Reads the settings from parsed flags first, then the environment, then the local defaults. */
export function connectionSettingsFrom(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): ConnectionSettings {
  const raw = {
    address: flags.address ?? env.TEMPORAL_ADDRESS ?? defaultAddress,
    namespace: flags.namespace ?? env.TEMPORAL_NAMESPACE ?? defaultNamespace,
    tlsCertPath: flags.tlsCertPath ?? env.TEMPORAL_TLS_CLIENT_CERT_PATH,
    tlsKeyPath: flags.tlsKeyPath ?? env.TEMPORAL_TLS_CLIENT_KEY_PATH,
    tlsCaPath: flags.tlsCaPath ?? env.TEMPORAL_TLS_SERVER_CA_CERT_PATH,
    tlsServerName: flags.tlsServerName ?? env.TEMPORAL_TLS_SERVER_NAME,
    tls: flags.tls ?? (env.TEMPORAL_TLS === undefined ? undefined : env.TEMPORAL_TLS === 'true'),
    apiKey: flags.apiKey ?? env.TEMPORAL_API_KEY,
  };
  const parsed = connectionSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw badInput(`invalid Temporal connection settings:\n${formatIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}

async function readPem(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw badInput(
      `cannot read the ${what} ${file}: ${(error as Error).message}`,
      'check the path and its permissions',
    );
  }
}

type TlsOptions = Exclude<ConnectionOptions['tls'], undefined>;

async function tlsOptions(settings: ConnectionSettings): Promise<TlsOptions | undefined> {
  const wantsTls = settings.tls || settings.apiKey || settings.tlsCertPath || settings.tlsCaPath;
  if (!wantsTls) return undefined;
  return {
    ...(settings.tlsServerName ? { serverNameOverride: settings.tlsServerName } : {}),
    ...(settings.tlsCaPath ? { serverRootCACertificate: await readPem(settings.tlsCaPath, 'CA certificate') } : {}),
    ...(settings.tlsCertPath && settings.tlsKeyPath
      ? {
          clientCertPair: {
            crt: await readPem(settings.tlsCertPath, 'TLS client certificate'),
            key: await readPem(settings.tlsKeyPath, 'TLS client key'),
          },
        }
      : {}),
  };
}

const startHint =
  'start the local server with `zerodown server start --detach`, or point --address / TEMPORAL_ADDRESS at your cluster';

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

/** gRPC status code of a failed call, when there is one. */
function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Proves the namespace exists, so a typo fails here in one line instead of deep in a worker. */
async function checkNamespace(connection: Connection, settings: ConnectionSettings, deadline: number): Promise<void> {
  try {
    await connection.withDeadline(deadline, () =>
      connection.workflowService.describeNamespace({ namespace: settings.namespace }),
    );
  } catch (error) {
    if (grpcCode(error) === 5) {
      throw badInput(
        `namespace "${settings.namespace}" does not exist on the Temporal server at ${settings.address}`,
        'create it (temporal operator namespace create) or set --namespace / TEMPORAL_NAMESPACE to an existing one',
      );
    }
    throw unreachable(
      `cannot use namespace "${settings.namespace}" at ${settings.address}: ${firstLine(error)}`,
      startHint,
    );
  }
}

/** Opens a client connection and checks the namespace; every failure is one clear ZerodownError. */
export async function connectClient(settings: ConnectionSettings, connectTimeoutMs = 3_000): Promise<Connection> {
  const options: ConnectionOptions = {
    address: settings.address,
    connectTimeout: connectTimeoutMs,
    tls: await tlsOptions(settings),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  };
  let connection: Connection;
  try {
    connection = Connection.lazy(options);
  } catch (error) {
    throw unreachable(`cannot reach Temporal at ${settings.address}: ${firstLine(error)}`, startHint);
  }
  // The namespace check goes out beside the connection's own first call (what Connection.connect awaits)
  // instead of after it: one round trip less at every start. A failure to connect is still the one reported.
  // The check has the connection's deadline. When no server answers, the SDK retries the check on a
  // timer that does not look whether the connection was closed meanwhile, and a retry on a closed
  // connection throws from that timer and ends the process; so a failed connection is closed only
  // once the check has settled. (`zerodown demo` on a machine with no server running found none,
  // started one, and was then ended by the check's retry.)
  const namespaceChecked = checkNamespace(connection, settings, Date.now() + connectTimeoutMs);
  namespaceChecked.catch(() => undefined);
  try {
    try {
      await connection.ensureConnected();
    } catch (error) {
      throw unreachable(`cannot reach Temporal at ${settings.address}: ${firstLine(error)}`, startHint);
    }
    await namespaceChecked;
  } catch (error) {
    void namespaceChecked
      .catch(() => undefined)
      .then(() => connection.close())
      .catch(() => undefined);
    throw error;
  }
  return connection;
}

/** Opens the worker's native connection after the same checks as the client's. */
export async function connectWorker(settings: ConnectionSettings): Promise<NativeConnection> {
  const options: NativeConnectionOptions = {
    address: settings.address,
    tls: await tlsOptions(settings),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  };
  // Loaded here, not at the top: every CLI command imports this file, and the worker SDK (with its
  // native core) would add ~100 ms to each start. The package is CommonJS: its exports object is the
  // default export under Node and in the CLI's bundle (there, it is the only one); under tsx's loader
  // the named exports come without a default.
  const sdk = await import('@temporalio/worker');
  const { NativeConnection } = (sdk.default as typeof sdk | undefined) ?? sdk;
  // The native connection is made (in the native core's own threads) while the probe checks the address and
  // the namespace: a restarted worker polls that much sooner. The probe's clear errors still come first.
  const native = NativeConnection.connect(options);
  native.catch(() => undefined);
  try {
    const probe = await connectClient(settings);
    await probe.close();
  } catch (error) {
    native.then((connection) => connection.close()).catch(() => undefined);
    throw error;
  }
  try {
    return await native;
  } catch (error) {
    throw unreachable(`cannot reach Temporal at ${settings.address}: ${firstLine(error)}`, startHint);
  }
}
