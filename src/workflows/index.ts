// Re-exports only: the worker bundles this file, so every workflow type is registered from here.
export { rollingDeployment } from './rolling-deployment.ts';
export { schemaBackfill } from './backfill.ts';
export { recordsRetention } from './retention.ts';
export { deliverNotification } from './notify.ts';
export { stagedDeployment } from './waves.ts';
