import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { CanaryActivities } from '../../src/activities/canary.ts';
import type { ServicePolicy } from '../../src/activities/governance.ts';
import type { BlueGreenActivities, BlueGreenInstanceActivities, createActivities } from '../../src/activities/index.ts';
import { createNotifyActivities, type NotifyActivities } from '../../src/activities/notify.ts';
import { deploymentSpec, type DeploymentSpec, type DeploymentSpecInput } from '../../src/domain/deployment.ts';
import { failureTypes } from '../../src/domain/errors.ts';
import { planFreeze } from '../../src/domain/rollback.ts';
import type { GateResult } from '../../src/domain/gates.ts';
import type { ServiceRole } from '../../src/domain/roles.ts';
import { roleTriggers } from '../../src/domain/triggers.ts';
import type { RecordInput } from '../../src/records/records.ts';
import { type RoundParts, validationRoundOf } from '../../src/activities/validation-round.ts';

/**
 * An in-memory fleet behind a stand-in for every activity, for fast workflow tests of rules that
 * need no real system (pause points, refusals, triggers, validation, the fleet watch). The real
 * end-to-end tests (rolling-deployment, rollback, operator-commands) stay the proof that the
 * activities do what these stand-ins pretend. Typed as the real activity set, so a renamed or
 * reshaped activity breaks the type check here rather than silently skipping a test.
 */

export interface FakeInstance {
  name: string;
  installed: string;
  /** The version the process runs; meaningful only while `running`. */
  version: string;
  running: boolean;
  admin: 'ready' | 'drain' | 'maint';
  /** HAProxy's settled view; the fake settles at once: UP while running and ready. */
  ready: boolean;
  /** A non-api instance told to stop taking work (docs/roles.md). */
  quiesced?: boolean;
}

export interface FakeFleetOptions {
  instances?: number;
  version?: string;
  /** Versions with a signed artifact (default: the running version and `2.0.0`). */
  artifacts?: string[];
  /** Versions whose readiness fails once started. */
  unready?: string[];
  /** Fraction of requests that fail on instances running a version (default 0). */
  errorRates?: Record<string, number>;
  /** Versions the applied schema no longer suits (their verifyMigrations is refused). */
  schemaRefuses?: string[];
  /** What the environment's gates find (default: no gate required). */
  gates?: GateResult[];
  /** The service's role (default api); non-api roles quiesce and confirm instead of drain and readmit. */
  role?: ServiceRole;
  /** Versions that pass their health check but never take work (confirmWorking fails with the role's trigger). */
  notWorking?: string[];
  /** Called after an instance is back in the load balancer, to script what happens next. */
  afterReadmit?: (instance: FakeInstance, fleet: FakeFleet) => void;
  /** The approval policy and webhooks the worker's fleet file would give (default: none). */
  policy?: ServicePolicy;
  /** The fleet file's policy does not read: servicePolicy fails with this message, as for a bad operator key. */
  policyProblem?: string;
  /** Manual verification (docs/verification.md): latency each version's instances report, and their log's error lines. */
  verification?: { latency?: Record<string, { p50Ms: number; p99Ms: number }>; logErrors?: Record<string, string[]> };
}

export class FakeFleet {
  readonly service = `fast-${randomUUID().slice(0, 8)}`;
  readonly instances: FakeInstance[];
  readonly artifacts: Set<string>;
  /** Every activity call, in order: `name instance?`. */
  readonly calls: string[] = [];
  /** Each records write the workflow sent: how many events it carried, and whether it closed the run. */
  readonly recordWrites: Array<{ events: number; end: boolean }> = [];
  private traffic = { total: 0, failed: 0 };

  constructor(readonly options: FakeFleetOptions = {}) {
    const version = options.version ?? '1.0.0';
    this.artifacts = new Set(options.artifacts ?? [version, '2.0.0']);
    this.instances = Array.from({ length: options.instances ?? 3 }, (_, i) => ({
      name: `${this.service}-${i + 1}`,
      installed: version,
      version,
      running: true,
      admin: 'ready',
      ready: true,
    }));
  }

