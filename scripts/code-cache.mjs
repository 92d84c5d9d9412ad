#!/usr/bin/env node
// V8's code cache for the shipped command (src/code-cache.ts), run by scripts/bundle.mjs under the launcher's node
// flags. Both caches are made after src/cli/heap.ts's afterStartup has put the launcher's V8 flag back to its
// default, as launch.js does first: V8 refuses data made under other flags. A cache V8 refuses costs a run nothing
// but the cache's benefit.
//
// dist/cli/sideload.cache: the program, compiled, and warmed by a run. V8 compiles a function when it first runs,
// and only functions that have run are in a cache; the program's top level alone left the command's code to be
// compiled at every start. So the cache is taken after the program has run, in this process, what users run most
// often: `create` onto a drive that already has it all (a re-run; the drive is made first from the bundled example
// repo by the built command), which goes through start-up, the command line, opening a repo source, checking a GPG
// signature, reading the drive and planning. Re-run with nothing new on the bench's drive 222 -> 189 ms (15
// alternated runs), `--version` 88 -> 84 ms; the cache grows from ~230 to ~850 KiB. Should the warm-up fail, the
// cache is made from the top level alone, as before, and the build says so.
//
// dist/cli/openpgp.cache: OpenPGP.js as that run loaded it (sign/gpg.ts, mid-run) and left it, having checked the
// example's GPG signature (code-cache.ts writeLoadedCache); without the warm-up, compiled and run once (its module
// body only).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// No records of GPG checks (src/sign/check-records.ts): the warm-up's check must load OpenPGP.js, and a build writes
// nothing into the user's home.
process.env.SIDELOAD_CACHE_DIR = 'off';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli');
const { writeCodeCache, writeLoadedCache } = await import(path.join(root, 'dist/code-cache.js'));
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;

const { afterStartup } = await import(path.join(root, 'dist/cli/heap.js'));
afterStartup();

const program = path.join(cli, 'sideload.cjs');
const programCache = path.join(cli, 'sideload.cache');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sideload-code-cache-'));
let size;
let warmed = false;
try {
  const drive = path.join(tmp, 'drive');
  fs.mkdirSync(drive);
  const create = [
    'create',
    '--quiet',
    '--no-fsync',
    '--repo',
    path.join(root, 'examples/repo'),
    '--gpg-import',
    path.join(root, 'examples/example.gpg'),
    drive,
    'org.example.App',
  ];
  fs.rmSync(programCache, { force: true }); // the first create runs without a cache of an earlier build
  const first = spawnSync(process.execPath, [path.join(cli, 'main.cjs'), ...create], { encoding: 'utf8' });
  if (first.status !== 0)
    throw new Error(`the first create exited ${first.status ?? first.signal}: ${first.stderr.trim()}`);
  // The re-run, in this process: the program reads its command line from process.argv as it loads.
  const argv = process.argv;
  process.argv = [process.execPath, path.join(cli, 'main.cjs'), ...create];
  try {
    size = await writeCodeCache(program, programCache, async (exports) => {
      await exports.finished;
      if (process.exitCode) throw new Error(`the re-run exited ${process.exitCode}`);
    });
    warmed = true;
  } finally {
    process.argv = argv;
    process.exitCode = undefined;
  }
} catch (e) {
  process.stderr.write(
    `code cache: the warm-up run failed (${e.message}); the program's cache holds its top level only\n`,
  );
  size = await writeCodeCache(program, programCache);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
// OpenPGP.js as the warm-up run left it (it checked the example repo's GPG signature), else its module body alone.
const openpgpCache = path.join(cli, 'openpgp.cache');
let lib = warmed ? writeLoadedCache(openpgpCache) : null;
const libWarmed = lib !== null;
if (lib === null) {
  const openpgp = createRequire(path.join(root, 'dist/sign/gpg.js')).resolve('openpgp');
  lib = await writeCodeCache(openpgp, openpgpCache, () => {});
}
const by = (w) => (w ? ' (warmed by a re-run)' : '');
process.stderr.write(`code cache: program ${kib(size)}${by(warmed)}, openpgp ${kib(lib)}${by(libWarmed)}\n`);
