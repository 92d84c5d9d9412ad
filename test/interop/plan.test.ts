/**
 * Plan as data (drive.md §8), end to end with the real tools: dry runs fail exactly where real runs fail and show
 * add/update/unchanged against a drive; manifest → lock → create twice gives byte-identical drives that real
 * flatpak installs from offline; a lock keeps its commit after upstream moves on; a run with nothing new writes
 * nothing; update, remove and prune keep the drive valid (ostree fsck, verify, offline install).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  APP,
  APP_LOCALE,
  ARCH,
  CID,
  describeInterop,
  GL,
  installedCommits,
  makeExampleRepo,
  offlineInstall,
  PLATFORM,
  PLATFORM_LOCALE,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { fsck } from '../helpers/fsck.js';
import { isRoot } from '../helpers/repo-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { startServer } from '../helpers/http-server.js';
import { mirrorRefs } from './create-helpers.js';

interface JsonRun {
  ok: boolean;
  changed: boolean;
  refs: Array<{
    ref: string;
    commit: string;
    change: string;
    previous: string | null;
    reason: string;
    subpaths?: string[] | null;
  }>;
  estimate: { objects: number; bytes: number; minBytes: number } | null;
  freeBytes: number | null;
  error?: { code: string; message: string };
  warnings?: Array<{ code: string; message: string }>;
}

const mounts: string[] = [];
async function tmpfs(opts: string): Promise<string> {
  const dir = await tempDir('sideload-tmpfs-');
  await runOk('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

describeInterop('plans, manifests, locks and drive maintenance', () => {
  let ex: ExampleRepo;
  let v1Repo: string;
  let v1App: string;
  beforeAll(async () => {
    ex = await makeExampleRepo();
    v1Repo = path.join(await tempDir('sideload-plan-v1-'), 'repo');
    await runOk('cp', ['-a', ex.repo, v1Repo]);
    v1App = (await fs.readFile(path.join(v1Repo, 'refs/heads', APP), 'utf8')).trim();
    await ex.update(2); // ex: build 2, signed with the same key; v1Repo: build 1
  });
  afterAll(async () => {
    for (const m of mounts) await runOk('umount', [m]).catch(() => {});
  });

  const repoArgs = (repo: string) => ['--repo', repo, '--gpg-import', ex.gpgKey, '--no-fsync'];
  const json = (r: { stdout: string }) => JSON.parse(r.stdout) as JsonRun;

  it('dry run and real run fail alike: a signed repo without its key (exit 5), before anything is written', async () => {
    const drive = await tempDir('sideload-plan-');
    for (const dry of [['--dry-run'], []]) {
      const r = await sideload(['create', '--repo', v1Repo, ...dry, drive, 'org.example.App']);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/no trusted GPG key/);
      expect(await fs.readdir(drive)).toEqual([]);
    }
  });

  it.runIf(isRoot)(
    'dry run and real run fail alike: a read-only drive (exit 1), and a drive too small (exit 1, both numbers)',
    async () => {
      const ro = await tmpfs('ro,size=4m');
      for (const dry of [['--dry-run'], []]) {
        const r = await sideload(['create', ...repoArgs(v1Repo), ...dry, ro, 'org.example.App']);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(/EROFS|read-only/);
      }
      const big = await makeExampleRepo({ bigMb: 48 });
      const small = await tmpfs('size=20m');
      for (const dry of [['--dry-run'], []]) {
        const r = await sideload([
          'create',
          '--repo',
          big.repo,
          '--gpg-import',
          big.gpgKey,
          '--no-fsync',
          '--json',
          ...dry,
          small,
          'org.example.App',
        ]);
        expect(r.code, r.stdout).toBe(1);
        const j = json(r);
        expect(j.error?.code).toBe('ENOSPC');
        expect(j.error?.message).toMatch(/has 20\.0 MiB free .* needs at least 4\d\.\d MiB/);
        expect(await fs.readdir(small)).toEqual([]);
      }
    },
  );

  it.runIf(isRoot)(
    'a nearly full drive: the free-space error gives both sizes in KiB, not "0.0 MiB free … needs at least 0.0 MiB"',
    async () => {
      const small = await tmpfs('size=1m');
      // Leave 8 KiB: less than the example app's objects take (their exact bytes, about 12 KB), far below 1 MiB.
      const free = Number(execFileSync('df', ['-B1', '--output=avail', small], { encoding: 'utf8' }).split('\n')[1]);
      await runOk('fallocate', ['-l', String(free - 8192), path.join(small, 'fill')]);
      const drive = path.join(small, 'usb');
      await fs.mkdir(drive);
      const r = await sideload(['create', ...repoArgs(v1Repo), '--json', drive, 'org.example.App']);
      expect(r.code, r.stdout).toBe(1);
      const j = json(r);
      expect(j.error?.code).toBe('ENOSPC');
      expect(j.error?.message).toMatch(
        /has [0-8]\.\d KiB free .*, and this run needs at least [1-9]\d*\.\d KiB \(\d+ objects\)/,
      );
      expect(await fs.readdir(drive)).toEqual([]);
    },
  );

  it('dry run against a drive: add, update, unchanged per ref with bytes and free space; the drive untouched', async () => {
    const drive = await tempDir('sideload-plan-');
    expect((await sideload(['create', ...repoArgs(v1Repo), drive, 'org.example.App'])).code).toBe(0);
    const before = await snapshotDir(drive);
    const r = await sideload([
      'create',
      ...repoArgs(ex.repo),
      '--dry-run',
      '--json',
      drive,
      'org.example.App',
      `runtime/org.example.Platform.GL.default/${ARCH}/1.4`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = json(r);
    const change = new Map(j.refs.map((x) => [x.ref, x.change]));
    expect(change.get(APP)).toBe('updated');
    // The rebuild may or may not give the runtime a new commit: the plan must say which, per ref.
    for (const [ref, c] of change) {
      const old = execFileSync('ostree', ['rev-parse', `--repo=${v1Repo}`, ref])
        .toString()
        .trim();
      const now = execFileSync('ostree', ['rev-parse', `--repo=${ex.repo}`, ref])
        .toString()
        .trim();
      expect(c, ref).toBe(old === now ? 'unchanged' : 'updated');
    }
    expect(j.refs.find((x) => x.ref === APP)?.previous).toBe(v1App);
    expect(j.estimate?.objects).toBeGreaterThan(0);
    expect(j.freeBytes).toBeGreaterThan(0);
    expect(await snapshotDir(drive)).toEqual(before);
    const human = await sideload(['create', ...repoArgs(ex.repo), '--dry-run', drive, 'org.example.App']);
    expect(human.stdout).toMatch(/updated +org\.example\.Stable app\/org\.example\.App\/.* \(was [0-9a-f]{12}\)/);
    expect(human.stdout).toMatch(/Refs: 0 to add, [1-9]\d* to update, \d+ unchanged, 0 to remove, 0 kept/);
    expect(human.stdout).toMatch(/free on the drive: /);
  });

  it('a real run with room to spare walks no estimate: appstream, which states no size, is sized on its own', async () => {
    const r = await sideload([
      'create',
      ...repoArgs(ex.repo),
      '--json',
      await tempDir('sideload-plan-'),
      'org.example.App',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = json(r);
    expect(j.refs.map((x) => x.ref)).toContain(`appstream2/${ARCH}`);
    expect(j.estimate).toBeNull();
    const dry = await sideload([
      'create',
      ...repoArgs(ex.repo),
      '--json',
      '--dry-run',
      await tempDir('sideload-plan-'),
      'org.example.App',
    ]);
    expect(json(dry).estimate?.objects).toBeGreaterThan(0);
  });

  it('manifest → lock → create twice: byte-identical drives, a no-op re-run, and an offline install', async () => {
    const work = await tempDir('sideload-manifest-');
    const manifest = path.join(work, 'media.yaml');
    await fs.writeFile(
      manifest,
      `arches: [${ARCH}]\nlocales: [de]\nsources:\n  - repo: ${path.relative(work, v1Repo)}\n    gpg-import: [${ex.gpgKey}]\n    refs: [org.example.App]\n`,
    );
    const lock = path.join(work, 'media.lock');
    const l = await sideload(['lock', manifest, '-o', lock]);
    expect(l.code, l.stderr).toBe(0);
    const lockText = await fs.readFile(lock, 'utf8');
    expect(lockText).toContain(`commit: ${v1App}`);
    for (const ref of [APP, PLATFORM, APP_LOCALE, PLATFORM_LOCALE, GL, `appstream2/${ARCH}`])
      expect(lockText).toContain(`ref: ${ref}\n`);
    expect(lockText).toMatch(/upstream:\n\s+org\.example\.Stable: sha256:[0-9a-f]{64}/);
    // The key that signed it, by its fingerprint (as the drive's upstream record names it), not the kind `gpg`.
    expect(lockText).toMatch(/keys:\n\s+- [0-9A-F]{40}\n/);
    // Subpaths in byte order, as every command prints and records them.
    expect(lockText).toMatch(/subpaths:\n\s+- \/files\/de\n\s+- \/metadata\n/);
    const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };
    const drives = [await tempDir('sideload-repro-a-'), await tempDir('sideload-repro-b-')];
    for (const d of drives) {
      const r = await sideload(['create', '--lock', lock, '--no-fsync', d], { env });
      expect(r.code, r.stderr).toBe(0);
    }
    const [a, b] = await Promise.all(drives.map((d) => snapshotDir(d as string)));
    expect(a).toEqual(b);
    expect(a?.length).toBeGreaterThan(50);
    // Nothing new: nothing written, not even a new summary or ostree-metadata commit (mtimes included).
    const mtime = async () => (await fs.stat(path.join(drives[0] as string, '.ostree/repo/summary'))).mtimeMs;
    const m0 = await mtime();
    const again = await sideload(['create', '--lock', lock, '--no-fsync', '--json', drives[0] as string], {
      env: { ...env, SOURCE_DATE_EPOCH: '1800000000' },
    });
    expect(again.code, again.stderr).toBe(0);
    expect(json(again).changed).toBe(false);
    expect(await snapshotDir(drives[0] as string)).toEqual(a);
    expect(await mtime()).toBe(m0);
    const { result } = await offlineInstall(ex, drives[0] as string, ['org.example.App'], { languages: ['de'] });
    expect(result.code, result.stderr).toBe(0);
  });

  it('examples/media.yaml builds a drive as the README says', async () => {
    const fromManifest = (drive: string) =>
      sideload(['create', '--manifest', path.join(projectRoot, 'examples/media.yaml'), '--no-fsync', drive]);
    const gpg = ['--gpg-import', path.join(projectRoot, 'examples/example.gpg')];
    const drive = await tempDir('sideload-example-manifest-');
    const r = await fromManifest(drive);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/added +org\.example\.Stable app\/org\.example\.App\//);
    const v = await sideload(['verify', ...gpg, drive]);
    expect(v.code, v.stdout).toBe(0);
    // On a drive that holds the Locales whole, the manifest's `locales: [de]` keeps them whole: nothing new, and no
    // warning that they go on "with languages de only" (it said so, then left the drive untouched).
    const whole = await tempDir('sideload-example-whole-');
    const all = await sideload([
      'create',
      '--repo',
      path.join(projectRoot, 'examples/repo'),
      ...gpg,
      '--no-fsync',
      whole,
      'org.example.App',
    ]);
    expect(all.code, all.stderr).toBe(0);
    const again = await fromManifest(whole);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Nothing new');
    expect(again.stderr).not.toContain('partial-locale');
    expect(again.stderr).not.toMatch(/with languages de only/);
  });

  it('a lock keeps its commit after the upstream repo gets a newer build; a commit the source lost is exit 3', async () => {
    const work = await tempDir('sideload-lock-');
    const src = path.join(work, 'repo');
    await runOk('cp', ['-a', v1Repo, src]);
    const manifest = path.join(work, 'm.yaml');
    await fs.writeFile(
      manifest,
      `sources:\n  - repo: repo\n    gpg-import: [${ex.gpgKey}]\n    refs: [org.example.App]\n`,
    );
    expect((await sideload(['lock', manifest])).code).toBe(0);
    const lock = path.join(work, 'm.lock');
    // The upstream moves on: ex now holds build 2; replace the source's refs and summary with it.
    await runOk('ostree', ['pull-local', `--repo=${src}`, ex.repo, APP]);
    const head = execFileSync('ostree', ['rev-parse', `--repo=${src}`, APP])
      .toString()
      .trim();
    expect(head).not.toBe(v1App);
    const drive = await tempDir('sideload-lock-drive-');
    const r = await sideload(['create', '--lock', lock, '--no-fsync', '--no-upstream-summary', drive]);
    expect(r.code, r.stderr).toBe(0);
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} ${APP}`)).toBe(v1App);
    // The upstream publishes its new summary too: a locked run still copies the locked commits, and says that the
    // upstream summary it carries is not the one locked; --strict stops there, before writing.
    for (const f of ['summary', 'summary.sig', 'summary.idx', 'summary.idx.sig', 'summaries'])
      await fs.rm(path.join(src, f), { recursive: true, force: true });
    for (const f of ['summary', 'summary.sig', 'summary.idx', 'summary.idx.sig', 'summaries'])
      await fs.cp(path.join(ex.repo, f), path.join(src, f), { recursive: true }).catch(() => {});
    const moved = await sideload(['create', '--lock', lock, '--no-fsync', '--json', await tempDir('sideload-lock-')]);
    expect(moved.code, moved.stderr).toBe(0);
    const warned = json(moved).warnings?.filter((w) => w.code === 'lock-upstream-changed') ?? [];
    expect(warned.map((w) => w.message)).toEqual([
      expect.stringMatching(
        /^the upstream summary of 'org\.example\.Stable' is not the one locked \(sha256:[0-9a-f]{12}… then, sha256:[0-9a-f]{12}… now\)/,
      ),
    ]);
    expect(json(moved).refs.find((x) => x.ref === APP)?.commit).toBe(v1App);
    const strictDrive = await tempDir('sideload-lock-');
    const strict = await sideload(['create', '--lock', lock, '--no-fsync', '--strict', strictDrive]);
    expect(strict.code, strict.stderr).toBe(1);
    expect(strict.stderr).toContain('--strict: warning lock-upstream-changed');
    expect(await fs.readdir(strictDrive)).toEqual([]);
    // The source forgets the pinned commit.
    await runOk('ostree', ['prune', `--repo=${src}`, '--refs-only', '--depth=0']);
    const gone = await sideload([
      'create',
      '--lock',
      lock,
      '--no-fsync',
      '--no-upstream-summary',
      await tempDir('sideload-lock-drive-'),
    ]);
    expect(gone.code, gone.stderr).toBe(3);
    expect(gone.stderr).toContain(`'${APP}' at ${v1App}`);
    // Options that shape a plan would be ignored beside a lock (they were, with exit 0): refused, naming them.
    const shaped = await sideload([
      'create',
      '--lock',
      lock,
      '--dry-run',
      '--locales',
      'fr',
      '--arch',
      'aarch64',
      drive,
    ]);
    expect(shaped.code).toBe(2);
    expect(shaped.stderr).toContain(
      'with --lock, the refs, commits and languages come from the lockfile: --locales, --arch would be ignored',
    );
  });

  it('update over HTTP: the served remote publishes a new build; partial locales stay, ostree fsck passes, the drive installs it', async () => {
    const served = path.join(await tempDir('sideload-served-'), 'repo');
    await runOk('cp', ['-a', v1Repo, served]);
    const server = await startServer(served);
    try {
      const drive = await tempDir('sideload-http-update-');
      const url = ['--url', server.url, '--gpg-import', ex.gpgKey, '--no-fsync'];
      const c = await sideload(['create', ...url, '--locales', 'de', drive, 'org.example.App']);
      expect(c.code, c.stderr).toBe(0);
      // The remote moves on: build 2 replaces the served repo, as an upstream's publish would.
      await fs.rm(served, { recursive: true });
      await runOk('cp', ['-a', ex.repo, served]);
      const exApp = execFileSync('ostree', ['rev-parse', `--repo=${ex.repo}`, APP])
        .toString()
        .trim();
      const up = await sideload(['update', ...url, '--json', drive]);
      expect(up.code, up.stderr).toBe(0);
      const doc = json(up);
      expect(doc.refs.find((x) => x.ref === APP)).toMatchObject({ change: 'updated', commit: exApp, previous: v1App });
      expect(doc.refs.find((x) => x.ref === APP_LOCALE)?.subpaths).toEqual(['/files/de', '/metadata']);
      const v = await sideload(['verify', '--gpg-import', ex.gpgKey, drive]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(await fsck(path.join(drive, '.ostree/repo'))).toMatch(/no errors found/);
      const { result, f } = await offlineInstall(ex, drive, ['org.example.App'], { languages: ['de'] });
      expect(result.code, result.stderr).toBe(0);
      expect((await installedCommits(f)).get(APP)).toBe(exApp);
      // Nothing new on the remote: nothing written.
      const again = await sideload(['update', ...url, '--json', drive]);
      expect(json(again).changed).toBe(false);
      // A partial ref taken off: its commit stays until prune, still marked partial, so fsck passes before and after.
      const rm = await sideload(['remove', '--no-fsync', drive, APP_LOCALE]);
      expect(rm.code, rm.stderr).toBe(0);
      expect(await fsck(path.join(drive, '.ostree/repo'))).toMatch(/no errors found/);
      expect((await sideload(['prune', drive])).code).toBe(0);
      expect(await fsck(path.join(drive, '.ostree/repo'))).toMatch(/no errors found/);
      expect(await fs.readdir(path.join(drive, '.ostree/repo/state'))).toEqual([
        expect.stringMatching(/^[0-9a-f]{64}\.commitpartial$/), // the Platform.Locale's, still on the drive
      ]);
    } finally {
      await server.close();
    }
  });

  it('update, remove and prune: each a verified drive that real flatpak installs what remains from', async () => {
    const drive = await tempDir('sideload-maint-');
    expect((await sideload(['create', ...repoArgs(v1Repo), drive, 'org.example.App'])).code).toBe(0);
    const repo = path.join(drive, '.ostree/repo');
    const verify = async () => {
      const v = await sideload(['verify', '--upstream-gpg', ex.gpgKey, drive]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(await fsck(repo)).toMatch(/no errors found/);
    };
    // update: the app moves to ex's newest build
    const exApp = execFileSync('ostree', ['rev-parse', `--repo=${ex.repo}`, APP])
      .toString()
      .trim();
    const up = await sideload(['update', ...repoArgs(ex.repo), '--json', drive]);
    expect(up.code, up.stderr).toBe(0);
    expect(json(up).refs.find((x) => x.ref === APP)).toMatchObject({
      change: 'updated',
      commit: exApp,
      previous: v1App,
    });
    // Each ref says why it is on the drive, as create said.
    const reasons = (doc: JsonRun) =>
      Object.fromEntries(doc.refs.map((x) => [x.ref.replace(/\/[^/]+\/[^/]+$/, ''), x.reason]));
    const created = await sideload(['create', '--dry-run', '--json', ...repoArgs(ex.repo), drive, 'org.example.App']);
    expect(reasons(json(up))).toEqual(reasons(json(created)));
    expect(reasons(json(up))).toMatchObject({
      'app/org.example.App': 'requested',
      'runtime/org.example.Platform': 'runtime',
      'runtime/org.example.App.Locale': 'related',
      [`appstream/${ARCH}`]: 'appstream',
    });
    await verify();
    const noop = await sideload(['update', ...repoArgs(ex.repo), '--json', drive]);
    expect(json(noop).changed).toBe(false);
    // prune frees the old app build, and what an interrupted run staged; its dry run says exactly that (it left the
    // staged bytes out, and the real run counted its own lock and boot ID in).
    const staged = path.join(repo, 'tmp/sideload-staging/objects/ab');
    await fs.mkdir(staged, { recursive: true });
    await fs.writeFile(path.join(staged, `${'c'.repeat(62)}.filez`), Buffer.alloc(5000, 1));
    const dry = await sideload(['prune', '--dry-run', '--json', drive]);
    expect(dry.code, dry.stderr).toBe(0);
    const p = await sideload(['prune', '--json', drive]);
    expect(p.code, p.stderr).toBe(0);
    const pr = JSON.parse(p.stdout) as { objectsDeleted: number; bytesFreed: number };
    expect(pr.objectsDeleted).toBeGreaterThan(0);
    expect(pr.bytesFreed).toBeGreaterThan(5000);
    const { dryRun, ...dryCounts } = JSON.parse(dry.stdout) as Record<string, unknown>;
    const { dryRun: real, ...realCounts } = JSON.parse(p.stdout) as Record<string, unknown>;
    expect([dryRun, real]).toEqual([true, false]);
    expect(dryCounts).toEqual(realCounts);
    await expect(fs.access(path.join(repo, 'tmp/sideload-staging/objects'))).rejects.toThrow();
    await expect(
      fs.access(path.join(repo, 'objects', v1App.slice(0, 2), `${v1App.slice(2)}.commit`)),
    ).rejects.toThrow();
    await verify();
    expect((await offlineInstall(ex, drive)).result.code).toBe(0);
    // remove the GL extension: the summary no longer lists it, prune takes its objects
    const rm = await sideload(['remove', drive, GL]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toMatch(/removed +\S+ runtime\/org\.example\.Platform\.GL\.default/);
    expect(rm.stdout).not.toContain('Objects:'); // nothing copied, no line of zeros
    expect(await runOk('ostree', ['summary', '--view', `--repo=${repo}`])).not.toContain(GL);
    expect((await sideload(['prune', drive])).stdout).toMatch(/Deleted [1-9]\d* objects/);
    await verify();
    expect((await offlineInstall(ex, drive)).result.code).toBe(0);
    // remove the app with what only it needed: the runtime and extensions go, appstream with them
    const all = await sideload(['remove', '--with-deps', '--json', drive, 'org.example.App']);
    expect(all.code, all.stderr).toBe(0);
    expect(
      json(all)
        .refs.filter((x) => x.change === 'removed')
        .map((x) => x.ref),
    ).toContain(PLATFORM);
    expect((await sideload(['prune', drive])).code).toBe(0);
    expect(await fsck(repo)).toMatch(/no errors found|0 commits/);
    expect([...(await mirrorRefs(repo)).keys()]).toEqual([]);
    expect(await fs.readdir(path.join(repo, 'refs/mirrors'))).toEqual([]); // the directory itself stays (format.md §1.2)
  });
});
