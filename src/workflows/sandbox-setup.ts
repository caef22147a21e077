/**
 * Runs once in each worker thread's workflow sandbox, before the SDK freezes the sandbox's globals
 * (the bundle's `preloadModules`, src/temporal/workflow-bundle.ts), so workflow code cannot change it.
 *
 * No stack frames in workflow code: the SDK formats a stack trace for every promise workflow code
 * creates, only for the Web UI's "Stack Trace" tab, and that was 15–30 % of the CPU a replayed
 * deployment takes (`npm run bench:workflow`). The tab is empty, and an error thrown here
 * keeps its message without frames; `ZERODOWN_WORKFLOW_STACK_TRACES=1` keeps the SDK's default
 * (docs/architecture.md, "No stack frames in the workflow sandbox").
 */
Error.stackTraceLimit = 0;
