/**
 * Every activity zerodown registers, built from the clients it is given. The worker is the one
 * place that wires real clients in; tests hand in real local servers.
 */
export function createActivities(): Record<string, (...args: never[]) => Promise<unknown>> {
  return {};
}
