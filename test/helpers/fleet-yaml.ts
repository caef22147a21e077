/**
 * The pieces every test fleet file repeats: the head that keeps builds, state and the signing key
 * inside the fleet's own folder, and a service's loopback instances named `<service>-1`, `-2`, ….
 */

/** The fleet file's first lines: `builds/`, `state/` and `keys/zerodown.pub` beside the file. */
export const fleetFileHead = ['buildsRoot: builds', 'stateDir: state', 'signing: { publicKey: keys/zerodown.pub }'];

/** A service's `instances:` block at `ports`, spread round robin over `hosts`, indented for a service of `services:`. */
export function instanceLines(
  service: string,
  ports: readonly number[],
  hosts: readonly string[] = ['local'],
): string[] {
  return [
    '    instances:',
    ...ports.map(
      (port, i) =>
        `      - { name: ${service}-${i + 1}, host: ${hosts[i % hosts.length]}, address: 127.0.0.1, port: ${port} }`,
    ),
  ];
}
