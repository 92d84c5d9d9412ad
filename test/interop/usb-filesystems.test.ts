/**
 * Real USB filesystems: drives on exFAT (exfat-fuse over a loop device) and FAT32 (fusefat on the image), the way a
 * machine without the kernel's vfat/exfat drivers mounts them. On each: build a drive from a GPG-signed repo,
 * verify it, `ostree fsck` it and install from it offline with real flatpak; update it (the upstream copy is a
 * directory replaced in the publish step, which fusefat's directory rename used to empty); interrupt a run with
 * SIGINT and with SIGKILL half way through the copy, then finish it; fill the filesystem up; and on FAT32 refuse a
 * file over 4 GiB before copying (fusefat silently wraps such a write around); on both refuse refs that differ only
 * in case; refuse, before copying, objects that fit an exFAT drive in bytes but not in its 128 KiB clusters. After
 * each case the image is unmounted and checked with fsck.vfat / fsck.exfat -n.
 *
 * Needs root (loop devices, mounts) and /dev/fuse: skipped, with the reason, without them. As root with FUSE, a
 * missing tool fails the suite under CI=true (.ci/run installs exfat-fuse, fusefat, exfatprogs, dosfstools).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ARCH,
  CID,
  ensureBuilt,
  installedCommits,
  interopTools,
  makeExampleRepo,
  offlineInstall,
  PLATFORM,
  run,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { describeWithTools } from '../helpers/tools.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { probeFilesystem, FAT_MAX_FILE_SIZE } from '../../src/usb/drive.js';
import { appInstallRefs, fsck, revParse } from './create-helpers.js';

type Kind = 'exfat' | 'fat32';
const KINDS: readonly Kind[] = ['exfat', 'fat32'];
const FS_TOOLS = [
  'mkfs.exfat',
  'mkfs.vfat',
  'fsck.exfat',
  'fsck.vfat',
  'mount.exfat-fuse',
  'fusefat',
  'losetup',
  'umount',
] as const;
const noTmp = { skip: (r: string) => r === '.ostree/repo/tmp' };

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasFuse = existsSync('/dev/fuse');

/** Mounting needs root and /dev/fuse (skipped, with the reason, without them); then the tools gate as usual. */
function describeFilesystems(name: string, fn: () => void): void {
  if (!isRoot || !hasFuse)
    describe.skip(`${name} (skipped: needs root and /dev/fuse; ${isRoot ? 'no /dev/fuse' : 'not root'})`, fn);
  else describeWithTools([...FS_TOOLS, ...interopTools], name, fn);
}

/** Undo steps (unmount, detach), run last-in first-out in afterAll whatever happened. */
const cleanups: Array<() => Promise<unknown>> = [];

interface Mounted {
  /** The mount directory (the drive). */
  readonly mnt: string;
  /** What the FUSE daemon writes to: the loop device (exfat-fuse) or the image file (fusefat). */
  readonly device: string;
  /** Unmounts (and detaches the loop device), then checks the filesystem with fsck.vfat/fsck.exfat -n. */
  fsck(): Promise<{ code: number; out: string }>;
}

