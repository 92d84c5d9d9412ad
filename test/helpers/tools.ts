/**
 * The one gate for tests that need something outside Node (ostree, flatpak, gpg, openssl, /proc …): without it
 * the suite or test is skipped and says why; under CI=true a missing need is a failing test, never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { describe, it, type TestContext } from 'vitest';

export const isCI = process.env['CI'] === 'true';

const known = new Map<string, boolean>();
/** True when `cmd` is on PATH (cached). */
export function hasTool(cmd: string): boolean {
  let ok = known.get(cmd);
  if (ok === undefined) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
      ok = true;
    } catch {
      ok = false;
    }
    known.set(cmd, ok);
  }
  return ok;
}

/** The tools of `tools` that are not installed. */
export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((t) => !hasTool(t));
}

/**
 * `describe` that runs when `missing` is empty; otherwise skipped with the reason, or under CI=true one failing
 * test naming what is missing.
 */
export function describeUnless(missing: readonly string[], name: string, fn: () => void): void {
  if (missing.length === 0) describe(name, fn);
  else if (isCI)
    describe(name, () => {
      it(`needs ${missing.join(', ')}`, () => {
        throw new Error(
          `${missing.join(', ')} missing and CI=true: CI must provide ${missing.join(', ')} (.ci/run installs the tools)`,
        );
      });
    });
  else describe.skip(`${name} (skipped: needs ${missing.join(', ')})`, fn);
}

/** `describe` for suites that need these executables on PATH. */
export function describeWithTools(tools: readonly string[], name: string, fn: () => void): void {
  describeUnless(missingTools(tools), name, fn);
}

/**
 * Inside a test: stop here unless `available`. Skips with `what` as the reason, or fails under CI=true.
 * `what` names the need (`/proc/sys/kernel/random/boot_id`, `python3 with gi`).
 */
export function requireOrSkip(ctx: TestContext, available: boolean, what: string): void {
  if (available) return;
  if (isCI) throw new Error(`needs ${what}, missing, and CI=true`);
  ctx.skip(`needs ${what}`);
}
