/**
 * A vitest reporter that adds one plain closing line, `N passed, N failed, N skipped`, after the default
 * reporter's summary, so CI logs state the counts in a fixed form. A test file or suite that failed on its own
 * (an import error, a failing beforeAll) without any failed test inside counts as one failure, so the line
 * never says "0 failed" for a red run.
 */
import type { Reporter } from 'vitest/reporters';

type Task = { type: string; name?: string; mode?: string; result?: { state?: string }; tasks?: Task[] };

export default class SummaryReporter implements Reporter {
  onFinished(files: Task[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const broken: string[] = [];
    /** Walks a task; returns the number of failed tests below it. */
    const walk = (t: Task): number => {
      if (t.type === 'test') {
        const state = t.result?.state;
        if (state === 'pass') passed++;
        else if (state === 'fail') failed++;
        else if (t.mode === 'skip' || t.mode === 'todo' || state === 'skip') skipped++;
        return state === 'fail' ? 1 : 0;
      }
      let below = 0;
      for (const c of t.tasks ?? []) below += walk(c);
      if (t.result?.state === 'fail' && below === 0) {
        failed++;
        broken.push(t.name ?? '(unnamed)');
        return 1;
      }
      return below;
    };
    for (const f of files) walk(f);
    const note = broken.length
      ? ` (${broken.length} of them a file or suite that failed outside its tests: ${broken.join(', ')})`
      : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped${note}\n`);
  }
}