/** A fresh `kind` filesystem of `mib` MiB in an image file, mounted through FUSE; exFAT with `cluster` (`128K`). */
async function mountImage(kind: Kind, mib: number, cluster?: string): Promise<Mounted> {
  const dir = await tempDir(`sideload-${kind}-`);
  const img = path.join(dir, 'drive.img');
  const mnt = path.join(dir, 'mnt');
  await fs.mkdir(mnt);
  await fs.writeFile(img, '');
  await fs.truncate(img, mib << 20);
  let loop = '';
  if (kind === 'exfat') {
    await runOk('mkfs.exfat', [...(cluster ? ['-c', cluster] : []), img]);
    loop = (await runOk('losetup', ['-f', '--show', img])).trim();
    cleanups.push(() => run('losetup', ['-d', loop]));
    await runOk('mount.exfat-fuse', [loop, mnt]);
  }
  // fusefat runs in the foreground as our child: a plain FUSE mount's umount returns before the daemon has written
  // its FAT out, so the image is complete only once this process has exited (an fsck before that saw a torn FAT).
  let daemonExit: Promise<unknown> = Promise.resolve();
  if (kind === 'fat32') {
    await runOk('mkfs.vfat', ['-F', '32', img]);
    const daemon = spawn('fusefat', ['-f', '-o', 'rw+', img, mnt], { stdio: 'ignore' });
    daemonExit = new Promise((r) => daemon.once('exit', r));
    const t0 = Date.now();
    while (!(await fs.readFile('/proc/self/mountinfo', 'utf8')).includes(` ${mnt} `)) {
      if (daemon.exitCode !== null || Date.now() - t0 > 10_000)
        throw new Error(`fusefat did not mount ${img} on ${mnt}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const unmount = async () => {
    if ((await run('umount', [mnt])).code !== 0) await run('umount', ['-l', mnt]);
    await Promise.race([daemonExit, new Promise((r) => setTimeout(r, 10_000))]);
  };
  cleanups.push(unmount);
  return {
    mnt,
    device: loop || img,
    fsck: async () => {
      await runOk('umount', [mnt]);
      await daemonExit;
      if (loop) await runOk('losetup', ['-d', loop]);
      const r = await run(kind === 'exfat' ? 'fsck.exfat' : 'fsck.vfat', ['-n', img]);
      return { code: r.code, out: r.stdout + r.stderr };
    },
  };
}

/** The filesystem the FUSE driver left behind is consistent (no lost clusters, no bad sizes). */
async function expectCleanFs(m: Mounted): Promise<void> {
  const r = await m.fsck();
  expect(r.code, r.out).toBe(0);
}

describeFilesystems('drives on real FAT32 and exFAT (FUSE)', () => {
  let bundled: ExampleRepo; // the bundled example repo (small)
  let big: ExampleRepo; // the example app with a 40 MiB file of random bytes
  const gpgOf = (ex: ExampleRepo) => ['--gpg-import', ex.gpgKey];

  beforeAll(async () => {
    await ensureBuilt();
    const ex = path.join(projectRoot, 'examples');
    bundled = {
      dir: ex,
      repo: path.join(ex, 'repo'),
      gpgKey: path.join(ex, 'example.gpg'),
      flatpakrepo: path.join(ex, 'example.flatpakrepo'),
      update: async () => {},
    };
    big = await makeExampleRepo({ bigMb: 40 });
  });

  afterAll(async () => {
    for (const undo of cleanups.reverse()) await undo().catch(() => {});
  });

  // Every case mounts its own image: they run concurrently (mostly waiting on FUSE daemons and child processes).
  describe.concurrent.each(KINDS)('%s', (kind) => {
    it('is recognised: FAT-like, with the 4 GiB limit on FAT32 only', async () => {
      const { mnt } = await mountImage(kind, 64);
      expect(await probeFilesystem(mnt)).toEqual(
        kind === 'exfat'
          ? { fat: true, maxFileSize: null, fsType: 'fuseblk (exfat)' }
          : { fat: true, maxFileSize: FAT_MAX_FILE_SIZE, fsType: 'fuse.fusefat' },
      );
    });

    it('create, verify, ostree fsck, an offline flatpak install, an update; --destination-repo refused (no symlinks)', async () => {
      const m = await mountImage(kind, 128);
      const mnt = m.mnt;
      const repo = path.join(mnt, '.ostree/repo');
      // A repo another tool left at flatpak/repo is not taken for the drive's own: without symlinks, clients could
      // not find it there.
      const foreign = path.join(mnt, 'flatpak/repo');
      await fs.mkdir(path.join(foreign, 'objects'), { recursive: true });
      await fs.writeFile(path.join(foreign, 'config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
      const r = await sideload(['create', '--repo', bundled.repo, ...gpgOf(bundled), mnt, 'org.example.App']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Drive repo: ${repo}\n`);
      await fs.rm(path.join(mnt, 'flatpak'), { recursive: true });
      const v = await sideload(['verify', '--upstream-gpg', bundled.gpgKey, mnt]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(await fsck(repo)).toMatch(/completed successfully - no errors found/);
      const source = await revParse(bundled.repo, appInstallRefs(ARCH));
      const { f, result } = await offlineInstall(bundled, mnt);
      expect(result.code, result.stderr).toBe(0);
      expect(await installedCommits(f)).toEqual(source);

      // A second run replaces the upstream summary copy (a directory): every file must survive it.
      const upstream = path.join(repo, 'extensions/sideload/upstream', CID);
      const files = (await snapshotDir(upstream)).filter((l) => l.startsWith('f ') && !l.includes('sideload.json'));
      expect(files.length).toBeGreaterThanOrEqual(3);
      const again = await sideload(['create', '--repo', bundled.repo, ...gpgOf(bundled), mnt, 'org.example.App']);
      expect(again.code, again.stderr).toBe(0);
      expect((await snapshotDir(upstream)).filter((l) => l.startsWith('f ') && !l.includes('sideload.json'))).toEqual(
        files,
      );
      const v2 = await sideload(['verify', '--upstream-gpg', bundled.gpgKey, mnt]);
      expect(v2.code, v2.stdout + v2.stderr).toBe(0);
      expect(await fs.readdir(path.join(repo, 'tmp'))).not.toContain('sideload-staging');

      const before = await snapshotDir(mnt);
      const d = await sideload([
        'create',
        '--repo',
        bundled.repo,
        ...gpgOf(bundled),
        '--destination-repo',
        'flatpak/repo',
        mnt,
        'org.example.App',
      ]);
      expect(d.code).toBe(7);
      expect(d.stderr).toMatch(/refuses symlinks/);
      expect(await snapshotDir(mnt)).toEqual(before);
      await expectCleanFs(m);
    });

    it('makes the publish durable through the FUSE daemon: fsyncs and a global `sync`, not `sync -f` alone', async () => {
      // syncfs (`sync -f`) reaches no FUSE daemon, and fusefat never flushes the device it writes to: only a global
      // `sync` writes that back. A power cut cannot be simulated here, so this checks the calls (a logging `sync` first
      // in PATH), that no page the daemon wrote is left dirty once `create` exits (/proc/kpageflags), and that the
      // drive is whole.
      const m = await mountImage(kind, 64);
      const bin = await tempDir(`sideload-sync-${kind}-`);
      const log = path.join(bin, 'sync.log');
      const real = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p)) ?? 'sync';
      await fs.writeFile(path.join(bin, 'sync'), `#!/bin/sh\necho "[$*]" >> '${log}'\nexec ${real} "$@"\n`, {
        mode: 0o755,
      });
      const env = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` };
      const r = await sideload(['create', '--repo', bundled.repo, ...gpgOf(bundled), m.mnt, 'org.example.App'], {
        env,
      });
      expect(r.code, r.stderr).toBe(0);
      const calls = (await fs.readFile(log, 'utf8')).trim().split('\n');
      // The staging area before the renames, content and trees, the commits; the journal written, applied, removed.
      expect(calls.filter((c) => c === '[]').length, calls.join(' ')).toBeGreaterThanOrEqual(6);
      expect(calls.at(-1)).toBe('[]');
      expect(calls.filter((c) => c.startsWith('[-f ') && c.includes('/objects]'))).toEqual([]);
      // And the bytes: none of what the daemon wrote is still only in the page cache (fusefat alone never flushes).
      const dirty = await runOk('python3', [path.join(projectRoot, 'test/helpers/dirty-pages.py'), m.device]);
      expect(Number(dirty.trim())).toBe(0);
      expect(await fsck(path.join(m.mnt, '.ostree/repo'))).toMatch(/completed successfully - no errors found/);
      await expectCleanFs(m);
    });

    it('interrupted by SIGINT and by SIGKILL half way through the copy: the drive as it was, then completed by a re-run', async () => {
      const m = await mountImage(kind, 128);
      const mnt = m.mnt;
      const repo = path.join(mnt, '.ostree/repo');
      const args = ['create', '--repo', big.repo, ...gpgOf(big), mnt];
      const first = await sideload([...args, PLATFORM]);
      expect(first.code, first.stderr).toBe(0);
      const before = await snapshotDir(mnt, noTmp);

      for (const signal of ['SIGINT', 'SIGKILL'] as const) {
        const child = spawn(
          process.execPath,
          [path.join(projectRoot, 'dist/cli/main.cjs'), ...args, 'org.example.App'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((r) =>
          child.on('exit', (code, sig) => r({ code, sig })),
        );
        // Interrupt once the big object is being written (a few MiB of it on the drive).
        const staging = path.join(repo, 'tmp/sideload-staging');
        const t0 = Date.now();
        while ((await stagedBytes(staging)) < 4 << 20 && Date.now() - t0 < 60_000)
          await new Promise((r) => setTimeout(r, 25));
        child.kill(signal);
        const { code, sig } = await exited;
        if (signal === 'SIGINT') {
          expect(code, stderr).toBe(130);
          expect(stderr).toMatch(/interrupted/);
        } else expect(sig).toBe('SIGKILL');
        expect(await snapshotDir(mnt, noTmp), signal).toEqual(before);
        const v = await sideload(['verify', mnt]);
        expect(v.code, v.stdout).toBe(0);
      }

      const again = await sideload([...args, 'org.example.App']);
      expect(again.code, again.stderr).toBe(0);
      const v = await sideload(['verify', '--upstream-gpg', big.gpgKey, mnt]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      await fsck(repo);
      const { f, result } = await offlineInstall(big, mnt);
      expect(result.code, result.stderr).toBe(0);
      expect(await installedCommits(f)).toEqual(await revParse(big.repo, appInstallRefs(ARCH)));
      const installedBig = await fs.stat(
        path.join(f.userDir, 'app/org.example.App', ARCH, 'stable/active/files/share/example/big.bin'),
      );
      expect(installedBig.size).toBe(40 << 20);
      await expectCleanFs(m);
    });

    it('a filesystem that fills up: exit 1 naming the drive, the drive as it was, and still installable', async () => {
      const m = await mountImage(kind, 36);
      const mnt = m.mnt;
      const args = ['create', '--repo', big.repo, ...gpgOf(big), mnt];
      const first = await sideload([...args, PLATFORM]);
      expect(first.code, first.stderr).toBe(0);
      const before = await snapshotDir(mnt, noTmp);
      const r = await sideload([...args, 'org.example.App']);
      expect(r.code, r.stderr).toBe(1);
      // Where statfs tells the free space (exfat-fuse) the preflight refuses; fusefat reports none, so the write fails.
      expect(r.stderr).toMatch(
        kind === 'exfat'
          ? /the drive has [\d.]+ MiB free at '.*', and this run needs at least/
          : /no space left on the drive holding .*\.ostree\/repo/,
      );
      expect(await snapshotDir(mnt, noTmp)).toEqual(before);
      const v = await sideload(['verify', '--upstream-gpg', big.gpgKey, mnt]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      // What was there before still installs offline.
      const { f, result } = await offlineInstall(big, mnt, [PLATFORM]);
      expect(result.code, result.stderr).toBe(0);
      expect((await installedCommits(f)).get(PLATFORM)).toBe((await revParse(big.repo, [PLATFORM])).get(PLATFORM));
      // No staged leftovers eat the small drive's space after a failed run.
      expect(await stagedBytes(path.join(mnt, '.ostree/repo/tmp/sideload-staging'))).toBe(0);
      await expectCleanFs(m);
    });
  });

  it('exFAT with 128 KiB clusters: objects that fit in bytes but not in clusters are refused before copying', async () => {
    // 8 MiB in 128 KiB clusters: 45 free (5.6 MiB). The example app's 91 objects are some 12 KB of bytes (twice
    // the refs' installed size fits too), but every object is a file taking a whole cluster, and every objects/xx
    // directory one more: the copy would run out of clusters half way (it did, with ENOSPC, before the preflight
    // counted clusters).
    const m = await mountImage('exfat', 8, '128K');
    const st = await fs.statfs(m.mnt);
    expect(st.bsize).toBe(128 * 1024);
    const before = await snapshotDir(m.mnt);
    const r = await sideload(['create', '--repo', bundled.repo, ...gpgOf(bundled), m.mnt, 'org.example.App']);
    // ENOSPC: exit 1, as the README's exit code table says for a drive without the room.
    expect(r.code, r.stderr).toBe(1);
    const needed = /this run needs at least ([\d.]+) MiB \((\d+) objects, in 128 KiB clusters\); free some space/.exec(
      r.stderr,
    );
    expect(needed, r.stderr).not.toBeNull();
    const [mib, objects] = [Number(needed?.[1]), Number(needed?.[2])];
    // At least a cluster per object: more than the free space, and more than the objects' bytes by far.
    expect(mib * 2 ** 20).toBeGreaterThanOrEqual(objects * 128 * 1024);
    expect(mib * 2 ** 20).toBeGreaterThan(Number(st.bavail) * 128 * 1024);
    expect(r.stderr).toMatch(new RegExp(`the drive has [\\d.]+ MiB free at '${m.mnt}'`));
    expect(await snapshotDir(m.mnt)).toEqual(before);
    // A dry run fails alike.
    const dry = await sideload([
      'create',
      '--dry-run',
      '--repo',
      bundled.repo,
      ...gpgOf(bundled),
      m.mnt,
      'org.example.App',
    ]);
    expect(dry.code, dry.stderr).toBe(1);
    expect(dry.stderr).toContain(needed?.[0]);
    await expectCleanFs(m);
  });

  it.concurrent.each(KINDS)(
    '%s: refs that differ only in case are refused (one ref file on a case-insensitive drive)',
    async (kind) => {
      const dir = await tempDir('sideload-case-');
      const src = path.join(dir, 'repo');
      const tree = path.join(dir, 'tree');
      const [upper, lower] = [`runtime/org.example.Case/${ARCH}/stable`, `runtime/org.example.case/${ARCH}/stable`];
      await fs.mkdir(path.join(tree, 'files'), { recursive: true });
      await fs.writeFile(path.join(tree, 'metadata'), '[Runtime]\nname=org.example.Case\n');
      await runOk('ostree', ['init', `--repo=${src}`, '--mode=archive']);
      for (const ref of [upper, lower]) {
        await fs.writeFile(path.join(tree, 'files/which'), `${ref}\n`);
        await runOk('ostree', [
          'commit',
          `--repo=${src}`,
          `--branch=${ref}`,
          `--tree=dir=${tree}`,
          '--subject=case',
          '--timestamp=2024-01-02T03:04:05Z',
        ]);
      }
      const m = await mountImage(kind, 64);
      const args = ['create', '--repo', src, '--collection-id', 'org.example.Case', '--no-upstream-summary', m.mnt];
      const first = await sideload([...args, upper]);
      expect(first.code, first.stderr).toBe(0);
      const before = await snapshotDir(m.mnt);
      // Both at once, and the other one onto the drive that has the first.
      for (const refs of [[upper, lower], [lower]]) {
        const r = await sideload([...args, ...refs]);
        expect(r.code, r.stderr).toBe(7);
        expect(r.stderr).toContain(
          `'refs/mirrors/org.example.Case/${upper}' and 'refs/mirrors/org.example.Case/${lower}' differ only in case`,
        );
        expect(await snapshotDir(m.mnt)).toEqual(before);
      }
      const v = await sideload(['verify', m.mnt]);
      expect(v.code, v.stdout).toBe(0);
      await expectCleanFs(m);
    },
  );

  it.concurrent('FAT32: a file over 4 GiB is refused before anything is copied (exit 7, naming the file)', async () => {
    // A bare-user-only source (what an installation holds) whose object for files/huge.bin is a sparse 4.5 GiB
    // file. Committing a real 4.5 GiB file takes ostree two minutes here; the check only looks at the object's
    // size, and refuses before reading it, so the object is the committed small file truncated up to 4.5 GiB.
    const dir = await tempDir('sideload-huge-');
    const src = path.join(dir, 'repo');
    const tree = path.join(dir, 'tree');
    const ref = `runtime/org.example.Huge/${ARCH}/stable`;
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    await fs.writeFile(path.join(tree, 'metadata'), '[Runtime]\nname=org.example.Huge\n');
    await fs.writeFile(path.join(tree, 'files/huge.bin'), 'placeholder for 4.5 GiB\n');
    await runOk('ostree', ['init', `--repo=${src}`, '--mode=bare-user-only']);
    await runOk('ostree', [
      'commit',
      `--repo=${src}`,
      `--branch=${ref}`,
      `--tree=dir=${tree}`,
      '--subject=huge',
      '--timestamp=2024-01-02T03:04:05Z',
    ]);
    const ls = await runOk('ostree', ['ls', `--repo=${src}`, '-C', ref, '/files/huge.bin']);
    const checksum = (/([0-9a-f]{64})/.exec(ls) as RegExpExecArray)[1] as string;
    const object = path.join(src, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.file`);
    await fs.truncate(object, 4.5 * 2 ** 30);

    const m = await mountImage('fat32', 64);
    const mnt = m.mnt;
    const before = await snapshotDir(mnt);
    const r = await sideload([
      'create',
      '--repo',
      src,
      '--collection-id',
      'org.example.Huge',
      '--no-upstream-summary',
      mnt,
      ref,
    ]);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain(
      `${checksum}.file (/files/huge.bin in ${ref}) is 4.50 GiB uncompressed (4831838208 bytes)`,
    );
    expect(r.stderr).toContain(`too large for the fuse.fusefat filesystem of '${mnt}' (files must stay under 4 GiB`);
    expect(await snapshotDir(mnt)).toEqual(before);
    await expectCleanFs(m);
  });
});

/** Bytes under a directory (0 when it does not exist). */
async function stagedBytes(dir: string): Promise<number> {
  let n = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else n += (await fs.stat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return n;
}