  instance(name: string): FakeInstance {
    const found = this.instances.find((i) => i.name === name);
    if (!found) throw ApplicationFailure.nonRetryable(`no instance ${name} in ${this.service}`, 'UnknownInstance');
    return found;
  }

  /** SIGKILL, as far as the fleet can tell. */
  kill(name: string): void {
    this.instance(name).running = false;
  }

  up(i: FakeInstance): boolean {
    return i.running && i.ready;
  }

  status(i: FakeInstance): string {
    if (i.admin === 'maint') return 'MAINT';
    if (!this.up(i)) return 'DOWN';
    return i.admin === 'drain' ? 'DRAIN' : 'UP';
  }

  /** One more sample window: 100 requests spread over the serving instances. */
  sample(): { total: number; failed: number } {
    const serving = this.instances.filter((i) => i.admin === 'ready' && this.up(i));
    this.traffic.total += 100;
    for (const i of serving)
      this.traffic.failed += Math.round((100 / serving.length) * (this.options.errorRates?.[i.version] ?? 0));
    return { ...this.traffic };
  }

  /** The spec a deployment of this fleet is started with (tests override what they need). */
  spec(taskQueue: string, overrides: Partial<DeploymentSpecInput> & { version: string }): DeploymentSpec {
    return deploymentSpec.parse({
      service: this.service,
      role: this.options.role ?? 'api',
      instances: this.instances.map((i) => ({ instance: i.name, host: 'local', taskQueue })),
      loadBalancerTaskQueue: taskQueue,
      bakeSeconds: 0,
      requestedBy: 'fast-test',
      ...overrides,
    });
  }
}

// Webhook deliveries are real (to loopback receivers the tests start); everything else is faked.
// Blue-green and the canary's weights are proven against real HAProxy only
// (test/workflows/blue-green.test.ts, test/workflows/canary.test.ts): not faked.
type Activities = Omit<
  ReturnType<typeof createActivities>,
  keyof NotifyActivities | keyof BlueGreenActivities | keyof BlueGreenInstanceActivities | keyof CanaryActivities
>;
/** The activities' signatures without the promise: the fake answers at once. */
type Immediate<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

/** Each answer (or throw) delivered as an activity's settled promise. */
function asActivities(immediate: Omit<Immediate<Activities>, 'validationRound'>): Omit<Activities, 'validationRound'> {
  return Object.fromEntries(
    Object.entries(immediate).map(([name, answer]) => [
      name,
      (...args: unknown[]) => Promise.resolve().then(() => (answer as (...a: unknown[]) => unknown)(...args)),
    ]),
  ) as Omit<Activities, 'validationRound'>;
}

/** Adds the one-activity validation round (activities/validation-round.ts) over `activities`' own parts. */
export function withRound<T extends RoundParts>(
  activities: T,
): T & { validationRound: ReturnType<typeof validationRoundOf> } {
  return { ...activities, validationRound: validationRoundOf(activities) };
}

