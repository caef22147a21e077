/** Types of scripts/workflow-bundle.mjs, for the test harness (scripts/test.ts). */
export function withoutSourcesContent(code: string): string;
export function asciiOnly(code: string): string;
