/**
 * `sideload create` from a flatpak installation, against the real tools: the drive passes `ostree fsck`, stock
 * flatpak installs from it offline, it matches what real `flatpak create-usb` writes for the same installation,
 * partially installed Locale extensions become partial commits, and installation-specific bad inputs fail cleanly.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import {
  APP,
  APP_LOCALE,
  ARCH,
  CID,
  describeInterop,
  flatpakEnv,
  installedCommits,
  installedExample,
  installedTranslation,
  makeExampleRepo,
  offlineInstall,
  PLATFORM,
  PLATFORM_LOCALE,
  remoteAdd,
  run,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
  type FlatpakEnv,
  exampleSignArgs,
} from '../helpers/flatpak-fixtures.js';
import { decodeSummary } from '../../src/summary/summary.js';
import { decodeCommit } from '../../src/ostree/commit.js';
import { objectPath } from '../../src/ostree/object.js';
import { lookup } from '../../src/gvariant/index.js';
import { appInstallRefs, fsck, mirrorRefs, objectNames, snapshotDir, summaryView } from './create-helpers.js';

describeInterop('sideload create from a flatpak installation (real flatpak as the oracle)', () => {
  let ex: ExampleRepo;
  let inst: FlatpakEnv; // the app installed with every language
  let sourceCommits: Map<string, string>;
  let drive: string; // sideload create --installation-dir
  let fpDrive: string; // flatpak create-usb
  let slDrive: string; // sideload create --user, after create-usb ran on the same installation

  beforeAll(async () => {
    ex = await makeExampleRepo();
    inst = await installedExample(ex);
    sourceCommits = await installedCommits(inst);
    drive = await tempDir('sideload-drive-');
    const r = await sideload(['create', '--installation-dir', inst.userDir, '--no-fsync', drive, 'org.example.App'], {
      env: inst.env,
    });
    if (r.code !== 0) throw new Error(`sideload create failed (${r.code}): ${r.stderr}`);
    // create-usb updates the remote's appstream into the installation before copying (format.md §8.3), so it runs
    // first; sideload (which never touches the source) then finds the same appstream refs there.
    fpDrive = await tempDir('sideload-fpdrive-');
    await runOk('flatpak', ['--user', 'create-usb', fpDrive, 'org.example.App'], { env: inst.env });
    slDrive = await tempDir('sideload-sldrive-');
    const r2 = await sideload(['create', '--user', '--no-fsync', slDrive, 'org.example.App'], { env: inst.env });
    if (r2.code !== 0) throw new Error(`sideload create --user failed (${r2.code}): ${r2.stderr}`);
  });

  it('the installation holds the app, its runtime and both Locale extensions (fixture sanity)', () => {
    expect([...sourceCommits.keys()].sort()).toEqual(appInstallRefs(ARCH).sort());
    for (const c of sourceCommits.values()) expect(c).toMatch(/^[0-9a-f]{64}$/);
  });

  it('writes the deployed commits of the app, runtime and locales to refs/mirrors, and ostree fsck passes', async () => {
    const repo = path.join(drive, '.ostree/repo');
    const refs = await mirrorRefs(repo);
    for (const [ref, commit] of sourceCommits) expect(refs.get(`${CID} ${ref}`), ref).toBe(commit);
    expect(refs.get(`${CID} ostree-metadata`)).toMatch(/^[0-9a-f]{64}$/);
    const out = await fsck(repo);
    expect(out).toMatch(/completed successfully - no errors found/);
    // Full installation: nothing partial.
    expect(await fs.readdir(path.join(repo, 'state'))).toEqual([]);
  });

  it("the drive's .flatpakrepo carries the installation remote's URL, title and key; the README names the remote", async () => {
    const text = await fs.readFile(path.join(drive, `${CID}.flatpakrepo`), 'utf8');
    expect(text).toContain(`Url=file://${ex.repo}\n`);
    expect(text).toContain(`DeploySideloadCollectionID=${CID}\n`);
    expect(text).toMatch(/^GPGKey=[A-Za-z0-9+/=]{40,}$/m);
    const readme = await fs.readFile(path.join(drive, 'README-sideload.txt'), 'utf8');
    expect(readme).toContain(`flatpak remote-add --user --if-not-exists example ${CID}.flatpakrepo`);
    expect(readme).not.toContain('placeholder');
  });

  it.each([
    ['the mount directory', (d: string) => d],
    ['the repo path', (d: string) => path.join(d, '.ostree/repo')],
  ])('stock flatpak installs the app, runtime and locales offline with --sideload-repo=%s', async (_what, where) => {
    const { f, result } = await offlineInstall(ex, where(drive));
    expect(result.code, result.stderr).toBe(0);
    expect(await installedCommits(f)).toEqual(sourceCommits);
    // The locale content really arrived (the deployed files, not just a ref).
    const mo = await installedTranslation(f, 'fr');
    expect(mo).toBe('app messages (fr) v1\n');
  });

  it('puts the same refs at the same commits as real flatpak create-usb, plus ostree-metadata', async () => {
    const fpRepo = path.join(fpDrive, '.ostree/repo');
    const slRepo = path.join(slDrive, '.ostree/repo');
    const fpRefs = await mirrorRefs(fpRepo);
    const slRefs = await mirrorRefs(slRepo);
    // create-usb copied the installed refs and the appstream it fetched; flatpak 1.14 writes no ostree-metadata.
    expect(fpRefs.has(`${CID} ostree-metadata`)).toBe(false);
    expect([...fpRefs.keys()].some((k) => k.startsWith(`${CID} appstream`))).toBe(true);
    const slWithout = new Map([...slRefs].filter(([k]) => k !== `${CID} ostree-metadata`));
    expect(slWithout).toEqual(fpRefs);
    // ours has exactly one extra ref: the ostree-metadata commit of drive.md §4, bound to the collection.
    const meta = slRefs.get(`${CID} ostree-metadata`) as string;
    expect(meta).toMatch(/^[0-9a-f]{64}$/);
    const commitBytes = await fs.readFile(path.join(slRepo, objectPath(meta, 'commit', 'archive')));
    const commit = decodeCommit(new Uint8Array(commitBytes), meta);
    expect(lookup(commit.metadata, 'ostree.collection-binding')?.value).toBe(CID);
    expect(lookup(commit.metadata, 'ostree.ref-binding')?.value).toEqual(['ostree-metadata']);
    // Objects: every object of create-usb's drive is on ours; ours adds only the ostree-metadata commit (its
    // empty tree and root dirmeta are shared with the refs).
    const fpObjects = await objectNames(fpRepo);
    const slObjects = new Set(await objectNames(slRepo));
    for (const o of fpObjects) expect(slObjects.has(o), o).toBe(true);
    const extra = [...slObjects].filter((o) => !fpObjects.includes(o));
    expect(extra).toEqual([objectPath(meta, 'commit', 'archive').slice('objects/'.length)]);
  });

  it('writes a summary that ostree decodes to the same content as create-usb’s, apart from last-modified and ostree-metadata', async () => {
    const fpView = await runOk('ostree', ['summary', '--view', `--repo=${path.join(fpDrive, '.ostree/repo')}`]);
    const slView = await runOk('ostree', ['summary', '--view', `--repo=${path.join(slDrive, '.ostree/repo')}`]);
    expect(fpView).toMatch(/Last-Modified \(ostree\.summary\.last-modified\)/);
    expect(slView).toMatch(new RegExp(`^\\* \\(${CID.replace(/\./g, '\\.')}, ostree-metadata\\)$`, 'm'));
    expect(summaryView(slView, ['ostree-metadata'])).toBe(summaryView(fpView));

    // The same through our decoder: identical collection maps (sizes, timestamps, per-ref metadata) and
    // identical summary metadata except last-modified.
    const fp = decodeSummary(new Uint8Array(await fs.readFile(path.join(fpDrive, '.ostree/repo/summary'))));
    const sl = decodeSummary(new Uint8Array(await fs.readFile(path.join(slDrive, '.ostree/repo/summary'))));
    expect(sl.refs).toEqual(fp.refs); // both empty: all refs are in the collection map
    expect(fp.refs).toEqual([]);
    const slCol = (sl.collectionMap.get(CID) ?? []).filter((r) => r.ref !== 'ostree-metadata');
    expect(slCol).toEqual(fp.collectionMap.get(CID));
    expect([...sl.collectionMap.keys()]).toEqual([...fp.collectionMap.keys()]);
    // (the collection map, compared above, is the one key that holds ostree-metadata)
    const strip = (m: typeof fp.metadata) =>
      m.filter(([k]) => k !== 'ostree.summary.last-modified' && k !== 'ostree.summary.collection-map');
    expect(fp.metadata.map(([k]) => k)).toContain('ostree.summary.collection-map');
    expect(strip(sl.metadata)).toEqual(strip(fp.metadata));
    expect(sl.lastModified).toBeTypeOf('bigint');
  });

  it('writes the repo config ostree writes for a new archive repo (create-usb’s summary step later adds indexed-deltas)', async () => {
    const init = await tempDir('sideload-init-');
    await runOk('ostree', ['init', '--mode=archive', `--repo=${init}`]);
    const ours = await fs.readFile(path.join(slDrive, '.ostree/repo/config'), 'utf8');
    expect(ours).toBe(await fs.readFile(path.join(init, 'config'), 'utf8'));
    // Real create-usb: ostree_repo_regenerate_summary rewrites the config with indexed-deltas=true. Clients
    // ignore it for a sideload repo; we keep format.md §1.2's text. This documents the one byte difference.
    const theirs = await fs.readFile(path.join(fpDrive, '.ostree/repo/config'), 'utf8');
    expect(
      theirs
        .split('\n')
        .filter((l) => l !== 'indexed-deltas=true')
        .join('\n'),
    ).toBe(ours);
  });

  it('updates a drive written by flatpak create-usb in place: refs kept, ostree-metadata added, fsck and verify pass', async () => {
    const d = await tempDir('sideload-onfp-');
    await runOk('cp', ['-a', `${fpDrive}/.`, d]);
    const before = await mirrorRefs(path.join(d, '.ostree/repo'));
    const r = await sideload(['create', '--user', '--no-fsync', d, 'org.example.App'], { env: inst.env });
    expect(r.code, r.stderr).toBe(0);
    const after = await mirrorRefs(path.join(d, '.ostree/repo'));
    expect(new Map([...after].filter(([k]) => k !== `${CID} ostree-metadata`))).toEqual(before);
    expect(after.get(`${CID} ostree-metadata`)).toMatch(/^[0-9a-f]{64}$/);
    expect(await fsck(path.join(d, '.ostree/repo'))).toMatch(/no errors found/);
    const v = await sideload(['verify', d]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const { f, result } = await offlineInstall(ex, d);
    expect(result.code, result.stderr).toBe(0);
    expect(await installedCommits(f)).toEqual(sourceCommits);
  });

  // ------------------------------------------------------------------------------------------------------------
  // A partially installed Locale (flatpak configured for German only)

  let partial: FlatpakEnv;
  let partialCommits: Map<string, string>;
  beforeAll(async () => {
    partial = await installedExample(ex, { languages: ['de'] });
    partialCommits = await installedCommits(partial);
  });

  it('copies a partially installed Locale as a partial commit, warns naming the missing languages, and --allow-partial silences it', async () => {
    const d = await tempDir('sideload-partial-');
    const r = await sideload(['create', '--installation-dir', partial.userDir, '--no-fsync', d, 'org.example.App'], {
      env: partial.env,
    });
    expect(r.code, r.stderr).toBe(0);
    for (const ref of [APP_LOCALE, PLATFORM_LOCALE]) {
      const line = r.stderr.split('\n').find((l) => l.startsWith('warning:') && l.includes(`'${ref}'`));
      expect(line, `a warning about ${ref} in:\n${r.stderr}`).toBeDefined();
      expect(line).toMatch(/languages de only/);
      expect(line).toMatch(/\bes\b/);
      expect(line).toMatch(/\bfr\b/);
    }
    const repo = path.join(d, '.ostree/repo');
    // state/<commit>.commitpartial for exactly the two Locale commits.
    const state = (await fs.readdir(path.join(repo, 'state'))).sort();
    expect(state).toEqual(
      [partialCommits.get(APP_LOCALE), partialCommits.get(PLATFORM_LOCALE)].map((c) => `${c}.commitpartial`).sort(),
    );
    const refs = await mirrorRefs(repo);
    for (const [ref, commit] of partialCommits) expect(refs.get(`${CID} ${ref}`), ref).toBe(commit);
    // ostree agrees: fsck skips the partial commits but passes, German is there, French is not.
    const out = await fsck(repo);
    expect(out).toMatch(/2 partial commits not verified/);
    expect(out).toMatch(/no errors found/);
    const localeCommit = partialCommits.get(APP_LOCALE) as string;
    expect(await runOk('ostree', ['ls', '-R', `--repo=${repo}`, localeCommit, '/files/de'])).toMatch(/app\.mo/);
    const fr = await run('ostree', ['ls', '-R', `--repo=${repo}`, localeCommit, '/files/fr']);
    expect(fr.code).not.toBe(0);

    // A German client installs from it offline.
    const { f, result } = await offlineInstall(ex, d, ['org.example.App'], { languages: ['de'] });
    expect(result.code, result.stderr).toBe(0);
    expect(await installedCommits(f)).toEqual(partialCommits);
    expect(await installedTranslation(f, 'de')).toBe('app messages (de) v1\n');

    // --allow-partial: the same drive content, no partial warning.
    const d2 = await tempDir('sideload-partial2-');
    const r2 = await sideload(
      ['create', '--installation-dir', partial.userDir, '--no-fsync', '--allow-partial', d2, 'org.example.App'],
      { env: partial.env },
    );
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).not.toMatch(/languages de only|partially installed/);
    const withoutMeta = (m: Map<string, string>) => new Map([...m].filter(([k]) => k !== `${CID} ostree-metadata`));
    expect(withoutMeta(await mirrorRefs(path.join(d2, '.ostree/repo')))).toEqual(withoutMeta(refs));
    expect((await fs.readdir(path.join(d2, '.ostree/repo/state'))).sort()).toEqual(state);
  });

  it('--locales fr from a German-only installation says plainly that the source has no fr and what goes on the drive', async () => {
    const d = await tempDir('sideload-nofr-');
    const r = await sideload(
      ['create', '--installation-dir', partial.userDir, '--no-fsync', '--locales', 'fr', d, 'org.example.App'],
      { env: partial.env },
    );
    expect(r.code, r.stderr).toBe(0);
    for (const ref of [APP_LOCALE, PLATFORM_LOCALE]) {
      expect(r.stderr).toContain(
        `warning: the source installation has no fr for '${ref}' (installed: de); the drive gets it without any language (its metadata only)`,
      );
      expect(r.stdout).toMatch(
        new RegExp(`${ref.replace(/[./]/g, '\\$&')} +[0-9a-f]{12} \\[related\\] partial \\(metadata only\\)`),
      );
    }
    expect(r.stdout + r.stderr).not.toMatch(/\(none\)|partial \(\)/);
  });

  it('marks the same commits partial as real flatpak create-usb does', async () => {
    const fpd = await tempDir('sideload-partial-fp-');
    const fpOut = await run2('flatpak', ['--user', 'create-usb', fpd, 'org.example.App'], partial.env);
    expect(fpOut.code, fpOut.stderr).toBe(0);
    expect(fpOut.stderr).toMatch(/partially installed/);
    const sld = await tempDir('sideload-partial-sl-');
    const r = await sideload(['create', '--user', '--no-fsync', sld, 'org.example.App'], { env: partial.env });
    expect(r.code, r.stderr).toBe(0);
    const fpState = (await fs.readdir(path.join(fpd, '.ostree/repo/state'))).sort();
    expect(fpState.length).toBe(2);
    expect((await fs.readdir(path.join(sld, '.ostree/repo/state'))).sort()).toEqual(fpState);
    const slRefs = await mirrorRefs(path.join(sld, '.ostree/repo'));
    slRefs.delete(`${CID} ostree-metadata`);
    expect(slRefs).toEqual(await mirrorRefs(path.join(fpd, '.ostree/repo')));
    // Both drives hold the same objects (apart from our ostree-metadata commit): German only.
    const fpObjects = await objectNames(path.join(fpd, '.ostree/repo'));
    const slObjects = await objectNames(path.join(sld, '.ostree/repo'));
    expect(slObjects.filter((o) => !fpObjects.includes(o))).toHaveLength(1);
    expect(fpObjects.filter((o) => !slObjects.includes(o))).toEqual([]);
  });

  // ------------------------------------------------------------------------------------------------------------
  // Bad inputs specific to installations: the drive is left byte for byte as it was.

  it('refuses a ref that is not installed (exit 3), naming it, and leaves the drive untouched', async () => {
    const before = await snapshotDir(drive);
    // The GL extension is in the remote but not installed (no-autodownload, enable-if).
    const r = await sideload(
      ['create', '--installation-dir', inst.userDir, drive, `runtime/org.example.Platform.GL.default/${ARCH}/1.4`],
      { env: inst.env },
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/org\.example\.Platform\.GL\.default.*is not installed/);
    expect(await snapshotDir(drive)).toEqual(before);
    const r2 = await sideload(['create', '--installation-dir', inst.userDir, drive, 'org.example.DoesNotExist'], {
      env: inst.env,
    });
    expect(r2.code).toBe(3);
    expect(r2.stderr).toMatch(/'org\.example\.DoesNotExist'.*not installed/);
    expect(await snapshotDir(drive)).toEqual(before);
  });

  it("refuses an app whose remote has no collection ID (exit 2), naming the remote and the fix command, as create-usb does; --collection-id serves it with the remote's key, URL and summary", async () => {
    const f = await flatpakEnv();
    await remoteAdd(f, 'nocid', `file://${ex.repo}`, ex.gpgKey, { collectionId: null });
    await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'nocid', 'org.example.App']);
    const d = await tempDir('sideload-nocid-');
    await fs.writeFile(path.join(d, 'keep.txt'), 'user data\n');
    const before = await snapshotDir(d);
    // The oracle refuses too.
    const fp = await run2(
      'flatpak',
      ['--user', 'create-usb', await tempDir('sideload-nocid-fp-'), 'org.example.App'],
      f.env,
    );
    expect(fp.code).not.toBe(0);
    expect(fp.stderr).toMatch(/does not have a collection ID/);

    // No --user: sideload picks the installation that has the app, and the fix names that one (flatpak's own
    // default would be the system installation).
    const r = await sideload(['create', d, 'org.example.App'], { env: f.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/remote 'nocid' does not have a collection ID/);
    // The commits are bound to org.example.Stable (ostree.collection-binding): the fix names that ID, not a placeholder.
    const fix = /Fix it with: (flatpak --user remote-modify --collection-id=org\.example\.Stable nocid) /.exec(
      r.stderr,
    );
    expect(fix, r.stderr).not.toBeNull();
    expect(await snapshotDir(d)).toEqual(before);

    // --collection-id instead of the fix: the remote still serves that collection, with its key, URL and summary.
    const labelled = await tempDir('sideload-nocid-label-');
    const l = await sideload(['create', '--no-fsync', '--collection-id', CID, labelled, 'org.example.App'], {
      env: f.env,
    });
    expect(l.code, l.stderr).toBe(0);
    expect(l.stderr).not.toMatch(/no-upstream-summary|no-appstream|was not known/);
    const repoFile = await fs.readFile(path.join(labelled, `${CID}.flatpakrepo`), 'utf8');
    expect(repoFile).toContain(`Url=file://${ex.repo}`);
    expect(repoFile).toMatch(/^GPGKey=\S+$/m);
    expect(await fs.readFile(path.join(labelled, 'README-sideload.txt'), 'utf8')).toContain("'nocid'");
    // ... and its commits are checked with that key: an unsigned app commit is refused, as with the ID configured.
    // (It was copied without a word, and flatpak installed it from the drive.)
    const copy = path.join(await tempDir('sideload-nocid-copy-'), 'user');
    await fs.cp(f.userDir, copy, { recursive: true, verbatimSymlinks: true });
    const appCommit = (await fs.readFile(path.join(copy, 'repo/refs/remotes/nocid', APP), 'utf8')).trim();
    await fs.rm(path.join(copy, 'repo', objectPath(appCommit, 'commitmeta', 'bare-user-only')));
    const unsigned = await sideload(
      [
        'create',
        '--no-fsync',
        '--installation-dir',
        copy,
        '--offline',
        '--collection-id',
        CID,
        await tempDir('sideload-nocid-u-'),
        'org.example.App',
      ],
      { env: f.env },
    );
    expect(unsigned.code, unsigned.stderr).toBe(5);
    expect(unsigned.stderr).toContain(APP);
    // An ID that is not the remote's own is refused, naming both.
    await f.flatpakOk(['--user', 'remote-modify', '--collection-id=org.example.Other', 'nocid']);
    const other = await sideload(['create', '--dry-run', '--collection-id', CID, labelled, 'org.example.App'], {
      env: f.env,
    });
    expect(other.code, other.stderr).toBe(2);
    expect(other.stderr).toContain(
      `--collection-id '${CID}' differs from the collection ID 'org.example.Other' of remote 'nocid'`,
    );
    await f.flatpakOk(['--user', 'remote-modify', '--collection-id=', 'nocid']);
    // The fix command, run as printed, works: with the collection ID set, the same call succeeds.
    const fixed = await run2('sh', ['-c', fix?.[1] as string], f.env);
    expect(fixed.code, fixed.stderr).toBe(0);
    const ok = await sideload(['create', '--no-fsync', d, 'org.example.App'], { env: f.env });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await mirrorRefs(path.join(d, '.ostree/repo'))).get(`${CID} ${APP}`)).toBe(sourceCommits.get(APP));
  });
});

function run2(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  return run(cmd, args, { env });
}

describeInterop('an app installed for the user on a runtime installed system-wide', () => {
  it('takes the runtime from the system installation (flatpak create-usb refuses); the drive installs offline', async () => {
    const ex = await makeExampleRepo();
    const f = await flatpakEnv();
    // The runtime system-wide, then the app for the user: flatpak reuses the system's runtime, as on a desktop.
    await remoteAdd(f, 'example', `file://${ex.repo}`, ex.gpgKey, { scope: '--system' });
    await remoteAdd(f, 'example', `file://${ex.repo}`, ex.gpgKey);
    await f.flatpakOk(['--system', 'install', '-y', '--noninteractive', 'example', PLATFORM]);
    await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', APP]);
    const userRefs = await f.flatpakOk(['--user', 'list', '--columns=ref']);
    expect(userRefs).toContain('org.example.App/');
    expect(userRefs).not.toContain('org.example.Platform/');
    // The oracle refuses: the runtime is not in the app's installation.
    const fp = await run('flatpak', ['--user', 'create-usb', await tempDir('sideload-mixed-fp-'), 'org.example.App'], {
      env: f.env,
    });
    expect(fp.code).not.toBe(0);

    // No installation named: sideload picks the user's (it has the app) and takes the runtime from the system's.
    const d = await tempDir('sideload-mixed-');
    const r = await sideload(['create', '--json', '--no-fsync', d, 'org.example.App'], { env: f.env });
    expect(r.code, r.stderr).toBe(0);
    const refs = (JSON.parse(r.stdout) as { refs: Array<{ ref: string; reason: string }> }).refs;
    expect(refs.find((x) => x.ref === PLATFORM)?.reason).toBe('runtime');
    const repo = path.join(d, '.ostree/repo');
    const onDrive = await mirrorRefs(repo);
    const system = await runOk('ostree', [
      `--repo=${path.join(f.env['FLATPAK_SYSTEM_DIR'] as string, 'repo')}`,
      'rev-parse',
      `example:${PLATFORM}`,
    ]);
    expect(onDrive.get(`${CID} ${PLATFORM}`)).toBe(system.trim());
    expect(await fsck(repo)).toMatch(/no errors found/);
    const v = await sideload(['verify', '--gpg-import', ex.gpgKey, d]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const { result } = await offlineInstall(ex, d);
    expect(result.code, result.stderr + result.stdout).toBe(0);

    // With the user installation named: the same, as flatpak --user uses the system's runtimes.
    const named = await tempDir('sideload-mixed-u-');
    const u = await sideload(['create', '--user', '--no-fsync', named, 'org.example.App'], { env: f.env });
    expect(u.code, u.stderr).toBe(0);
    const content = (m: Map<string, string>) => [...m].filter(([k]) => !k.endsWith(' ostree-metadata'));
    expect(content(await mirrorRefs(path.join(named, '.ostree/repo')))).toEqual(content(onDrive));

    // A manifest naming the user installation, locked, then made from the lock: the same refs. (The appstream is the
    // remote's, which the installation's repo lacks: the locked run must read it where the lock run did.)
    const manifest = path.join(named, '..', 'mixed.yaml');
    await fs.writeFile(manifest, 'sources:\n  - installation: user\n    refs: [org.example.App]\n');
    const lock = await sideload(['lock', manifest, '-o', `${manifest}.lock`], { env: f.env });
    expect(lock.code, lock.stderr).toBe(0);
    const fromLock = await tempDir('sideload-mixed-lock-');
    const l = await sideload(['create', '--no-fsync', '--lock', `${manifest}.lock`, fromLock], { env: f.env });
    expect(l.code, l.stderr).toBe(0);
    expect(content(await mirrorRefs(path.join(fromLock, '.ostree/repo')))).toEqual(content(onDrive));

    // A system installation's app uses only its own runtimes: with the runtime only in the user installation, the
    // error says where it is.
    await f.flatpakOk(['--system', 'install', '-y', '--noninteractive', 'example', APP]);
    await f.flatpakOk(['--system', 'uninstall', '-y', '--noninteractive', '--no-related', '--force-remove', PLATFORM]);
    await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', PLATFORM]);
    const sys = await sideload(
      ['create', '--system', '--dry-run', await tempDir('sideload-mixed-s-'), 'org.example.App'],
      { env: f.env },
    );
    expect(sys.code, sys.stderr).toBe(3);
    expect(sys.stderr).toContain(
      `runtime '${PLATFORM}' needed by '${APP}' is not installed in the source installation; it is installed in the ` +
        "'user' installation, which sideload does not read for this one",
    );
  });

  it("update reads the installation the drive's apps are installed in (the system one), as create did", async () => {
    const ex = await makeExampleRepo();
    const f = await flatpakEnv();
    await remoteAdd(f, 'example', `file://${ex.repo}`, ex.gpgKey, { scope: '--system' });
    await remoteAdd(f, 'example', `file://${ex.repo}`, ex.gpgKey); // a user installation too, listed first
    await f.flatpakOk(['--system', 'install', '-y', '--noninteractive', 'example', APP]);
    const d = await tempDir('sideload-sysapp-');
    const c = await sideload(['create', '--no-fsync', d, 'org.example.App'], { env: f.env });
    expect(c.code, c.stderr).toBe(0);
    const u = await sideload(['update', '--json', '--no-fsync', d], { env: f.env });
    expect(u.code, u.stderr).toBe(0);
    const doc = JSON.parse(u.stdout) as { changed: boolean; warnings: Array<{ code: string }> };
    expect(doc.warnings.map((w) => w.code)).not.toContain('not-in-source');
    expect(doc.changed).toBe(false);
  });

  it('a system installation that cannot be read offers no runtimes: a warning, and the run goes on', async () => {
    const ex = await makeExampleRepo();
    const f = await flatpakEnv();
    await remoteAdd(f, 'example', `file://${ex.repo}`, ex.gpgKey);
    await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', APP]);
    const sysRepo = path.join(f.env['FLATPAK_SYSTEM_DIR'] as string, 'repo');
    await fs.mkdir(sysRepo, { recursive: true });
    await fs.writeFile(path.join(sysRepo, 'config'), '[core\nrepo_version=\n'); // not a keyfile
    const d = await tempDir('sideload-brokensys-');
    const r = await sideload(['create', '--user', '--json', '--no-fsync', d, 'org.example.App'], { env: f.env });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { warnings: Array<{ code: string; message: string }> };
    expect(doc.warnings.find((w) => w.code === 'installation-unreadable')?.message).toBe(
      "the runtimes of the 'system' installation are not offered: the 'system' installation's " +
        `${path.join(sysRepo, 'config')} is malformed: line 1: malformed group header '[core'`,
    );
    // With no installation named, the broken one is in scope: the run stops, naming the file.
    const all = await sideload(['create', '--dry-run', d, 'org.example.App'], { env: f.env });
    expect([all.code, all.stderr]).toEqual([
      4,
      `sideload: error: the 'system' installation's ${path.join(sysRepo, 'config')} is malformed: line 1: malformed ` +
        "group header '[core'\n",
    ]);
  });
});

describeInterop('a runtime of another collection, installed system-wide', () => {
  it("the drive carries that collection's appstream from the system installation, as create-usb does for each collection", async () => {
    const ex = await makeExampleRepo();
    // The runtime (and its Locale) published in a repo of their own, collection org.example.Platforms.
    const gpg = await exampleSignArgs(ex);
    const PCID = 'org.example.Platforms';
    const prt = path.join(await tempDir('sideload-platforms-'), 'repo');
    await runOk('ostree', ['init', `--repo=${prt}`, '--mode=archive-z2', `--collection-id=${PCID}`]);
    await runOk('flatpak', [
      'build-commit-from',
      ...gpg,
      '--no-update-summary',
      `--src-repo=${ex.repo}`,
      prt,
      PLATFORM,
    ]);
    await runOk('flatpak', [
      'build-commit-from',
      ...gpg,
      '--no-update-summary',
      `--src-repo=${ex.repo}`,
      prt,
      PLATFORM_LOCALE,
    ]);
    await runOk('flatpak', ['build-update-repo', ...gpg, prt]);
    const f = await flatpakEnv();
    await remoteAdd(f, 'platforms', `file://${prt}`, ex.gpgKey, { scope: '--system', collectionId: PCID });
    await f.flatpakOk(['--system', 'install', '-y', '--noninteractive', 'platforms', PLATFORM]);
    await f.flatpakOk(['--system', 'update', '--appstream', 'platforms']); // as software centres keep it current
    await remoteAdd(f, 'example', `file://${ex.repo}`, ex.gpgKey);
    await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', APP]);
    expect(await f.flatpakOk(['--user', 'list', '--columns=ref'])).not.toContain('org.example.Platform/');
    const sysRepo = path.join(f.env['FLATPAK_SYSTEM_DIR'] as string, 'repo');
    const sysAppstream = (
      await runOk('ostree', [`--repo=${sysRepo}`, 'rev-parse', `platforms:appstream2/${ARCH}`])
    ).trim();

    const d = await tempDir('sideload-othercid-');
    const r = await sideload(['create', '--user', '--json', '--no-fsync', d, 'org.example.App'], { env: f.env });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { warnings: Array<{ code: string; message: string }> };
    // Before the fix: "no appstream data for collection 'org.example.Platforms'", and the drive had none of it.
    expect(doc.warnings.filter((w) => w.code === 'no-appstream')).toEqual([]);
    const onDrive = await mirrorRefs(path.join(d, '.ostree/repo'));
    expect(onDrive.get(`${PCID} ${PLATFORM}`)).toMatch(/^[0-9a-f]{64}$/);
    expect(onDrive.get(`${PCID} appstream2/${ARCH}`)).toBe(sysAppstream);
    expect(onDrive.get(`${CID} appstream2/${ARCH}`)).toMatch(/^[0-9a-f]{64}$/);
    expect(await fsck(path.join(d, '.ostree/repo'))).toMatch(/no errors found/);
    const v = await sideload(['verify', '--gpg-import', ex.gpgKey, d]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});

describeInterop('update from an installation that flatpak updated', () => {
  it('a German-only installation moves to build 2: update follows, fsck and verify pass, a client installs build 2', async () => {
    const ex = await makeExampleRepo();
    const inst = await installedExample(ex, { languages: ['de'] });
    const drive = await tempDir('sideload-inst-update-');
    const args = ['--installation-dir', inst.userDir, '--no-fsync'];
    const c = await sideload(['create', ...args, '--allow-partial', drive, 'org.example.App'], { env: inst.env });
    expect(c.code, c.stderr).toBe(0);
    const v1 = await installedCommits(inst);
    await ex.update(2);
    await inst.flatpakOk(['--user', 'update', '-y', '--noninteractive']);
    const v2 = await installedCommits(inst);
    expect(v2.get(APP)).not.toBe(v1.get(APP));
    // No partial warnings to quiet: update keeps each ref's languages (and takes no --allow-partial).
    const u = await sideload(['update', ...args, '--json', drive], { env: inst.env });
    expect(u.code, u.stdout + u.stderr).toBe(0);
    const doc = JSON.parse(u.stdout) as { refs: Array<{ ref: string; commit: string; change: string }> };
    for (const [ref, commit] of v2) expect(doc.refs.find((r) => r.ref === ref)?.commit, ref).toBe(commit);
    const repo = path.join(drive, '.ostree/repo');
    expect(await fsck(repo)).toMatch(/no errors found/);
    const v = await sideload(['verify', '--gpg-import', ex.gpgKey, drive]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const { f, result } = await offlineInstall(ex, drive, ['org.example.App'], { languages: ['de'] });
    expect(result.code, result.stderr).toBe(0);
    expect(await installedCommits(f)).toEqual(v2);
    expect(await installedTranslation(f, 'de')).toBe('app messages (de) v2\n');
    expect((await sideload(['prune', drive])).code).toBe(0);
    expect(await fsck(repo)).toMatch(/no errors found/);
  });
});
