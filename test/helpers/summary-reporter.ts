/**
 * A vitest reporter that adds one plain closing line, `N passed, N failed, N skipped`, after the default
 * reporter's summary, so CI logs state the counts in a fixed form.
 */
import type { Reporter } from 'vitest/reporters';

type Task = { type: string; mode?: string; result?: { state?: string }; tasks?: Task[] };

export default class SummaryReporter implements Reporter {
  onFinished(files: Task[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const walk = (t: Task) => {
      if (t.tasks) for (const c of t.tasks) walk(c);
      if (t.type !== 'test') return;
      const state = t.result?.state;
      if (state === 'pass') passed++;
      else if (state === 'fail') failed++;
      else if (t.mode === 'skip' || t.mode === 'todo' || state === 'skip') skipped++;
    };
    for (const f of files) walk(f);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
