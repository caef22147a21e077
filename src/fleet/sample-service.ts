import { fileURLToPath } from 'node:url';
import { type BuiltArtifact, buildArtifact } from '../artifacts/build.ts';

/** The sample service's source folder: packaged as an artifact like any other service. */
export const sampleServiceDir = fileURLToPath(new URL('./sample-service/', import.meta.url));

/** How a version of the sample service behaves; written as build/behavior.json. */
export interface SampleBehavior {
  /** `fail`: readiness always answers 503 (the "bad v3" that rollback tests need). */
  readiness?: 'ok' | 'fail';
  /** Time between listening (liveness) and ready. */
  startupDelayMs?: number;
  /** Time between SIGTERM (readiness fails) and closing the listener. */
  shutdownDelayMs?: number;
  /** This fraction (0–1) of API requests answer 500, in a fixed pattern (0.3: exactly 3 in every 10). */
  errorFraction?: number;
  /** Every API request answers this many milliseconds later. */
  addedLatencyMs?: number;
  /** The memory the process holds grows by this many bytes a second (a leak). */
  memoryGrowthBytesPerSecond?: number;
  /** The leak stops growing here (default 256 MiB, at most 1 GiB). */
  memoryGrowthLimitBytes?: number;
  /** API requests are accepted and never answered; health, status and cache endpoints still answer. */
  stall?: boolean;
  /** Readiness (and the status endpoint's `ready`) turns false this many seconds after the process started. */
  unreadyAfterSeconds?: number;
  /** One transient burst: `fraction` of API requests fail for `seconds`, from `afterSeconds` after its first API request. */
  errorBurst?: { afterSeconds: number; seconds: number; fraction: number };
  /** Readiness turns false while this file exists: a running version made unhealthy on cue (tests, demos). */
  unreadyWhenFileExists?: string;
}

/** The sample's cache endpoints: what the rollback's "clear invalid caches" step calls. */
export const sampleCachePaths = { show: '/api/cache', clear: '/api/cache/clear' } as const;

export interface SampleArtifactOptions {
  buildsRoot: string;
  service: string;
  version: string;
  privateKeyPath: string;
  behavior?: SampleBehavior;
  releaseNotes?: string;
  /** More files for `build/`, by relative path, e.g. `migrations/0001_add_email.sql` and `schema.json`. */
  extraBuildFiles?: Record<string, string>;
}

/** Builds and signs an artifact of the sample service at `version`. */
export function buildSampleArtifact(options: SampleArtifactOptions): Promise<BuiltArtifact> {
  const { behavior, extraBuildFiles, ...rest } = options;
  return buildArtifact({
    ...rest,
    from: sampleServiceDir,
    extraBuildFiles: { ...extraBuildFiles, ...(behavior ? { 'behavior.json': `${JSON.stringify(behavior)}\n` } : {}) },
  });
}
