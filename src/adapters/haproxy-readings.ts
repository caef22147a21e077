// What zerodown reads from HAProxy's answers: the lines of `show servers state`, and a `show stat`
// row's traffic figures and health (the rows themselves: parseStatCsv, haproxy-socket.ts).
import type { AdminState, ServerState, TrafficFigures } from './load-balancer.ts';

/** Admin-state bits of `show servers state` (HAProxy's enum srv_admin). */
const maintBits = 0x01 | 0x02 | 0x04 | 0x20;
const drainBits = 0x08 | 0x10;

/** What zerodown reads of one server's line of `show servers state <backend>`. */
export interface ServerStateLine {
  /** srv_id: its place in the backend, kept when the server is re-created (restartChecks). */
  id: number;
  admin: AdminState;
  /** srv_op_state 1, STARTING: back up and still in `slowstart`, its weight still growing (docs/rollback.md). */
  starting: boolean;
  /** srv_uweight and srv_iweight: the runtime weight and the configured one. */
  weight: number;
  initialWeight: number;
  /** srv_check_port: 0 for the server's own port; the held port while checks are held (holdChecksFailing). */
  checkPort: number;
}

/**
 * The servers of `show servers state <backend>`, by name. Its first line is a version number, then
 * a header (`# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
 * srv_iweight … srv_port srvrecord srv_use_ssl srv_check_port …`), then one line per server.
 */
export function parseServersState(answer: string): Map<string, ServerStateLine> {
  const servers = new Map<string, ServerStateLine>();
  const lines = answer.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [id, bits, weight, initialWeight] = [fields[2], fields[6], fields[7], fields[8]].map(Number);
    const name = fields[3];
    if (name === undefined || ![id, bits, weight, initialWeight].every(Number.isInteger)) continue;
    servers.set(name, {
      id: id!,
      admin: bits! & maintBits ? 'maint' : bits! & drainBits ? 'drain' : 'ready',
      starting: fields[5] === '1',
      weight: weight!,
      initialWeight: initialWeight!,
      checkPort: Number(fields[21]),
    });
  }
  return servers;
}

/** HAProxy shows `UP 1/2`-style fractions while rise/fall counting is under way. */
export function health(status: string): ServerState['health'] {
  if (/^(UP|DRAIN)$/.test(status)) return 'up';
  if (status === 'DOWN' || status === 'NOLB') return 'down';
  if (/^(UP|DOWN|DRAIN|NOLB) \d+\/\d+$/.test(status)) return 'changing';
  if (status === 'no check') return 'unchecked';
  return 'unknown';
}

export function figures(row: Record<string, string>): TrafficFigures {
  return {
    total: num(row.req_tot) || num(row.stot),
    http2xx: num(row.hrsp_2xx),
    http4xx: num(row.hrsp_4xx),
    http5xx: num(row.hrsp_5xx),
    connectionErrors: num(row.econ),
    responseErrors: num(row.eresp),
    retries: num(row.wretr),
    redispatches: num(row.wredis),
    queueTimeMs: num(row.qtime),
    connectTimeMs: num(row.ctime),
    responseTimeMs: num(row.rtime),
    totalTimeMs: num(row.ttime),
  };
}

export function num(value: string | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}
