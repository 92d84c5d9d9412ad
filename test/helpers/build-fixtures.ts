/**
 * What the interop suites used to rebuild in every test file, built once per run instead (test/setup/global-setup.ts
 * starts them ahead; `once` makes every other caller wait for that result): the compiled CLI in dist/, and the
 * example repos of scripts/make-example-repo.sh. No vitest import (the globalSetup uses it).
 */
import path from 'node:path';
import { runOk } from './process.js';
import { once } from './run-once.js';
import { projectRoot } from './shared.js';

export interface ExampleOptions {
  arches?: string[];
  bigMb?: number;
}

/** Compiles src/ to dist/ (tsconfig.build.json). */
export async function buildDist(): Promise<void> {
  await runOk(process.execPath, [
    path.join(projectRoot, 'node_modules/typescript/bin/tsc'),
    '-p',
    path.join(projectRoot, 'tsconfig.build.json'),
  ]);
  // The CLI as shipped: main.cjs and the copy worker bundled (scripts/bundle.mjs, what `npm run build` runs).
  await runOk(process.execPath, [path.join(projectRoot, 'scripts/bundle.mjs')]);
}

/** The arguments make-example-repo.sh takes for `opts` (after OUT_DIR). */
export function exampleArgs(opts: ExampleOptions): string[] {
  return [
    ...(opts.arches ?? []).flatMap((a) => ['--arch', a]),
    ...(opts.bigMb ? ['--big-mb', String(opts.bigMb)] : []),
  ];
}

/** The shared-fixture name of an example repo variant, or null when it must be built fresh (random content). */
export function exampleKey(opts: ExampleOptions): string | null {
  if (opts.bigMb) return null; // --big-mb writes /dev/urandom bytes: every caller gets its own
  return ['example', ...(opts.arches ?? [])].join('-');
}

/** Runs make-example-repo.sh into `dir`; stops the gpg-agent it started, so the directory can be copied. */
export async function buildExample(dir: string, opts: ExampleOptions, extra: readonly string[] = []): Promise<void> {
  await runOk('bash', [path.join(projectRoot, 'scripts/make-example-repo.sh'), dir, ...exampleArgs(opts), ...extra]);
}

/** Stops the gpg-agent of an example repo's gpghome (its sockets go with it). */
export async function stopAgent(dir: string): Promise<void> {
  await runOk('gpgconf', ['--homedir', path.join(dir, 'gpghome'), '--kill', 'gpg-agent']).catch(() => undefined);
}

/** dist/, built once per run under `fixtures`. */
export function distOnce(fixtures: string): Promise<string> {
  return once(fixtures, 'dist', () => buildDist());
}

/** The pristine example repo variant `key`, built once per run under `fixtures`; callers copy it. */
export function exampleOnce(fixtures: string, key: string, opts: ExampleOptions): Promise<string> {
  return once(fixtures, key, async (out) => {
    await buildExample(out, opts);
    await stopAgent(out);
  });
}
