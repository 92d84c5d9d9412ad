/**
 * Fixtures built once per test run and shared by every test process: the first caller of `once(dir, key, build)`
 * (the globalSetup, for the ones it starts ahead) takes a lock (`<key>.lock`, an mkdir) and builds; every other
 * caller, in any worker process, waits for its `<key>.done` marker, or fails with the build's error from
 * `<key>.failed`. No vitest import: the globalSetup (main process) and the test workers both use it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

const POLL_MS = 100;

/** Builds `<dir>/<key>` once per run (see the module comment); resolves to that path. */
export async function once(
  dir: string,
  key: string,
  build: (out: string) => Promise<void>,
  timeoutMs = 15 * 60_000,
): Promise<string> {
  const out = path.join(dir, key);
  const done = `${out}.done`;
  const failed = `${out}.failed`;
  const exists = (p: string) =>
    fs.access(p).then(
      () => true,
      () => false,
    );
  if (await exists(done)) return out;
  let mine = false;
  try {
    await fs.mkdir(`${out}.lock`, { recursive: false });
    mine = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if (mine) {
    try {
      await build(out);
    } catch (e) {
      await fs.writeFile(failed, (e as Error).stack ?? String(e));
      throw e;
    }
    await fs.writeFile(done, '');
    return out;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await exists(done)) return out;
    const err = await fs.readFile(failed, 'utf8').catch(() => null);
    if (err !== null)
      throw new Error(`shared test fixture '${key}' failed to build (in another test process):\n${err}`);
    if (Date.now() > deadline)
      throw new Error(`shared test fixture '${key}' not built after ${timeoutMs} ms (lock ${out}.lock)`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
