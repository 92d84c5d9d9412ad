/**
 * What `create` says when it fails or is interrupted late (issue 13), on real filesystems: a tmpfs with few inodes
 * (root only), and Ctrl-C during the journaled publish. Inode exhaustion is no longer "ENOENT … mkdir objects/xx";
 * a failure in the publish step names the step, the pending publish and the staged data kept for the re-run, and
 * the re-run finishes the drive; an interrupt during publish says the publish is being finished and that it did,
 * and a second one (an update's, whose phase the CLI used not to know) does not stop it either.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { createExampleApp, exampleCopy, runCli, type ExampleCopy } from './net-helpers.js';

const isRoot = process.getuid?.() === 0;
/** The test sources have no collection ID of their own. */
const LABEL = ['--collection-id', 'org.example.Stable'];
/** The CLI as a child process whose stderr the test reads while it runs (to interrupt it at a chosen moment). */
const spawnCli = (args: readonly string[]) =>
  spawn(process.execPath, [path.join(projectRoot, 'dist/cli/main.cjs'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
let ex: ExampleCopy;
const mounts: string[] = [];

beforeAll(async () => {
  ex = await exampleCopy();
});
afterAll(() => {
  for (const m of mounts) execFileSync('umount', [m]);
});

describe.skipIf(!isRoot)('a drive out of inodes', () => {
  it('names the step and the directory, never ENOENT; a publish that fails keeps its journal and staged data, and the re-run finishes it', async () => {
    const mnt = path.join(ex.dir, 'tmpfs');
    await fs.mkdir(mnt);
    let sawPending = false;
    let sawStaging = false;
    // Inode budgets 10 apart until the copy no longer fails, then one apart from the last budget the copy ran out
    // in: the steps after the copy need only a few inodes each, so their windows are narrow.
    let [n, step, lastCopyFailure] = [150, 10, 0];
    while (n <= 400 && !(sawPending && sawStaging)) {
      if (mounts.includes(mnt)) execFileSync('umount', [mnt]);
      else mounts.push(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=20m,nr_inodes=${n}`, 'tmpfs', mnt]);
      const r = await createExampleApp(ex.repo, mnt, ['--gpg-import', ex.gpgKey]);
      if (r.code !== 0 && /while copying objects/.test(r.stderr)) lastCopyFailure = n;
      else if (step === 10 && lastCopyFailure) {
        [n, step] = [lastCopyFailure + 1, 1];
        continue;
      }
      n += step;
      if (r.code === 0) break;
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/ENOENT: no such file or directory, mkdir '[^']*\/objects\//);
      if (/while publishing the update/.test(r.stderr) && !/publish is pending/.test(r.stderr)) {
        // Before the journal: moving staged objects into a new objects/xx (a prefix holding a commit: the others move
        // in whole, needing no inode) or writing the journal. What was being written is named, and what ran out.
        expect(r.stderr).toMatch(
          /no space left on the drive holding .*\.ostree\/repo \(while writing objects\/[0-9a-f]{2}\/\): its filesystem is out of free space or free inodes|open '[^']*\/tmp\/\.sideload-publish\.json\.tmp-[^']*'\n {2}the drive is out of inodes/,
        );
        sawStaging = true;
      }
      if (/publish is pending/.test(r.stderr)) {
        expect(r.stderr).toContain('sideload: error: while publishing the update:');
        expect(r.stderr).toMatch(/the drive is out of inodes \(\d+ of \d+ free\)/);
        expect(r.stderr).toContain(
          'the publish is pending (tmp/sideload-publish.json): clients still see the drive as it was before this run',
        );
        expect(r.stderr).toMatch(
          /\d+ (kB|MB) of staged data are kept in .*\.ostree\/repo\/tmp\/sideload-staging: running the same command again reuses them/,
        );
        sawPending = true;
        // More inodes, the same command: the publish is finished and the drive verifies.
        execFileSync('mount', ['-o', 'remount,nr_inodes=4000', mnt]);
        const again = await createExampleApp(ex.repo, mnt, ['--gpg-import', ex.gpgKey]);
        expect(again.code, again.stderr).toBe(0);
        const v = await runCli(['verify', '--upstream-gpg', ex.gpgKey, mnt]);
        expect(v.code, v.stdout).toBe(0);
      }
    }
    expect(sawStaging, 'a run failed in the publish before its journal was written').toBe(true);
    expect(sawPending, 'a run failed after its publish journal was written').toBe(true);
  });
});

describe('Ctrl-C during publish', () => {
  it('says the publish is being finished, exits 0 and says the drive holds the update', async () => {
    await ensureBuilt();
    // A source with many small files: publishing moves each staged object and syncs, which takes a moment.
    const src = path.join(ex.dir, 'many-src');
    const tree = path.join(ex.dir, 'many-tree');
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    for (let i = 0; i < 4000; i++) await fs.writeFile(path.join(tree, 'files', `f${i}`), `file ${i}\n`);
    execFileSync('ostree', ['init', `--repo=${src}`, '--mode=archive']);
    execFileSync('ostree', [
      `--repo=${src}`,
      'commit',
      '--branch=runtime/org.example.Many/x86_64/stable',
      `--tree=dir=${tree}`,
      '--add-metadata-string=xa.metadata=[Runtime]\nname=org.example.Many\n',
    ]);
    for (let attempt = 0; attempt < 3; attempt++) {
      const drive = path.join(ex.dir, `intr-${attempt}`);
      await fs.mkdir(drive);
      const child = spawnCli([
        'create',
        '-q',
        '--repo',
        src,
        ...LABEL,
        drive,
        'runtime/org.example.Many/x86_64/stable',
      ]);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      // Published objects appear in objects/ only during the publish step (staging writes under tmp/).
      const objects = path.join(drive, '.ostree/repo/objects');
      let sent = false;
      const t0 = Date.now();
      while (!sent && child.exitCode === null && Date.now() - t0 < 120_000) {
        if ((await fs.readdir(objects).catch(() => [] as string[])).length > 0) {
          child.kill('SIGINT');
          sent = true;
        } else await new Promise((r) => setTimeout(r, 2));
      }
      const code = await exited;
      if (!sent || !/interrupted/.test(stderr)) continue; // finished before the signal landed: try again
      expect(code, stderr).toBe(0);
      expect(stderr).toContain('interrupted during publish; finishing the publish so the drive stays consistent');
      expect(stderr).not.toContain('the drive is left as it was');
      expect(stderr).toContain(
        'the interrupt came too late to stop the run: it completed and the drive holds the whole update',
      );
      const v = await runCli(['verify', drive]);
      expect(v.code, v.stdout).toBe(0);
      return;
    }
    throw new Error('could not land SIGINT during the publish step in 3 attempts');
  });
});

describe('a hangup (terminal closed) during publish', () => {
  it('is handled as Ctrl-C: the publish finishes though the terminal is gone, exit 0, nothing pending', async () => {
    await ensureBuilt();
    const REF = 'runtime/org.example.Hup/x86_64/stable';
    const src = path.join(ex.dir, 'hup-src');
    const tree = path.join(ex.dir, 'hup-tree');
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    for (let i = 0; i < 4000; i++) await fs.writeFile(path.join(tree, 'files', `f${i}`), `hup ${i}\n`);
    execFileSync('ostree', ['init', `--repo=${src}`, '--mode=archive']);
    execFileSync('ostree', [
      `--repo=${src}`,
      'commit',
      `--branch=${REF}`,
      `--tree=dir=${tree}`,
      '--add-metadata-string=xa.metadata=[Runtime]\nname=org.example.Hup\n',
    ]);
    for (let attempt = 0; attempt < 3; attempt++) {
      const drive = path.join(ex.dir, `hup-${attempt}`);
      await fs.mkdir(drive);
      // The CLI on a terminal of its own (progress bars drawn), which is hung up in the publish step: SIGHUP, and
      // every later write to the terminal fails with EIO.
      const child = spawn(
        'python3',
        [
          path.join(projectRoot, 'test/helpers/hangup-pty.py'),
          process.execPath,
          path.join(projectRoot, 'dist/cli/main.cjs'),
          'create',
          '--repo',
          src,
          ...LABEL,
          drive,
          REF,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      child.stdin.on('error', () => {}); // the helper ended with the run, before its hangup line
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<void>((r) => child.on('exit', () => r()));
      const objects = path.join(drive, '.ostree/repo/objects');
      let sent = false;
      const t0 = Date.now();
      while (!sent && child.exitCode === null && Date.now() - t0 < 120_000) {
        if ((await fs.readdir(objects).catch(() => [] as string[])).length > 0) {
          child.stdin.end('hangup\n');
          sent = true;
        } else await new Promise((r) => setTimeout(r, 2));
      }
      if (!sent) child.stdin.end('hangup\n');
      await exited;
      // objects/ appears in the publish step, and the run was still going when the terminal was hung up.
      const repo = path.join(drive, '.ostree/repo');
      const journal = await fs.stat(path.join(repo, 'tmp/sideload-publish.json')).catch(() => null);
      const end = JSON.parse(stdout) as { alive: boolean };
      if (!sent || !end.alive) continue; // the run ended before the hangup
      // Before: killed by SIGHUP ({"signal":1}), the publish left pending; then (node 20) SIGABRT as node exited.
      expect(end).toEqual({ alive: true, code: 0 });
      expect(journal).toBeNull();
      const list = await runCli(['list', '--json', drive]);
      expect((JSON.parse(list.stdout) as { repos: { pendingPublish: boolean }[] }).repos[0]?.pendingPublish).toBe(
        false,
      );
      const v = await runCli(['verify', drive]);
      expect(v.code, v.stdout).toBe(0);
      return;
    }
    throw new Error('could not hang up during the publish step in 3 attempts');
  });
});

describe('Ctrl-C twice during the publish of an update', () => {
  it('neither stops it: both are acknowledged, it exits 0 and the drive verifies with the new commit', async () => {
    await ensureBuilt();
    const REF = 'runtime/org.example.Twice/x86_64/stable';
    const src = path.join(ex.dir, 'twice-src');
    const tree = path.join(ex.dir, 'twice-tree');
    const commit = async (tag: string) => {
      await fs.rm(tree, { recursive: true, force: true });
      await fs.mkdir(path.join(tree, 'files'), { recursive: true });
      for (let i = 0; i < 4000; i++) await fs.writeFile(path.join(tree, 'files', `f${i}`), `${tag} ${i}\n`);
      return execFileSync(
        'ostree',
        [
          `--repo=${src}`,
          'commit',
          `--branch=${REF}`,
          `--tree=dir=${tree}`,
          '--add-metadata-string=xa.metadata=[Runtime]\nname=org.example.Twice\n',
        ],
        { encoding: 'utf8' },
      ).trim();
    };
    execFileSync('ostree', ['init', `--repo=${src}`, '--mode=archive']);
    await commit('one');
    const objectsOf = async (repo: string) => {
      const out = new Set<string>();
      for (const p of await fs.readdir(path.join(repo, 'objects')))
        for (const f of await fs.readdir(path.join(repo, 'objects', p))) out.add(`${p}/${f}`);
      return out;
    };
    for (let attempt = 0; attempt < 4; attempt++) {
      const drive = path.join(ex.dir, `twice-${attempt}`);
      await fs.mkdir(drive);
      const made = await runCli(['create', '-q', '--repo', src, '--collection-id', 'org.example.Stable', drive, REF]);
      expect(made.code, made.stderr).toBe(0);
      const second = await commit(`two-${attempt}`);
      if (attempt === 0) {
        // The source has no collection ID (create needed --collection-id): update says so, rather than "(none)".
        const bare = await runCli(['update', '-q', '--dry-run', '--repo', src, drive]);
        expect(bare.code).toBe(3);
        expect(bare.stderr).toContain('its refs have no collection ID; pass --collection-id org.example.Stable');
      }
      // Objects of the new commit appear under the drive's objects/ only in the publish step.
      const repo = path.join(drive, '.ostree/repo');
      const onDrive = await objectsOf(repo);
      const fresh = [...(await objectsOf(src))].filter((o) => !onDrive.has(o) && o.endsWith('.filez')).slice(0, 64);
      const child = spawnCli(['update', '-q', '--repo', src, ...LABEL, drive]);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      let sent = false;
      const t0 = Date.now();
      while (!sent && child.exitCode === null && Date.now() - t0 < 120_000) {
        const landed = await Promise.all(
          fresh.map((o) =>
            fs.access(path.join(repo, 'objects', o)).then(
              () => true,
              () => false,
            ),
          ),
        );
        if (landed.some(Boolean)) {
          child.kill('SIGINT');
          await new Promise((r) => setTimeout(r, 3));
          child.kill('SIGINT');
          sent = true;
        } else await new Promise((r) => setTimeout(r, 2));
      }
      const code = await exited;
      if (!sent || !/still finishing the publish/.test(stderr)) continue; // the run ended before both landed
      expect(code, stderr).toBe(0);
      expect(stderr).toContain('interrupted during publish; finishing the publish so the drive stays consistent');
      expect(stderr).not.toContain('the drive is left as it was');
      const v = await runCli(['verify', drive]);
      expect(v.code, v.stdout).toBe(0);
      expect((await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable', REF), 'utf8')).trim()).toBe(second);
      return;
    }
    throw new Error('could not land two SIGINTs during the publish step in 4 attempts');
  });
});
