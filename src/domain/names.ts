import * as z from 'zod';

/** A service name: lower-case, safe in paths, HAProxy backend names and task queues. */
export const serviceName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter');

/** An instance name, unique within the fleet; also its HAProxy server name. */
export const instanceName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter');

/** A host name as the fleet file names it ("local" is this machine). */
export const hostName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/, 'must be a host name (letters, digits, dots and dashes)');

/**
 * The longest version accepted: Docker's limit for an image tag, which a version often becomes.
 * It keeps every path zerodown derives from a version (`.building-<version>-<8 hex>` in the
 * builds root, `<version>-<16 hex>` release folders) far below the 255-byte name limit of
 * common file systems, so a long version is bad input, not an ENAMETOOLONG.
 */
export const maxVersionLength = 128;

/**
 * A version as it appears in artifact paths: semver-like, with no path separators, so
 * `<builds-root>/<service>/<version>/` can never escape the builds root.
 */
export const version = z
  .string()
  .max(maxVersionLength, `must be at most ${maxVersionLength} characters`)
  .regex(
    /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/,
    'must be a semantic version such as 1.4.2 or 1.5.0-rc.1',
  );
