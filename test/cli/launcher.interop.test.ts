/**
 * The installed `sideload` program: npm links bin → dist/cli/main.cjs, whose first two lines are both shell and
 * JavaScript. Run as a program, /bin/sh must exec node with the launcher's V8 flags, the script's own path and every
 * argument unchanged; exit codes must pass through; run as `node dist/cli/main.cjs`, the same file must work too.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { ensureBuilt, run } from '../helpers/flatpak-fixtures.js';
import { tempDir } from '../helpers/tmp.js';
import { hasTool } from '../helpers/tools.js';
import { exampleCreateArgs, projectRoot } from '../helpers/shared.js';

const main = path.join(projectRoot, 'dist/cli/main.cjs');
let dir = '';
let bin = '';

beforeAll(async () => {
  await ensureBuilt();
  await fs.chmod(main, 0o755); // what npm does for a package's bin when it installs it
  dir = await tempDir('sideload-launcher-');
  bin = path.join(dir, 'sideload');
  await fs.symlink(main, bin);
});

it('the launcher execs `node <flags> <itself> <args>` with its environment and the arguments intact', async () => {
  // A stand-in `node` first in PATH that prints what it was given.
  const fake = path.join(dir, 'fakebin');
  await fs.mkdir(fake);
  await fs.writeFile(
    path.join(fake, 'node'),
    '#!/bin/sh\necho "MALLOC_MMAP_THRESHOLD_=$MALLOC_MMAP_THRESHOLD_"\n' +
      'echo "NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS-unset} SIDELOAD_EXTRA_CA_CERTS=${SIDELOAD_EXTRA_CA_CERTS-unset}"\n' +
      'for a in "$@"; do printf "[%s]\\n" "$a"; done\n',
    {
      mode: 0o755,
    },
  );
  // NODE_EXTRA_CA_CERTS is kept from node's start-up, handed over under another name (launch.ts puts it back).
  const env = { ...process.env, PATH: `${fake}:${process.env['PATH'] ?? ''}`, NODE_EXTRA_CA_CERTS: '/a dir/$HOME.pem' };
  const r = await run(bin, ['create', 'a b', "it's", '--json', ''], { env });
  expect(r.code).toBe(0);
  // The same from bash (/bin/sh, which the kernel runs for the #! line, may be dash).
  expect(await run('bash', [bin, 'create', 'a b', "it's", '--json', ''], { env })).toMatchObject({ stdout: r.stdout });
  expect(r.stdout.trim().split('\n')).toEqual([
    'MALLOC_MMAP_THRESHOLD_=131072',
    'NODE_EXTRA_CA_CERTS=unset SIDELOAD_EXTRA_CA_CERTS=/a dir/$HOME.pem',
    '[--max-semi-space-size=2]',
    `[${bin}]`,
    '[create]',
    '[a b]',
    "[it's]",
    '[--json]',
    '[]',
  ]);
});

it('the real program runs through the symlink, and its exit codes pass through', async () => {
  const pkg = JSON.parse(await fs.readFile(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  const v = await run(bin, ['--version']);
  expect(v).toMatchObject({ code: 0 });
  expect(v.stdout.trim()).toBe(pkg.version);
  const bad = await run(bin, [
    'create',
    '--repo',
    path.join(dir, 'no-such-repo'),
    path.join(dir, 'drive'),
    'org.example.App',
  ]);
  expect(bad.code).toBe(3);
  expect(bad.stderr).toContain(`source repo '${path.join(dir, 'no-such-repo')}' does not exist`);
  // and as a plain script
  const direct = await run(process.execPath, [main, '--version']);
  expect(direct.stdout.trim()).toBe(pkg.version);
});

it('the program reads nothing of the working directory it starts in: not even a FIFO named package.json', async () => {
  // yargs guessed a version from the package.json nearest the working directory (scripts/bundle.mjs, yargsShim):
  // it read each directory up to / and opened that file, and a FIFO there blocked node for good, deaf to SIGTERM.
  const pkg = JSON.parse(await fs.readFile(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  const cwd = path.join(dir, 'fifo-cwd');
  await fs.mkdir(cwd);
  expect((await run('mkfifo', [path.join(cwd, 'package.json')])).code).toBe(0);
  const child = spawn(bin, ['--version'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(killer);
  expect({ code, signal, out: out.trim() }).toEqual({ code: 0, signal: null, out: pkg.version });
});

it("V8 takes the build's code cache for the program, for OpenPGP.js and for node's own modules, run as installed", async () => {
  // V8 refuses a code cache made under other V8 flags (the run still works, compiling everything again). The
  // launcher's --max-semi-space-size is put back to its default before the program loads (cli/heap.ts), so the
  // build's caches and node's cache for its built-in modules (here crypto, which the run loads after start-up) are
  // taken; with the flag left set, node compiled each of those from its source.
  const drive = await tempDir('sideload-code-cache-');
  const env = { ...process.env, SIDELOAD_DEBUG: 'code-cache', NODE_DEBUG_NATIVE: 'CODE_CACHE' };
  const r = await run(bin, ['create', '--quiet', ...exampleCreateArgs(drive)], { env });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain('sideload: code cache accepted: sideload.cjs');
  expect(r.stderr).toContain('sideload: code cache accepted: openpgp.min.cjs');
  expect(r.stderr).toMatch(/^Code cache of crypto \S+ is accepted$/m);
  // Run as a plain script, node has none of the launcher's flags, and the caches are taken as well.
  const direct = await run(process.execPath, [main, 'verify', drive], { env });
  expect(direct.code, direct.stderr).toBe(0);
  expect(direct.stderr).toContain('sideload: code cache accepted: sideload.cjs');
});

it('on a terminal, create draws its progress bars and finishes (the bundle as shipped, under a pseudo-terminal)', async (ctx) => {
  // `script` (util-linux) gives the command a pseudo-terminal: the only way the bars are drawn. cli-progress
  // require()s string-width 4, a CommonJS module: the bundle's lazy stand-in for it once was an ES module, whose
  // namespace object made every bar throw "_stringWidth is not a function" (no test ran on a terminal then).
  if (!hasTool('script')) return ctx.skip();
  const drive = await tempDir('sideload-tty-');
  const cmd = [bin, 'create', ...exampleCreateArgs(drive)].join(' ');
  const r = await run('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, COLUMNS: '160' } });
  // eslint-disable-next-line no-control-regex
  const screen = r.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '');
  expect(r.code, screen).toBe(0);
  expect(screen).not.toMatch(/internal error/);
  // The copy fills by the refs' download sizes, to 100% with every object counted.
  expect(screen).toMatch(/copy +\[[^\]]*\] 100% \| 105 objects \| [\d.]+ [kM]?B/);
  expect(screen).toMatch(/publish… writing the staged objects out/);
  expect(screen).toMatch(/publish +\[[^\]]*\] (\d+)\/\1 objects/);
  expect(screen).toMatch(/Refs: 7 added, 0 updated/);
  // A terminal that cannot move the cursor gets no bar (cli-progress drew one, cursor codes and all).
  const dumb = await run(
    'script',
    ['-qec', [bin, 'create', ...exampleCreateArgs(await tempDir('sideload-dumb-'))].join(' '), '/dev/null'],
    {
      env: { ...process.env, TERM: 'dumb' },
    },
  );
  expect(dumb.code, dumb.stdout).toBe(0);
  expect(dumb.stdout).not.toMatch(/copy +\[/);
  // eslint-disable-next-line no-control-regex
  expect(dumb.stdout).not.toMatch(/\x1b\[\?25l/);
});

it('Ctrl-C while node still loads the program: exit 130, and with --json the one error document', async () => {
  // A slow machine, made deterministic: a copy of the command whose program (dist/cli/sideload.cjs, 1.3 MB, loaded
  // and compiled in one synchronous step) first holds node for 4 s, either blocked (as in a slow read) or busy (as
  // while node compiles it). The signal waits in libuv until the program has run its top level, where main.ts swaps
  // in its own handler: a swap that dropped it exited 0 with no word. The interrupt comes after 1.5 s: node runs by
  // then, the program is not loaded yet. Before launch.js, the program was node's first module, and the signal
  // killed node with no document.
  const copies: Record<string, string> = {};
  for (const slow of ['wait', 'busy'] as const) {
    const cli = path.join(dir, `slow-${slow}`, 'dist/cli');
    await fs.mkdir(cli, { recursive: true });
    await fs.copyFile(main, path.join(cli, 'main.cjs'));
    const hold =
      slow === 'wait'
        ? 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);'
        : 'for (const t = Date.now(); Date.now() - t < 4000; );';
    const program = await fs.readFile(path.join(projectRoot, 'dist/cli/sideload.cjs'), 'utf8');
    const at = program.startsWith('#!') ? program.indexOf('\n') + 1 : 0; // after the bundle's #! line
    await fs.writeFile(path.join(cli, 'sideload.cjs'), `${program.slice(0, at)}${hold}\n${program.slice(at)}`);
    copies[slow] = path.join(cli, 'main.cjs');
  }
  const interrupted = (args: string[], slow: 'wait' | 'busy') =>
    new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [copies[slow] as string, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => p.kill('SIGINT'), 1500);
      p.on('close', (code, signal) => {
        clearTimeout(t);
        resolve({ code, signal, stdout, stderr });
      });
    });
  const drive = await tempDir('sideload-early-int-');
  for (const slow of ['wait', 'busy'] as const) {
    const [j, h] = await Promise.all([
      interrupted(['verify', '--json', drive], slow),
      interrupted(['list', drive], slow),
    ]);
    expect({ slow, code: j.code, signal: j.signal }, j.stderr).toEqual({ slow, code: 130, signal: null });
    expect(JSON.parse(j.stdout), slow).toEqual({
      schemaVersion: 1,
      command: 'verify',
      ok: false,
      error: { code: 'EINTERRUPTED', message: 'interrupted before the command started; nothing was done', data: {} },
    });
    expect({ slow, code: h.code, signal: h.signal, stdout: h.stdout }).toEqual({
      slow,
      code: 130,
      signal: null,
      stdout: '',
    });
    expect(h.stderr, slow).toContain('sideload: interrupted before the command started; nothing was done');
  }
}, 60_000);
