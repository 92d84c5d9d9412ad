/**
 * The drive is either as it was or complete and valid: Ctrl-C half way through a copy, and a drive that fills up,
 * each run as the real CLI process. Sources are ostree repos made with `ostree commit` (needs ostree only).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOstree, ostree, ostreeInit, pseudoBytes } from '../helpers/repo-fixtures.js';
import { ensureBuilt, run, sideload, tempDir } from '../helpers/flatpak-fixtures.js';
import { fsck } from '../helpers/fsck.js';
import { projectRoot } from '../helpers/shared.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';

const CID = 'org.example.Big';
const SMALL = 'runtime/org.example.Small/x86_64/stable';
const BIG = 'runtime/org.example.Big/x86_64/stable';
const noTmp = { skip: (r: string) => r === '.ostree/repo/tmp' };

/** A bare-user-only repo (like an installation's) with a small ref and one holding `bigMb` MiB of hard-to-compress data. */
async function makeSource(bigMb: number): Promise<string> {
  const dir = await tempDir('sideload-intr-src-');
  const repo = path.join(dir, 'repo');
  await ostreeInit(repo, 'bare-user-only');
  await ostree(['config', `--repo=${repo}`, 'set', 'core.collection-id', CID]);
  for (const [ref, size] of [
    [SMALL, 0],
    [BIG, bigMb],
  ] as const) {
    const tree = path.join(dir, ref.split('/')[1] as string);
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    await fs.writeFile(path.join(tree, 'metadata'), `[Runtime]\nname=${ref.split('/')[1]}\n`);
    await fs.writeFile(path.join(tree, 'files/readme'), `${ref}\n`);
    // Mostly random bytes: deflate works hard, so the copy takes seconds.
    for (let i = 0; i < size; i += 16)
      await fs.writeFile(
        path.join(tree, `files/blob-${i}`),
        pseudoBytes(Math.min(16, size - i) << 20, i + 7).map((b, j) => (j % 64 < 56 ? (b * 131 + j) & 0xff : b)),
      );
    const meta = `[Runtime]\nname=${ref.split('/')[1]}\n`;
    await ostree([
      'commit',
      `--repo=${repo}`,
      `--branch=${ref}`,
      `--tree=dir=${tree}`,
      '--subject=x',
      '--timestamp=2024-01-02T03:04:05Z',
      `--add-metadata-string=xa.metadata=${meta}`,
    ]);
  }
  return repo;
}

