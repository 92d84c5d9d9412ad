/**
 * Once per run and vitest project: a temp root for every test directory (test/helpers/tmp.ts), removed at the end
 * of the run. For the interop project it also starts, in the background, what many suites used to build for
 * themselves: dist/ (tsc, so no test compiles while another runs dist/cli/main.cjs) and the default example repo.
 * Tests start at once; the helpers (`ensureBuilt`, `sideload`, `makeExampleRepo`) wait for these builds.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { distOnce, exampleKey, exampleOnce } from '../helpers/build-fixtures.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), `sideload-run-${project.name || 'tests'}-`));
  const fixtures = path.join(root, 'fixtures');
  await fs.mkdir(fixtures);
  project.provide('sideloadTmp', root);
  project.provide('sideloadFixtures', fixtures);
  // Records of passed GPG checks (src/sign/check-records.ts) go in the run's temp root, not the user's home; the
  // forks that run the tests, and the CLI they start, inherit it.
  process.env['SIDELOAD_CACHE_DIR'] ??= path.join(root, 'cache');
  const pending: Array<Promise<unknown>> = [];
  if (project.name === 'interop') {
    // Failures are recorded for the tests that wait on them (they fail naming the build's error).
    pending.push(distOnce(fixtures).catch(() => undefined));
    pending.push(exampleOnce(fixtures, exampleKey({}) as string, {}).catch(() => undefined));
    // Watch mode: src/ may have changed since; the next run compiles dist/ again (the example repo stays).
    project.onTestsRerun(async () => {
      for (const m of ['dist.done', 'dist.failed', 'dist.lock'])
        await fs.rm(path.join(fixtures, m), { recursive: true, force: true });
      pending.push(distOnce(fixtures).catch(() => undefined));
    });
  }
  return async () => {
    await Promise.all(pending);
    if (process.env['SIDELOAD_KEEP_TMP']) process.stdout.write(`test temp dirs kept in ${root}\n`);
    else
      await fs.rm(root, { recursive: true, force: true }).catch((e: Error) => {
        // e.g. a mount a failed test left behind; say so rather than fail the run
        process.stderr.write(`could not remove the test temp root ${root}: ${e.message}\n`);
      });
  };
}
