import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes that make deployments findable in the Web UI and by `zerodown list`. */
export const serviceKey = defineSearchAttributeKey('ZerodownService', SearchAttributeType.KEYWORD);
export const versionKey = defineSearchAttributeKey('ZerodownVersion', SearchAttributeType.KEYWORD);
export const phaseKey = defineSearchAttributeKey('ZerodownPhase', SearchAttributeType.KEYWORD);
/** The fleet file's environment (`default` for a file without environments); set when the run starts. */
export const environmentKey = defineSearchAttributeKey('ZerodownEnvironment', SearchAttributeType.KEYWORD);

/** Every custom attribute zerodown needs registered on its namespace. All are Keyword. */
export const customSearchAttributes = [serviceKey, versionKey, phaseKey, environmentKey] as const;