/** Activities over every fake fleet in `fleets`, found by service name; one worker serves them all. */
export function fakeActivities(fleets: Map<string, FakeFleet>): Activities & NotifyActivities {
  const fleetOf = (service: string, call: string, instance?: string) => {
    const fleet = fleets.get(service);
    if (!fleet) throw ApplicationFailure.nonRetryable(`no fake fleet ${service}`, 'UnknownService');
    fleet.calls.push(instance ? `${call} ${instance}` : call);
    return fleet;
  };
  const on = (service: string, call: string, instance: string) => {
    const fleet = fleetOf(service, call, instance);
    return { fleet, i: fleet.instance(instance) };
  };
  const servers = (fleet: FakeFleet) =>
    fleet.instances.map((i) => ({
      server: i.name,
      admin: i.admin,
      status: fleet.status(i),
      checkStatus: fleet.up(i) ? 'L7OK' : i.running ? 'L7STS' : 'L4CON',
    }));

  /** Back in rotation only when its checks pass, like zerodown's readmit; the sample when asked. */
  const readmitted = (fleet: FakeFleet, i: FakeInstance, timeoutMs: number, sampleAfter?: boolean) => {
    if (!fleet.up(i))
      throw ApplicationFailure.nonRetryable(
        `${fleet.service}/${i.name} did not pass the load balancer's health check within ${timeoutMs} ms`,
        failureTypes.readmitTimeout,
      );
    i.admin = 'ready';
    fleet.options.afterReadmit?.(i, fleet);
    return sampleAfter ? { sample: fleet.sample() } : {};
  };
  const install = (fleet: FakeFleet, i: FakeInstance, version: string) => {
    if (!fleet.artifacts.has(version))
      throw ApplicationFailure.nonRetryable(
        `no signed artifact of ${fleet.service} ${version}`,
        failureTypes.artifactInvalid,
      );
    i.installed = version;
  };
  const restart = (fleet: FakeFleet, i: FakeInstance, version: string) => {
    if (i.running && i.version === version) return { restartMs: 0 };
    Object.assign(i, { running: true, version: i.installed, ready: !fleet.options.unready?.includes(i.installed) });
    return { restartMs: 1 };
  };
  const check = (i: FakeInstance, instance: string, version: string, timeoutMs: number) => {
    if (!i.running || !i.ready || i.version !== version)
      throw ApplicationFailure.nonRetryable(
        `instance ${instance} failed its health check for ${version} within ${timeoutMs} ms: readiness answered 503`,
        failureTypes.instanceUnhealthy,
      );
  };

  const observed = (fleet: FakeFleet, instances: { instance: string }[]) =>
    instances.map(({ instance }) => {
      const i = fleet.instance(instance);
      // A fake worker reports the figures of docs/roles.md: the live view shows them.
      const figures =
        fleet.options.role === 'worker'
          ? { roleStatus: { processed: 7, failed: 0, active: 1, consuming: !i.quiesced } }
          : {};
      return i.running
        ? {
            instance,
            running: true,
            ready: i.ready,
            ...(i.ready ? {} : { readiness: '503' }),
            version: i.version,
            ...figures,
          }
        : { instance, running: false, ready: false, version: undefined };
    });
  const smoked = (fleet: FakeFleet, version: string) => {
    const serving = fleet.instances.filter((i) => i.admin === 'ready' && fleet.up(i));
    const wrong = serving.find((i) => i.version !== version);
    if (serving.length === 0 || wrong)
      throw ApplicationFailure.nonRetryable(
        `smoke test failed: ${wrong ? `${wrong.name} reports ${wrong.version}` : 'nothing serves'}`,
        failureTypes.smokeTestFailed,
      );
    return { passed: 10 };
  };
  /** What a one-activity step looks at and smoke-tests once its instance is back (activities/instance-step.ts). */
  const afterStep = (
    fleet: FakeFleet,
    version: string,
    { lookAfter, smokeAfter }: { lookAfter?: { instance: string }[]; smokeAfter?: object },
  ) => {
    const look =
      lookAfter && lookAfter.length > 0
        ? {
            instances: observed(fleet, lookAfter),
            servers: servers(fleet).filter((s) => lookAfter.some((e) => e.instance === s.server)),
          }
        : undefined;
    let smoke: { passed: number } | { problem: string } | undefined;
    if (smokeAfter) {
      fleet.calls.push('smokeTest in step');
      try {
        smoke = smoked(fleet, version);
      } catch (error) {
        smoke = { problem: (error as Error).message };
      }
    }
    return { ...(look ? { look } : {}), ...(smoke ? { smoke } : {}) };
  };

  const parts: Omit<Immediate<Activities>, 'validationRound'> = {
    servicePolicy({ service }) {
      const { options } = fleetOf(service, 'servicePolicy');
      if (options.policyProblem) throw ApplicationFailure.nonRetryable(options.policyProblem, 'ApprovalPolicyInvalid');
      return options.policy ?? { webhooks: [] };
    },
    drainInstance({ service, instance }) {
      on(service, 'drainInstance', instance).i.admin = 'drain';
    },
    takeOutOfRotation({ service, instance }) {
      on(service, 'takeOutOfRotation', instance).i.admin = 'drain';
      return { waitedMs: 0 };
    },
    replaceOnHost({ service, instance, version, healthTimeoutMs, loadBalanced }) {
      const { fleet, i } = on(service, 'replaceOnHost', instance);
      // One activity for the whole step (activities/instance-step.ts): drain, host part, re-admission.
      if (loadBalanced) i.admin = 'drain';
      install(fleet, i, version);
      const restarted = restart(fleet, i, version);
      check(i, instance, version, healthTimeoutMs);
      if (!loadBalanced) return { ...restarted, healthMs: 1 };
      const { sample } = readmitted(fleet, i, loadBalanced.readmitTimeoutMs, loadBalanced.sampleAfter);
      return {
        ...restarted,
        healthMs: 1,
        drainMs: 0,
        readmitMs: 0,
        ...(sample ? { sample } : {}),
        ...afterStep(fleet, version, loadBalanced),
      };
    },
    waitForIdle({ service, instance }) {
      on(service, 'waitForIdle', instance);
      return { waitedMs: 0 };
    },
    readmitInstance({ service, instance, timeoutMs, sampleAfter }) {
      const { fleet, i } = on(service, 'readmitInstance', instance);
      return { waitedMs: 0, ...readmitted(fleet, i, timeoutMs, sampleAfter) };
    },
    trafficSample({ service }) {
      return fleetOf(service, 'trafficSample').sample();
    },
    servingInstances({ service }) {
      const fleet = fleetOf(service, 'servingInstances');
      const serving = fleet.instances.filter((i) => i.admin === 'ready' && fleet.up(i));
      return {
        serving: serving.map((i) => i.name),
        notServing: fleet.instances.filter((i) => !serving.includes(i)).map((i) => `${i.name} (${fleet.status(i)})`),
      };
    },
    freezeInstances({ service, instances, keepCount }) {
      const fleet = fleetOf(service, 'freezeInstances');
      const serving = fleet.instances.filter((i) => i.admin === 'ready' && fleet.up(i)).map((i) => i.name);
      const plan = planFreeze(instances, serving, keepCount);
      for (const name of plan.freeze) fleet.instance(name).admin = 'drain';
      return plan;
    },
    rampUpState({ service, instances }) {
      fleetOf(service, 'rampUpState');
      return instances.map((instance) => ({ instance, rampingUp: false, percent: 100, seconds: 0 }));
    },
    clearInstanceCache({ service, instance }) {
      on(service, 'clearInstanceCache', instance);
      return { instance, cleared: false, how: 'none' };
    },
    verifyArtifact({ service, version }) {
      if (!fleetOf(service, 'verifyArtifact').artifacts.has(version))
        throw ApplicationFailure.nonRetryable(
          `no signed artifact of ${service} ${version}`,
          failureTypes.artifactInvalid,
        );
      return { fileCount: 1 };
    },
    verifyMigrations({ service, version }) {
      if (fleetOf(service, 'verifyMigrations').options.schemaRefuses?.includes(version))
        throw ApplicationFailure.nonRetryable(
          `the applied schema no longer suits ${version}`,
          failureTypes.migrationRefused,
        );
      return { migrations: 0 };
    },
    smokeTest({ service, version }) {
      return smoked(fleetOf(service, 'smokeTest'), version);
    },
    archiveDeploymentLog({ status }) {
      fleetOf(status.service, 'archiveDeploymentLog');
      return { file: '(memory)' };
    },
    installArtifact({ service, instance, version }) {
      const { fleet, i } = on(service, 'installArtifact', instance);
      install(fleet, i, version);
    },
    restartInstance({ service, instance, version }) {
      const { fleet, i } = on(service, 'restartInstance', instance);
      return restart(fleet, i, version);
    },
    checkInstanceHealth({ service, instance, version, timeoutMs }) {
      check(on(service, 'checkInstanceHealth', instance).i, instance, version, timeoutMs);
      return { healthMs: 1 };
    },
    inspectInstance({ service, instance }) {
      const { i } = on(service, 'inspectInstance', instance);
      return { version: i.running ? i.version : undefined, running: i.running, installedVersion: i.installed };
    },
    observeInstances({ service, instances }) {
      return observed(fleetOf(service, 'observeInstances'), instances);
    },
    // The analysis's measurements: the fake keeps no counters, so every reading is a source error.
    readLoadBalancerCounters({ service }) {
      fleetOf(service, 'readLoadBalancerCounters');
      return { at: 0, error: 'the fake fleet keeps no counters' };
    },
    readInstanceStats({ service, instances }) {
      fleetOf(service, 'readInstanceStats');
      return {
        at: 0,
        instances: instances.map((instance) => ({ instance, error: 'the fake fleet keeps no figures' })),
      };
    },
    readVerificationFigures({ service, instances, since }) {
      const fleet = fleetOf(service, 'readVerificationFigures');
      const by = fleet.options.verification;
      return instances.map((name) => {
        const { version } = fleet.instance(name);
        const latency = by?.latency?.[version];
        const errors = by?.logErrors?.[version] ?? [];
        return {
          instance: name,
          ...(latency ? { latency } : {}),
          ...(since === undefined ? {} : { logErrors: { count: errors.length, lines: errors.slice(-5) } }),
        };
      });
    },
    loadBalancerServers({ service }) {
      return servers(fleetOf(service, 'loadBalancerServers'));
    },
    applyMigrations({ service }) {
      fleetOf(service, 'applyMigrations');
      return { skipped: true as const };
    },
    checkDatabase({ service }) {
      fleetOf(service, 'checkDatabase');
      return { checked: false, backfills: [] };
    },
    evaluateGates({ service, version, environment }) {
      const fleet = fleetOf(service, 'evaluateGates');
      return {
        environment,
        service,
        version,
        digest: `fake-${version}`,
        commit: 'fake',
        results: fleet.options.gates ?? [],
      };
    },
    runBackfill() {
      throw ApplicationFailure.nonRetryable('the fake fleet has no database', 'NoDatabase');
    },
    // Like a fleet file without `records`: nothing kept (test/records/ runs the real activities).
    recordDeployment: (input: RecordInput) => {
      const fleet = fleets.get(input.deployment.service);
      fleet?.calls.push('recordDeployment');
      fleet?.recordWrites.push({ events: input.events?.length ?? 0, end: input.end !== undefined });
      return { recorded: false, eventsWritten: 0 };
    },
    archiveRecords: () => ({ recorded: false as const }),
    quiesceInstance({ service, instance }) {
      const { fleet, i } = on(service, 'quiesceInstance', instance);
      i.quiesced = true;
      // A fake chain: the checkpoint a listener stops at is 100 blocks in, per instance.
      return fleet.options.role === 'listener'
        ? { waitedMs: 0, stoppedAt: { block: 100, hash: `0x${'ab'.repeat(32)}` } }
        : { waitedMs: 0 };
    },
    confirmWorking({ service, instance, version, stoppedAt }) {
      const { fleet, i } = on(service, 'confirmWorking', instance);
      if (!i.running || i.version !== version)
        throw ApplicationFailure.nonRetryable(`${instance} does not run ${version}`, failureTypes.instanceUnhealthy);
      i.quiesced = false;
      if (fleet.options.notWorking?.includes(version)) {
        const trigger =
          fleet.options.role === 'listener' ? roleTriggers.listenerStoppedAdvancing : roleTriggers.workerQueueStall;
        throw ApplicationFailure.nonRetryable(`${trigger}: ${instance} took no work`, failureTypes.roleNotWorking);
      }
      return { waitedMs: 0, proof: stoppedAt ? `resumed at block ${stoppedAt.block + 1}` : 'took work' };
    },
    validateRole({ service }) {
      const fleet = fleetOf(service, 'validateRole');
      return { checks: [`${fleet.options.role ?? 'api'} check passed`] };
    },
    probeStorage({ service }) {
      fleetOf(service, 'probeStorage');
      return { checks: [] };
    },
  };
  const faked = asActivities(parts);
  // The read-only round in one activity (activities/validation-round.ts) over these fakes, each part
  // recorded as its own call. A world that replaces some of them builds it again with `withRound`.
  return withRound({ ...faked, ...createNotifyActivities() });
}