describeOstree('interrupted and failed runs leave the drive as it was', () => {
  let source: string;
  beforeAll(async () => {
    await ensureBuilt();
    source = await makeSource(96);
  });

  it('Ctrl-C half way: exit 130, the drive untouched, verify passes; the next run completes it', async () => {
    const drive = await tempDir('sideload-intr-');
    const first = await sideload(['create', '--repo', source, '--no-upstream-summary', '--no-fsync', drive, SMALL]);
    expect(first.code, first.stderr).toBe(0);
    const before = await snapshotDir(drive, noTmp);

    const { code, stderr } = await interruptWhileStaging(source, drive);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    // What was staged, and that the same command reuses it (README "When a run is cut short"); it said neither.
    expect(stderr).toMatch(
      /\d+(\.\d)? (MB|kB) of staged data are kept in \S+sideload-staging: running the same command/,
    );
    expect(await snapshotDir(drive, noTmp)).toEqual(before);
    const v = await sideload(['verify', drive]);
    expect(v.code, v.stdout).toBe(0);

    // Resume: staged objects are reused, and the drive ends complete.
    const again = await sideload(['create', '--repo', source, '--no-upstream-summary', '--no-fsync', drive, BIG]);
    expect(again.code, again.stderr).toBe(0);
    const after = await sideload(['verify', '--json', drive]);
    expect(after.code).toBe(0);
    expect((JSON.parse(after.stdout) as { ok: boolean }).ok).toBe(true);
    await fsck(path.join(drive, '.ostree/repo'));
  });

  it('a first create cut short: verify says nothing was published yet and how to finish, not only "no summary"', async () => {
    const drive = await tempDir('sideload-intr-first-');
    const { code, stderr } = await interruptWhileStaging(source, drive);
    expect(code, stderr).toBe(130);
    const v = await sideload(['verify', drive]);
    expect(v.code).toBe(6); // still no drive a client can use
    // It said only "the repo has no summary: clients ignore it".
    expect(v.stdout).toContain('nothing was published yet: a run cut short left objects staged');
    expect(v.stdout).toContain('run the same command again to finish it');
  });

  it('SIGHUP (terminal closed) half way through the copy: as Ctrl-C, exit 130, the --json document, drive as it was', async () => {
    const drive = await tempDir('sideload-intr-hup-');
    const first = await sideload(['create', '--repo', source, '--no-upstream-summary', '--no-fsync', drive, SMALL]);
    expect(first.code, first.stderr).toBe(0);
    const before = await snapshotDir(drive, noTmp);
    const { code, signal, stdout, stderr } = await interruptWhileStaging(source, drive, 'SIGHUP', ['--json']);
    // Before: killed by the signal (exit 129 in a shell), no word, no document.
    expect([code, signal], stderr).toEqual([130, null]);
    expect(stderr).toContain('interrupted, stopping (the drive is left as it was)');
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, command: 'create', error: { code: 'EINTERRUPTED' } });
    expect(await snapshotDir(drive, noTmp)).toEqual(before);
    const v = await sideload(['verify', drive]);
    expect(v.code, v.stdout).toBe(0);
  });

  it('Ctrl-C during verify: exit 130 like every other command, "interrupted" on stderr, not a verdict', async (ctx) => {
    const drive = await tempDir('sideload-intr-verify-');
    const made = await sideload(['create', '--repo', source, '--no-upstream-summary', '--no-fsync', drive, BIG]);
    expect(made.code, made.stderr).toBe(0);
    const objects = path.join(await fs.realpath(drive), '.ostree/repo/objects/');
    const child = spawn(process.execPath, [path.join(projectRoot, 'dist/cli/main.cjs'), 'verify', '--json', drive], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    // Interrupt once verify is re-hashing objects: it holds an object file of the drive open (Linux's /proc).
    const fdDir = `/proc/${child.pid}/fd`;
    if (!(await fs.stat(fdDir).catch(() => null))) {
      child.kill('SIGKILL');
      await exited;
      return ctx.skip();
    }
    let seen = false;
    for (const t0 = Date.now(); !seen && child.exitCode === null && Date.now() - t0 < 60_000;) {
      for (const fd of await fs.readdir(fdDir).catch(() => [] as string[]))
        if ((await fs.readlink(path.join(fdDir, fd)).catch(() => '')).startsWith(objects)) seen = true;
      if (!seen) await new Promise((r) => setTimeout(r, 2));
    }
    expect(seen, 'verify never opened an object').toBe(true);
    child.kill('SIGINT');
    const code = await exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    const doc = JSON.parse(stdout) as { ok: boolean; error?: { code: string } };
    expect(doc).toMatchObject({ ok: false, command: 'verify', error: { code: 'EINTERRUPTED' } });
  });

  const mountPoint = { dir: '', resume: '' };
  afterAll(async () => {
    for (const m of [mountPoint.dir, mountPoint.resume]) if (m) await run('umount', [m]);
  });

  it('a run cut short on a drive with little room left resumes: what it staged counts as there', async (ctx) => {
    // An archive source (its .filez sizes are exact, so the free-space check is strict): 40 MiB of random bytes
    // (deflate cannot shrink them) in objects of 16, 16 and 8 MiB.
    const archive = path.join(await tempDir('sideload-resume-src-'), 'repo');
    await ostreeInit(archive, 'archive');
    await ostree(['config', `--repo=${archive}`, 'set', 'core.collection-id', CID]);
    const tree = path.join(path.dirname(archive), 'tree');
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    for (const [i, mib] of [16, 16, 8].entries())
      await fs.writeFile(path.join(tree, `files/random-${i}`), randomBytes(mib << 20));
    const meta = `[Runtime]\nname=org.example.Big\n`;
    await ostree([
      'commit',
      `--repo=${archive}`,
      `--branch=${BIG}`,
      `--tree=dir=${tree}`,
      `--add-metadata-string=xa.metadata=${meta}`,
    ]);
    const dir = await tempDir('sideload-resume-');
    // Room for the whole copy (40 MiB), but not for it again beside what a cut-short run staged (16 MiB or more).
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', dir]);
    if (m.code !== 0) return ctx.skip();
    mountPoint.resume = dir;
    const args = ['create', '--repo', archive, '--no-upstream-summary', '--no-fsync', dir, BIG];
    const child = spawn(process.execPath, [path.join(projectRoot, 'dist/cli/main.cjs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const staging = path.join(dir, '.ostree/repo/tmp/sideload-staging/objects');
    const staged = async () => {
      let n = 0;
      for (const p of await fs.readdir(staging).catch(() => [] as string[]))
        for (const f of await fs.readdir(path.join(staging, p)).catch(() => [] as string[]))
          if (!f.startsWith('.')) n += (await fs.stat(path.join(staging, p, f)).catch(() => null))?.size ?? 0;
      return n;
    };
    for (const t0 = Date.now(); child.exitCode === null && Date.now() - t0 < 60_000;)
      if ((await staged()) >= 16 << 20) break;
      else await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGINT');
    const code = await exited;
    if (code === 0) return ctx.skip(); // the copy finished before the signal landed
    expect(code, stderr).toBe(130);
    expect(await staged()).toBeGreaterThanOrEqual(16 << 20);
    // Before: "the drive has 31.9 MiB free ..., and this run needs at least 40.0 MiB", exit 1, for good.
    const dry = await sideload([...args.slice(0, -2), '--dry-run', '--json', dir, BIG]);
    expect(dry.code, dry.stderr).toBe(0);
    const estimate = (JSON.parse(dry.stdout) as { estimate: { bytes: number } }).estimate;
    expect(estimate.bytes).toBeLessThanOrEqual(24 << 20);
    const again = await sideload(args);
    expect(again.code, again.stderr).toBe(0);
    const v = await sideload(['verify', dir]);
    expect(v.code, v.stdout).toBe(0);
    await fsck(path.join(dir, '.ostree/repo'));
  });

  it('a drive that fills up: a clear error naming the drive, exit 1, and the drive as it was', async (ctx) => {
    const dir = await tempDir('sideload-full-');
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]);
    // Mounting needs root (CI is root); elsewhere this case cannot be staged.
    if (m.code !== 0) return ctx.skip();
    mountPoint.dir = dir;
    const first = await sideload(['create', '--repo', source, '--no-upstream-summary', '--no-fsync', dir, SMALL]);
    expect(first.code, first.stderr).toBe(0);
    const before = await snapshotDir(dir);
    const r = await sideload(['create', '--repo', source, '--no-upstream-summary', '--no-fsync', dir, BIG]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no space left on the drive holding .*\.ostree\/repo/);
    expect(await snapshotDir(dir)).toEqual(before);
    const v = await sideload(['verify', dir]);
    expect(v.code, v.stdout).toBe(0);
  });
});

/**
 * `create` (with `extra` options) of BIG from `source` onto `drive`, sent `sig` once it is staging content objects:
 * how it ended, and what it printed.
 */
async function interruptWhileStaging(
  source: string,
  drive: string,
  sig: NodeJS.Signals = 'SIGINT',
  extra: readonly string[] = [],
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const cli = path.join(projectRoot, 'dist/cli/main.cjs');
  const args = ['create', ...extra, '--repo', source, '--no-upstream-summary', '--no-fsync', drive, BIG];
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let [stdout, stderr] = ['', ''];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
  // Wait until content objects are being staged, then interrupt.
  const staging = path.join(drive, '.ostree/repo/tmp/sideload-staging/objects');
  for (const t0 = Date.now(); child.exitCode === null && Date.now() - t0 < 60_000;) {
    if ((await fs.readdir(staging).catch(() => [] as string[])).length > 4) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill(sig);
  const [code, signal] = await exited;
  return { code, signal, stdout, stderr };
}
