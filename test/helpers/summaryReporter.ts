/** Ends a test run with the plain line `N passed, N failed[, N skipped]` that CI reads in any language. */
import type { Reporter, RunnerTask, RunnerTestFile } from 'vitest';

function count(tasks: readonly RunnerTask[], tally: { passed: number; failed: number; skipped: number }): void {
  for (const task of tasks) {
    if (task.type === 'suite') {
      if (task.result?.state === 'fail' && task.tasks.length === 0) tally.failed += 1;
      count(task.tasks, tally);
    } else if (task.result?.state === 'pass') tally.passed += 1;
    else if (task.result?.state === 'fail') tally.failed += 1;
    else tally.skipped += 1;
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const tally = { passed: 0, failed: 0, skipped: 0 };
    count(files, tally);
    // A file that failed to load has no tests but did fail.
    tally.failed += files.filter((f) => f.result?.state === 'fail' && f.tasks.length === 0).length + errors.length;
    process.stdout.write(
      `\n${tally.passed} passed, ${tally.failed} failed${tally.skipped ? `, ${tally.skipped} skipped` : ''}\n`,
    );
  }
}
