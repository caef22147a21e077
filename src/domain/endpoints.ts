/**
 * Which listen addresses can clash. Strings alone cannot tell: `localhost:39101` and
 * `127.0.0.1:39101` are the same socket, and `0.0.0.0:39101` takes the port on every IPv4
 * address. Pure (no node:net), because workflow code imports the domain.
 */

/** Any IPv4 address (0.0.0.0) and any address at all (::). */
const anyIPv4 = '*4';
const anyAddress = '*';

function ipv4(text: string): string | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.map(Number).join('.');
}

function ipv6(text: string): string | undefined {
  if (!/^[0-9a-f:]+$/.test(text) || text.split('::').length > 2) return undefined;
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16).toString(16)).join(':');
}

/** The addresses a listen address stands for, in one spelling each. */
export function canonicalAddresses(address: string): string[] {
  const a = address
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  if (a === 'localhost') return ['127.0.0.1', '0:0:0:0:0:0:0:1'];
  const v4 = ipv4(a) ?? (a.startsWith('::ffff:') ? ipv4(a.slice(7)) : undefined);
  if (v4) return [v4 === '0.0.0.0' ? anyIPv4 : v4];
  const v6 = ipv6(a);
  if (v6) return [v6 === '0:0:0:0:0:0:0:0' ? anyAddress : v6];
  return [a];
}

const isIPv4 = (a: string) => a === anyIPv4 || ipv4(a) !== undefined;

function overlaps(a: string, b: string): boolean {
  if (a === b || a === anyAddress || b === anyAddress) return true;
  return (a === anyIPv4 && isIPv4(b)) || (b === anyIPv4 && isIPv4(a));
}

/** Whether two listen addresses on the same host and port would take the same socket. */
export function addressesClash(a: string, b: string): boolean {
  const left = canonicalAddresses(a);
  const right = canonicalAddresses(b);
  return left.some((x) => right.some((y) => overlaps(x, y)));
}
