/**
 * The one temp-dir helper. Every test directory goes below the run's root (made by test/setup/global-setup.ts,
 * one per vitest project), and the globalSetup teardown removes the whole root when the run ends, passed or
 * failed: nothing is left in /tmp. SIDELOAD_KEEP_TMP=1 keeps it (the path is printed) for a post-mortem.
 * Outside that setup (a helper used from another config) a per-process root is made and removed at exit.
 */
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's temp root (removed by the globalSetup teardown). */
    sideloadTmp: string;
    /** Where once-per-run fixtures (dist/ build marker, example repos) live. */
    sideloadFixtures: string;
  }
}

let fallback: string | null = null;

/** The run's temp root. */
export function tmpRoot(): string {
  let root: string | undefined;
  try {
    root = inject('sideloadTmp');
  } catch {
    root = undefined; // not inside a vitest worker
  }
  if (root) return root;
  if (!fallback) {
    const dir = fsSync.mkdtempSync(path.join(os.tmpdir(), 'sideload-run-'));
    fallback = dir;
    if (!process.env['SIDELOAD_KEEP_TMP'])
      process.on('exit', () => fsSync.rmSync(dir, { recursive: true, force: true }));
  }
  return fallback;
}

/** Once-per-run fixtures directory, or null outside the globalSetup. */
export function fixturesRoot(): string | null {
  try {
    return inject('sideloadFixtures') || null;
  } catch {
    return null;
  }
}

/** A fresh, empty directory below the run's temp root; removed with the root when the run ends. */
export async function tempDir(prefix = 'sideload-test-'): Promise<string> {
  return fs.mkdtemp(path.join(tmpRoot(), prefix));
}
