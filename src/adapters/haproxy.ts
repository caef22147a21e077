import { ZerodownError, badInput } from '../domain/errors.ts';
import { parseStatCsv, runtimeCommand, runtimeCommands } from './haproxy-socket.ts';
import { figures, health, num, parseServersState } from './haproxy-readings.ts';
import type {
  AdminState,
  FrontendState,
  LoadBalancer,
  ServerRef,
  ServerState,
  ServiceCounters,
} from './load-balancer.ts';

const namePattern = /^[A-Za-z0-9_.:-]+$/;
/** Where held checks go: a port nothing serves, so a check fails at once (holdChecksFailing). */
export const heldCheckPort = 1;

/**
 * How the config file made a server, for re-creating it at run time: its address, and the words after
 * `check` (fleet/haproxy-config.ts `serverKeywords`). Unknown (undefined) for a server the fleet file
 * does not describe this way, which then keeps the slower `restartChecks` path.
 */
export interface ServerSpec {
  address: string;
  port: number;
  keywords: string;
}

/** The LoadBalancer for HAProxy, driven through its runtime API socket. */
export class HAProxyLoadBalancer implements LoadBalancer {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5000,
    private readonly serverSpec: (ref: ServerRef) => ServerSpec | undefined = () => undefined,
  ) {}

  drain(ref: ServerRef): Promise<void> {
    return this.setState(ref, 'drain');
  }

  maintenance(ref: ServerRef): Promise<void> {
    return this.setState(ref, 'maint');
  }

  ready(ref: ServerRef): Promise<void> {
    return this.setState(ref, 'ready');
  }

  /** Marks the server's health down; only `rise` fresh passing checks bring it back up. */
  async resetHealth(ref: ServerRef): Promise<void> {
    await this.expectEmptyAnswer(`set server ${serverPath(ref)} health down`);
  }

  /**
   * HAProxy 2.6 has no command that holds a server's checks failing, and `health down` alone lasts
   * only until `rise` checks pass again (then the steady interval is back). So the checks are sent
   * to port 1 of the server's address (tcpmux, which nothing serves: refused at once) and the
   * health is forced down; every check then fails, at the `downinter` pace (docs/haproxy.md).
   */
  async holdChecksFailing(ref: ServerRef): Promise<void> {
    await this.expectEmptyAnswer(`set server ${serverPath(ref)} check-port ${heldCheckPort}`);
    await this.resetHealth(ref);
  }

  /** Check port 0 is HAProxy's "the server's own port", what the generated config leaves it at. */
  async releaseChecks(ref: ServerRef): Promise<void> {
    await this.expectEmptyAnswer(`set server ${serverPath(ref)} check-port 0`);
  }

  /**
   * The server's checks start afresh, against the instance itself, and the first comes within the
   * fast interval. HAProxy 2.6 has no command that moves a server's next check: after any change it
   * still comes when the steady cycle falls due, up to a whole interval later (docs/haproxy.md). A
   * server created at run time is first checked one `downinter` after it is added, so the server is
   * deleted and added again, as the config file made it, in one command line: taken to maintenance
   * (only such a server may be deleted), deleted, added with its id, weight, address and settings,
   * its checks enabled, then drained with its health down, so it takes no traffic until `rise` of
   * these fresh checks pass. Its counters start from zero, as after a reload.
   *
   * Where that is refused (a connection still attached, a server the fleet file does not describe
   * this way), the checks are released from a hold and the health forced down instead: the same
   * guarantee, at the pace of the steady cycle. The server always ends drained.
   */
  async restartChecks(ref: ServerRef): Promise<void> {
    const path = serverPath(ref);
    const spec = this.serverSpec(ref);
    const runtime = spec && (await this.weights(ref.backend)).get(ref.server);
    if (spec && runtime) {
      const answer = await this.commandLine([
        `set server ${path} state maint`,
        `del server ${path}`,
        `add server ${path} ${spec.address}:${spec.port} id ${runtime.id} weight ${runtime.weight} check ${spec.keywords}`,
        `enable health ${path}`,
        `set server ${path} state drain`,
        `set server ${path} health down`,
      ]);
      if (/New server registered/.test(answer)) return;
      // Deleted but not added back (its id taken meanwhile?): added again, drained, without the id.
      if (/Server deleted/.test(answer)) {
        await this.addDrained(ref, spec, runtime.weight);
        return;
      }
    }
    await this.drain(ref);
    await this.releaseChecks(ref);
    await this.resetHealth(ref);
  }

  async server(ref: ServerRef): Promise<ServerState> {
    let servers = await this.servers(ref.backend);
    // A server the fleet file describes but HAProxy lacks can only be one whose re-creation was cut
    // off between its deletion and its addition (restartChecks): added back drained, never serving.
    const spec = servers.some((s) => s.server === ref.server) ? undefined : this.serverSpec(ref);
    if (spec) {
      await this.addDrained(ref, spec);
      servers = await this.servers(ref.backend);
    }
    const found = servers.find((s) => s.server === ref.server);
    if (!found) {
      throw badInput(
        `HAProxy backend ${ref.backend} has no server ${ref.server} (servers: ${servers.map((s) => s.server).join(', ') || 'none'})`,
        'Check the instance names in the fleet file against the HAProxy config.',
      );
    }
    return found;
  }

  async servers(backend: string): Promise<ServerState[]> {
    checkName(backend);
    // All proxies (-1), filtered here: `show stat <name>` picks the first proxy of that name,
    // which is the frontend when a frontend and a backend share the service's name.
    const [stat, state] = await Promise.all([
      this.command('show stat -1 4 -1'),
      this.command(`show servers state ${backend}`),
    ]);
    if (!stat.startsWith('# ') || /Can't find backend/i.test(state)) {
      if (!stat.startsWith('# '))
        throw new ZerodownError('failed', `unexpected answer from HAProxy to "show stat": ${stat.slice(0, 200)}`);
      throw badInput(`HAProxy has no backend named ${backend}`, 'Check the service name against the fleet file.');
    }
    const lines = parseServersState(state);
    return (
      parseStatCsv(stat, backend)
        .filter((row) => row.type === '2')
        // In the config's order: a server added at run time (restartChecks) is listed last by HAProxy.
        .sort((a, b) => num(a.sid) - num(b.sid))
        .map((row) => ({
          backend,
          server: row.svname ?? '',
          admin: lines.get(row.svname ?? '')?.admin ?? 'ready',
          status: row.status ?? '',
          health: health(row.status ?? ''),
          checkStatus: (row.check_status ?? '').replace(/^\* /, ''),
          checkPassing: /^(\* )?L[4-7]OK$/.test(row.check_status ?? ''),
          checkCode: row.check_code ? Number(row.check_code) : undefined,
          currentSessions: num(row.scur),
          queuedSessions: num(row.qcur),
          figures: figures(row),
          weight: num(row.weight),
          rampingUp: lines.get(row.svname ?? '')?.starting ?? false,
          secondsSinceChange: num(row.lastchg),
          checksHeld: lines.get(row.svname ?? '')?.checkPort === heldCheckPort,
        }))
    );
  }

  async frontend(name: string): Promise<FrontendState> {
    checkName(name);
    const stat = await this.command('show stat -1 1 -1');
    const row = stat.startsWith('# ') ? parseStatCsv(stat, name).find((r) => r.svname === 'FRONTEND') : undefined;
    if (!row) throw badInput(`HAProxy has no frontend named ${name}`, 'Check the service name against the fleet file.');
    return {
      frontend: name,
      status: row.status ?? '',
      currentSessions: num(row.scur),
      requestErrors: num(row.ereq),
      deniedRequests: num(row.dreq),
      figures: figures(row),
    };
  }

  async counters(service: string): Promise<ServiceCounters> {
    checkName(service);
    // Frontends (1) and servers (4) in one answer: both sides of the comparison from one moment.
    const stat = await this.command('show stat -1 5 -1');
    if (!stat.startsWith('# '))
      throw new ZerodownError('failed', `unexpected answer from HAProxy to "show stat": ${stat.slice(0, 200)}`);
    const rows = parseStatCsv(stat, service);
    const frontend = rows.find((row) => row.svname === 'FRONTEND');
    if (!frontend)
      throw badInput(`HAProxy has no frontend named ${service}`, 'Check the service name against the fleet file.');
    return {
      frontend: figures(frontend),
      servers: rows
        .filter((row) => row.type === '2')
        .map((row) => ({ server: row.svname ?? '', status: row.status ?? '', figures: figures(row) })),
    };
  }

  /**
   * Each server's runtime weight, its configured (initial) weight and its id, from `show servers
   * state` (fields srv_uweight, srv_iweight and srv_id). Used by the canary (docs/canary.md), and
   * to re-create a server as it was (restartChecks).
   */
  async weights(backend: string): Promise<Map<string, { weight: number; initial: number; id: number }>> {
    checkName(backend);
    const answer = await this.command(`show servers state ${backend}`);
    if (/Can't find backend/i.test(answer))
      throw badInput(`HAProxy has no backend named ${backend}`, 'Check the service name against the fleet file.');
    return new Map(
      [...parseServersState(answer)].map(([name, line]) => [
        name,
        { weight: line.weight, initial: line.initialWeight, id: line.id },
      ]),
    );
  }

  /**
   * Sets several servers' weights (0..256), one runtime API command each, in the order given (a
   * few milliseconds in all; the canary's own weight comes first). Idempotent.
   */
  async setWeights(backend: string, weights: Record<string, number>): Promise<void> {
    for (const [server, weight] of Object.entries(weights))
      if (!Number.isInteger(weight) || weight < 0 || weight > 256)
        throw badInput(`weight ${weight} for ${backend}/${server} is not a whole number from 0 to 256`);
    for (const [server, weight] of Object.entries(weights)) {
      await this.expectEmptyAnswer(`set weight ${serverPath({ backend, server })} ${weight}`);
    }
  }

  /**
   * Adds the server back as the config makes it, then drains it with its health down: added at run
   * time it starts in maintenance, so it takes no traffic until re-admission. One that exists
   * already (added back by another caller) is left as it is.
   */
  private async addDrained(ref: ServerRef, spec: ServerSpec, weight?: number): Promise<void> {
    const path = serverPath(ref);
    const weighted = weight === undefined ? '' : ` weight ${weight}`;
    const answer = await this.command(
      `add server ${path} ${spec.address}:${spec.port}${weighted} check ${spec.keywords}`,
    );
    if (/Already exists/.test(answer)) return;
    if (!/New server registered/.test(answer))
      throw new ZerodownError(
        'failed',
        `HAProxy did not add back server ${path}: ${answer.trim()}`,
        'Restart HAProxy from its config (zerodown fleet repair, or a reload), which lists every server.',
      );
    await this.commandLine([
      `enable health ${path}`,
      `set server ${path} state drain`,
      `set server ${path} health down`,
    ]);
  }

  /** Sends one raw runtime API command and returns HAProxy's answer as it is. */
  command(command: string): Promise<string> {
    return runtimeCommand(this.socketPath, command, this.timeoutMs);
  }

  /** Sends several commands in one line (runtimeCommands) and returns HAProxy's answers as they are. */
  private commandLine(commands: string[]): Promise<string> {
    return runtimeCommands(this.socketPath, commands, this.timeoutMs);
  }

  private async setState(ref: ServerRef, state: AdminState): Promise<void> {
    // Setting the state a server already has is a no-op in HAProxy, so retries are safe.
    await this.expectEmptyAnswer(`set server ${serverPath(ref)} state ${state}`);
  }

  private async expectEmptyAnswer(command: string): Promise<void> {
    const answer = (await this.command(command)).trim();
    if (answer === '') return;
    if (/No such (backend|server)/i.test(answer)) {
      throw badInput(
        `HAProxy refused "${command}": ${answer}`,
        'Check the service and instance names against the fleet file.',
      );
    }
    throw new ZerodownError('failed', `HAProxy refused "${command}": ${answer}`);
  }
}

function serverPath(ref: ServerRef): string {
  checkName(ref.backend);
  checkName(ref.server);
  return `${ref.backend}/${ref.server}`;
}

/** Names go into runtime API commands, so nothing but name characters may pass. */
function checkName(name: string): void {
  if (!namePattern.test(name)) throw badInput(`"${name}" is not a valid HAProxy backend or server name`);
}
