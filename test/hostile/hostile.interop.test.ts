/**
 * Hostile local input (issue 12, "trust nothing"): sources and drives that were tampered with. Each case builds the
 * hostile tree in a sandbox directory, runs the real CLI (dist/cli/main.cjs) and asserts the exit code, an error
 * naming the path or ref at fault, a bounded run time, that nothing outside the drive changed (the sandbox minus the
 * drive is snapshotted before and after), and that the drive still verifies. Needs ostree (describeOstree).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeOstree, isRoot, ostree } from '../helpers/repo-fixtures.js';
import { ensureBuilt, run, tempDir } from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';

const EXAMPLE = path.join(projectRoot, 'examples/repo');
const GPG = path.join(projectRoot, 'examples/example.gpg');
const CID = 'org.example.Stable';
const APP = 'app/org.example.App/x86_64/stable';
const RUNTIME = 'runtime/org.example.Platform/x86_64/stable';
/** A file object and a dirtree only the app has (examples/repo is fixed content). */
const APP_FILE = 'c29489d7f15bd22bffcf85bb180a5e241cca62293fc3152ef5c5af1c3b95bed4';
const APP_DIRTREE = '500829e406a4177c9b1a93f31cdc47313ae8cb6ce7fe65d509608fcf814fd7ab';
/** Every CLI run here must end well within this (a hang is the bug class under test). */
const BOUND_MS = 30_000;

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the CLI (optionally under a umask), killing it after 2×BOUND_MS; `ms` is the wall time. */
function cli(args: readonly string[], opts: { umask?: string } = {}): Promise<Cli> {
  const main = path.join(projectRoot, 'dist/cli/main.cjs');
  const t0 = Date.now();
  const child = opts.umask
    ? spawn('sh', ['-c', `umask ${opts.umask}; exec "$0" "$@"`, process.execPath, main, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 2 * BOUND_MS);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: Date.now() - t0 });
    }),
  );
}

/** A sandbox: `drive/`, `outside/` (where planted symlinks point), `secret`, and whatever sources a case adds. */
interface Box {
  dir: string;
  drive: string;
  repo: string;
  outside: string;
  secret: string;
  /** Snapshot of everything in the box but the drive (and /dev/zero-style links are not followed). */
  outsideView(): Promise<string[]>;
}

const SECRET = 'TOP-SECRET-7f3a9c-do-not-copy\n';

/**
 * Every entry under `dir` but `skip` (symlinks not followed) with type, mode, size and mtime, and symlink targets:
 * any write, create, delete or chmod shows. (No hashing: a case plants a 200 MB file.)
 */
async function statView(dir: string, skip: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await fs.readdir(d)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === skip) continue;
      const p = path.join(d, name);
      const st = await fs.lstat(p);
      if (st.isSymbolicLink()) out.push(`l ${r} -> ${await fs.readlink(p)}`);
      else
        out.push(
          `${st.isDirectory() ? 'd' : st.isFile() ? 'f' : '?'} ${r} ${(st.mode & 0o7777).toString(8)} ${st.size} ${st.mtimeMs}`,
        );
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(dir, '');
  return out;
}

async function box(template?: string): Promise<Box> {
  const dir = await tempDir('sideload-hostile-');
  await fs.chmod(dir, 0o755); // mkdtemp makes it 0700: another user could not reach the drive (case 6)
  const drive = path.join(dir, 'drive');
  if (template) await run('cp', ['-a', template, drive]);
  else await fs.mkdir(drive);
  await fs.mkdir(path.join(dir, 'outside'));
  await fs.writeFile(path.join(dir, 'secret'), SECRET);
  return {
    dir,
    drive,
    repo: path.join(drive, '.ostree/repo'),
    outside: path.join(dir, 'outside'),
    secret: path.join(dir, 'secret'),
    outsideView: () => statView(dir, 'drive'),
  };
}

/** A copy of examples/repo inside the box. */
async function sourceCopy(b: Box, name = 'src'): Promise<string> {
  const p = path.join(b.dir, name);
  await run('cp', ['-a', EXAMPLE, p]);
  return p;
}

const createArgs = (source: string, drive: string, ...refs: string[]) => [
  'create',
  '--repo',
  source,
  '--gpg-import',
  GPG,
  '--no-fsync',
  drive,
  ...refs,
];

async function expectVerifies(drive: string): Promise<void> {
  const v = await cli(['verify', '--upstream-gpg', GPG, drive]);
  expect(v.code, v.stdout + v.stderr).toBe(0);
}

/** Runs `args`, asserting exit code, message, time bound and an untouched outside; returns the run. */
async function expectRefused(b: Box, args: readonly string[], code: number, message: RegExp): Promise<Cli> {
  const before = await b.outsideView();
  const r = await cli(args);
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.ms).toBeLessThan(BOUND_MS);
  expect(await b.outsideView()).toEqual(before);
  return r;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describeOstree('hostile local input', () => {
  let full: string; // a drive holding the example app (and its runtime, locales, appstream)
  let runtimeOnly: string; // a drive holding only the runtime
  beforeAll(async () => {
    await ensureBuilt();
    full = path.join(await tempDir('sideload-hostile-tpl-'), 'drive');
    await fs.mkdir(full);
    const a = await cli(createArgs(EXAMPLE, full, 'org.example.App'));
    expect(a.code, a.stderr).toBe(0);
    runtimeOnly = path.join(await tempDir('sideload-hostile-tpl-'), 'drive');
    await fs.mkdir(runtimeOnly);
    const b = await cli([...createArgs(EXAMPLE, runtimeOnly, RUNTIME)]);
    expect(b.code, b.stderr).toBe(0);
  });

  describe.concurrent('1. bare and bare-user sources (xattrs)', () => {
    const modes = isRoot ? (['bare-user', 'bare'] as const) : (['bare-user'] as const);
    for (const mode of modes) {
      it(`${mode}: create prints its result and exits 0, verify passes; a missing ref exits 3 naming it`, async () => {
        const b = await box();
        const src = path.join(b.dir, mode);
        await ostree(['init', `--repo=${src}`, `--mode=${mode}`]);
        await ostree(['pull-local', `--repo=${src}`, EXAMPLE]);
        const before = await b.outsideView();
        const ok = await cli([
          'create',
          '--repo',
          src,
          '--collection-id',
          CID,
          '--no-upstream-summary',
          '--no-fsync',
          b.drive,
          'org.example.App',
        ]);
        expect(ok.code, ok.stderr).toBe(0);
        expect(ok.stdout).toMatch(new RegExp(`added +${esc(CID)} ${esc(APP)} +[0-9a-f]{12} \\[requested\\]`));
        expect(ok.stdout).toMatch(/Objects: \d+ copied/);
        expect(ok.ms).toBeLessThan(BOUND_MS);
        expect(await b.outsideView()).toEqual(before);
        const v = await cli(['verify', b.drive]);
        expect(v.code, v.stdout).toBe(0);
        expect(v.stdout).toMatch(/^OK /m);
        await expectRefused(
          b,
          ['create', '--repo', src, '--collection-id', CID, '--no-fsync', b.drive, 'org.example.Nope'],
          3,
          /ref 'org\.example\.Nope'.*not found/,
        );
        await expectVerifies(b.drive);
      });
    }

    it('through the library, a bare-user source closes (close() used to wait forever)', async () => {
      const b = await box();
      const src = path.join(b.dir, 'bu');
      await ostree(['init', `--repo=${src}`, '--mode=bare-user']);
      await ostree(['pull-local', `--repo=${src}`, EXAMPLE]);
      // In a process of its own: with nothing else keeping Node's event loop alive, a close() that waits on an
      // unref'd handle lets the process end with exit 0 before 'closed' is printed.
      const script = `
        const { openRepoSource } = await import(${JSON.stringify(path.join(projectRoot, 'dist/usb/repo-source.js'))});
        const source = await openRepoSource(${JSON.stringify(src)}, { collectionId: ${JSON.stringify(CID)} });
        const refs = await source.listRefs();
        const obj = await source.objects.readContent(${JSON.stringify(APP_FILE)});
        await obj.close();
        await source.close();
        console.log('closed', refs.length);`;
      const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: BOUND_MS });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^closed \d+$/m);
    });

    it('verify refuses a drive repo whose config says bare or bare-user (a drive is archive)', async () => {
      for (const mode of ['bare', 'bare-user']) {
        const b = await box(full);
        const cfg = path.join(b.repo, 'config');
        await fs.writeFile(cfg, (await fs.readFile(cfg, 'utf8')).replace(/mode=archive-z2/, `mode=${mode}`));
        const r = await cli(['verify', b.drive]);
        expect(r.code, r.stdout).toBe(6);
        expect(r.stdout).toMatch(new RegExp(`repo mode is '${mode}', not archive \\[config\\]`));
        expect(r.ms).toBeLessThan(BOUND_MS);
      }
    });
  });

  describe.concurrent('2. symlinks planted in the drive repo', () => {
    it('refs/mirrors/<cid> → a directory outside: create exits 4 naming it and writes nothing there', async () => {
      const b = await box();
      const link = path.join(b.repo, 'refs/mirrors', CID);
      await fs.mkdir(path.dirname(link), { recursive: true });
      await fs.symlink(b.outside, link);
      await expectRefused(
        b,
        createArgs(EXAMPLE, b.drive, 'org.example.App'),
        4,
        new RegExp(`'${esc(link)}' on the drive is a symlink \\(to '${esc(b.outside)}'\\)`),
      );
      expect(await fs.readdir(b.outside)).toEqual([]);
      // With the link gone the same run succeeds.
      await fs.rm(link);
      const r = await cli(createArgs(EXAMPLE, b.drive, 'org.example.App'));
      expect(r.code, r.stderr).toBe(0);
      await expectVerifies(b.drive);
    });

    for (const rel of [
      'tmp',
      'state',
      'objects/c2',
      `extensions/sideload/upstream/${CID}`,
      `refs/mirrors/${CID}/app`,
    ]) {
      it(`an update through a symlinked '${rel}' is refused (exit 4), the drive as it was`, async () => {
        const b = await box(runtimeOnly);
        const target = path.join(b.repo, rel);
        await fs.mkdir(target, { recursive: true });
        await run('cp', ['-a', `${target}/.`, b.outside]);
        await fs.rm(target, { recursive: true });
        await fs.symlink(b.outside, target);
        const driveBefore = await snapshotDir(b.drive);
        await expectRefused(
          b,
          createArgs(EXAMPLE, b.drive, 'org.example.App'),
          4,
          new RegExp(`'${esc(target)}' on the drive is a symlink`),
        );
        expect(await snapshotDir(b.drive)).toEqual(driveBefore);
        // Put the real directory back: the drive verifies, and the update then goes through.
        await fs.rm(target);
        await run('cp', ['-a', b.outside, target]);
        await expectVerifies(b.drive);
      });
    }

    it('verify --repair with a pending journal and a symlinked ref directory: exit 4, nothing written outside', async () => {
      const b = await box(full);
      const dir = path.join(b.repo, 'refs/mirrors', CID, 'app');
      await fs.writeFile(
        path.join(b.repo, 'tmp/sideload-publish.json'),
        JSON.stringify({
          version: 1,
          ops: [{ op: 'ref', path: `refs/mirrors/${CID}/app/org.example.App/x86_64/stable`, checksum: 'a'.repeat(64) }],
        }),
      );
      await run('cp', ['-a', `${dir}/.`, b.outside]);
      await fs.rm(dir, { recursive: true });
      await fs.symlink(b.outside, dir);
      await expectRefused(b, ['verify', '--repair', b.drive], 4, new RegExp(`'${esc(dir)}' on the drive is a symlink`));
    });
  });

  describe.concurrent('3. a symlink in the source repo summaries/', () => {
    it('is not followed: the secret is not carried, verify passes; a planted file in the upstream copy fails verify', async () => {
      const b = await box();
      const src = await sourceCopy(b);
      await fs.symlink(b.secret, path.join(src, 'summaries/zz-leak'));
      const before = await b.outsideView();
      const r = await cli(createArgs(src, b.drive, 'org.example.App'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.ms).toBeLessThan(BOUND_MS);
      expect(await b.outsideView()).toEqual(before);
      const grep = await run('grep', ['-rl', SECRET.trim(), b.drive]);
      expect(grep.stdout).toBe('');
      const up = path.join(b.repo, 'extensions/sideload/upstream', CID);
      // Exactly what the signed summary.idx accounts for: its subsummary and the copy of its signature.
      expect((await fs.readdir(path.join(up, 'summaries'))).sort()).toEqual(
        (await fs.readdir(path.join(EXAMPLE, 'summaries'))).sort(),
      );
      await expectVerifies(b.drive);

      await fs.symlink(b.secret, path.join(up, 'summaries/zz-leak'));
      await fs.writeFile(path.join(up, 'extra'), 'x');
      const v = await cli(['verify', '--upstream-gpg', GPG, b.drive]);
      expect(v.code, v.stdout).toBe(6);
      expect(v.stdout).toContain(`extensions/sideload/upstream/${CID}/summaries/zz-leak is a symlink`);
      expect(v.stdout).toContain(
        `extensions/sideload/upstream/${CID}/extra is not part of the signed upstream summary`,
      );
      expect(v.stdout).not.toContain(SECRET.trim());
    });
  });

  describe.concurrent('4. leftovers of killed runs', () => {
    const plant = async (repo: string) => {
      const up = path.join(repo, 'extensions/sideload/upstream');
      const planted = [
        `extensions/sideload/upstream/${CID}.old-4242`,
        `refs/mirrors/${CID}/app/org.example.App/x86_64/.stable.tmp-4242-k3j2`,
        `state/.${'b'.repeat(64)}.commitpartial.tmp-4242-zz`,
        '.summary.tmp-4242-q1',
        'tmp/.sideload-publish.json.tmp-4242-a0',
      ];
      await run('cp', ['-a', path.join(up, CID), path.join(repo, planted[0] as string)]);
      for (const f of planted.slice(1)) await fs.writeFile(path.join(repo, f), 'x');
      return planted;
    };

    it('verify warns (exit 0) naming each; verify --repair removes them all; a live lock holder blocks it', async () => {
      const b = await box(full);
      const planted = await plant(b.repo);
      const v = await cli(['verify', '--upstream-gpg', GPG, b.drive]);
      expect(v.code, v.stdout).toBe(0);
      for (const p of planted) expect(v.stdout).toContain(`warning: ${p} was left by an interrupted run`);
      // A live sideload process holds the lock: --repair refuses and removes nothing.
      const boot = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
      if (boot) {
        await fs.writeFile(path.join(b.repo, 'tmp/sideload-staging.lock'), `${process.pid} ${boot}\n`);
        await expectRefused(
          b,
          ['verify', '--repair', b.drive],
          1,
          new RegExp(`another sideload process \\(pid ${process.pid}\\) is writing to ${esc(b.repo)}`),
        );
        for (const p of planted) await fs.access(path.join(b.repo, p));
        await fs.rm(path.join(b.repo, 'tmp/sideload-staging.lock'));
      }
      const before = await b.outsideView();
      const r = await cli(['verify', '--repair', '--upstream-gpg', GPG, b.drive]);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).not.toContain('left by an interrupted run');
      for (const p of planted) await expect(fs.access(path.join(b.repo, p)), p).rejects.toThrow();
      expect(await b.outsideView()).toEqual(before);
      await expectVerifies(b.drive);
    });

    it('the next create removes them too', async () => {
      const b = await box(full);
      const planted = await plant(b.repo);
      const r = await cli(createArgs(EXAMPLE, b.drive, 'org.example.App'));
      expect(r.code, r.stderr).toBe(0);
      for (const p of planted) await expect(fs.access(path.join(b.repo, p)), p).rejects.toThrow();
      await expectVerifies(b.drive);
    });
  });

  describe.concurrent('5. special files in a local source', () => {
    it('summary.sig → /dev/zero: exit 4 naming it, at once', async () => {
      const b = await box(runtimeOnly);
      const src = await sourceCopy(b);
      await fs.rm(path.join(src, 'summary.sig'));
      await fs.symlink('/dev/zero', path.join(src, 'summary.sig'));
      await expectRefused(
        b,
        createArgs(src, b.drive, 'org.example.App'),
        4,
        new RegExp(`'${esc(path.join(src, 'summary.sig'))}' is a symlink`),
      );
      await expectVerifies(b.drive);
    });

    it('a regular summary.sig file of 200 MB: exit 4 naming it (a size limit on every read)', async () => {
      const b = await box(runtimeOnly);
      const src = await sourceCopy(b);
      await fs.truncate(path.join(src, 'summary.sig'), 200 << 20);
      await expectRefused(
        b,
        createArgs(src, b.drive, 'org.example.App'),
        4,
        new RegExp(`'${esc(path.join(src, 'summary.sig'))}' is \\d+ bytes, over the`),
      );
      await expectVerifies(b.drive);
    });

    it.each([
      { what: 'a FIFO in place of an archive object', why: 'no hang in open', checksum: APP_FILE, ext: 'filez' },
      { what: 'a directory in place of a dirtree', why: 'no raw EISDIR', checksum: APP_DIRTREE, ext: 'dirtree' },
    ])('$what: exit 4 naming it ($why)', async ({ checksum, ext }) => {
      const b = await box(runtimeOnly);
      const src = await sourceCopy(b);
      const obj = path.join(src, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);
      await fs.rm(obj);
      if (ext === 'filez') await run('mkfifo', [obj]);
      else await fs.mkdir(obj);
      const kind = ext === 'filez' ? 'a FIFO' : 'a directory';
      await expectRefused(
        b,
        createArgs(src, b.drive, 'org.example.App'),
        4,
        new RegExp(`'${esc(obj)}' is ${kind}, not a regular file`),
      );
      await expectVerifies(b.drive);
    });

    it('bare-user-only source: a FIFO and a symlink to a secret in place of file objects: exit 4 naming each', async () => {
      const b = await box(runtimeOnly);
      const src = path.join(b.dir, 'buo');
      await ostree(['init', `--repo=${src}`, '--mode=bare-user-only']);
      await ostree(['pull-local', `--repo=${src}`, EXAMPLE]);
      const obj = path.join(src, 'objects', APP_FILE.slice(0, 2), `${APP_FILE.slice(2)}.file`);
      await fs.rm(obj);
      await run('mkfifo', [obj]);
      const args = [
        'create',
        '--repo',
        src,
        '--collection-id',
        CID,
        '--no-upstream-summary',
        '--no-fsync',
        b.drive,
        'org.example.App',
      ];
      await expectRefused(b, args, 4, new RegExp(`'${esc(obj)}' is a FIFO, not a regular file`));
      await fs.rm(obj);
      await fs.symlink(b.secret, obj);
      // bare-user-only stores symlinks as symlinks: this one is read as a symlink object and fails its checksum.
      await expectRefused(b, args, 4, new RegExp(`${APP_FILE}.*${esc(obj)}|${esc(obj)}.*${APP_FILE}`));
      expect((await run('grep', ['-rl', SECRET.trim(), b.drive])).stdout).toBe('');
      await expectVerifies(b.drive);
    });
  });

  describe.concurrent('6. modes under umask 077', () => {
    it('the drive is written 0755/0644, as flatpak create-usb writes it, readable by another user', async () => {
      const b = await box();
      await fs.chmod(b.drive, 0o755);
      // The temp directories above the box (a per-run one, mkdtemp's 0700) must let another user through too.
      for (let d = path.dirname(b.dir); d.startsWith(os.tmpdir() + path.sep); d = path.dirname(d))
        await fs.chmod(d, 0o755);
      const r = await cli(createArgs(EXAMPLE, b.drive, 'org.example.App'), { umask: '077' });
      expect(r.code, r.stderr).toBe(0);
      const wrong = (await snapshotDir(b.drive)).filter(
        (l) => !(l.startsWith('d ') && l.endsWith(' 755')) && !(l.startsWith('f ') && / 644 \d+ [0-9a-f]{64}$/.test(l)),
      );
      expect(wrong).toEqual([]);
      // A client running as another user can read it.
      if (isRoot) {
        const refs = await run('runuser', [
          '-u',
          'nobody',
          '--',
          'ostree',
          'refs',
          `--repo=${b.repo}`,
          '--collections',
        ]);
        expect(refs.code, refs.stderr).toBe(0);
        expect(refs.stdout).toContain(`(${CID}, ${APP})`);
      }
      await expectVerifies(b.drive);
    });
  });
});
