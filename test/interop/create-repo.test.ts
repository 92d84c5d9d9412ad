/**
 * `sideload create --repo` against the real tools: fsck and offline installs, --destination-repo with its repos.d
 * link, two arches, a second run, --dry-run and --json, and bad inputs (each with its exit code, a message naming
 * the culprit, and a drive left byte for byte as it was).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  APP,
  ARCH,
  CID,
  describeInterop,
  GL,
  installedCommits,
  installedTranslation,
  makeExampleRepo,
  offlineInstall,
  PLATFORM,
  PLATFORM_LOCALE,
  run,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { decodeCommit } from '../../src/ostree/commit.js';
import { objectPath } from '../../src/ostree/object.js';
import { appInstallRefs, fsck, mirrorRefs, revParse, snapshotDir } from './create-helpers.js';

/** Everything `create --repo … org.example.App` puts on the drive besides ostree-metadata. */
const APP_DRIVE_REFS = [...appInstallRefs(ARCH), GL, `appstream/${ARCH}`, `appstream2/${ARCH}`].sort();

interface JsonRef {
  collectionId: string;
  ref: string;
  commit: string;
  change: string;
  partial: boolean;
}

/** A drive of both arches of a two-arch example repo. */
const bothArches = (ex: ExampleRepo) => [
  '--repo',
  ex.repo,
  '--gpg-import',
  ex.gpgKey,
  '--no-fsync',
  '--arch',
  'aarch64',
  '--arch',
  'x86_64',
];

describeInterop('sideload create --repo (real ostree/flatpak as the oracle)', () => {
  let ex: ExampleRepo;
  let gpg: string[];
  let source: Map<string, string>; // ref → newest commit in the source repo
  let drive: string; // the default location
  let json: { ok: boolean; refs: JsonRef[]; repo: string; metadataCommits: Record<string, string> };

  const create = (args: string[]) => sideload(['create', '--repo', ex.repo, ...gpg, '--no-fsync', ...args]);

  beforeAll(async () => {
    ex = await makeExampleRepo();
    gpg = ['--gpg-import', ex.gpgKey];
    source = await revParse(ex.repo, APP_DRIVE_REFS);
    drive = await tempDir('sideload-drive-');
    const r = await create(['--json', drive, 'org.example.App']);
    if (r.code !== 0) throw new Error(`sideload create failed (${r.code}): ${r.stderr}`);
    json = JSON.parse(r.stdout);
  });

  it('puts the newest commit of each ref on the drive, and ostree fsck passes', async () => {
    const repo = path.join(drive, '.ostree/repo');
    const refs = await mirrorRefs(repo);
    expect([...refs.keys()].sort()).toEqual(
      [...APP_DRIVE_REFS.map((r) => `${CID} ${r}`), `${CID} ostree-metadata`].sort(),
    );
    for (const [ref, commit] of source) expect(refs.get(`${CID} ${ref}`), ref).toBe(commit);
    expect(await fsck(repo)).toMatch(/object fsck of \d+ commits completed successfully - no errors found/);
  });

  it('--json prints one JSON document listing every ref with its commit', async () => {
    expect(json.ok).toBe(true);
    expect(json.repo).toBe(path.join(drive, '.ostree/repo'));
    const listed = new Map(json.refs.map((r) => [r.ref, r.commit]));
    expect(listed).toEqual(new Map([...source].sort(([a], [b]) => (a < b ? -1 : 1))));
    expect(json.refs.every((r) => r.collectionId === CID && r.change === 'added' && r.partial === false)).toBe(true);
    expect(json.metadataCommits[CID]).toBe(
      (await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} ostree-metadata`),
    );
  });

  it.each([
    ['the mount directory', (d: string) => d],
    ['the repo path', (d: string) => path.join(d, '.ostree/repo')],
  ])('stock flatpak installs the app, runtime and locales offline with --sideload-repo=%s', async (_what, where) => {
    const { f, result } = await offlineInstall(ex, where(drive));
    expect(result.code, result.stderr).toBe(0);
    const expected = new Map(appInstallRefs(ARCH).map((r) => [r, source.get(r) as string]));
    expect(await installedCommits(f)).toEqual(expected);
    expect(await installedTranslation(f, 'es')).toBe('app messages (es) v1\n');
  });

  it('--destination-repo flatpak/repo: the repo there, one repos.d link even after a second run, offline install works', async () => {
    const d = await tempDir('sideload-dest-');
    const r1 = await create(['--destination-repo', 'flatpak/repo', d, 'org.example.App']);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await create(['--destination-repo', 'flatpak/repo', d, 'org.example.App']);
    expect(r2.code, r2.stderr).toBe(0);
    // The repo, its repos.d link, and the drive's own guide (README + .flatpakrepo, drive.md §7).
    expect((await fs.readdir(d)).sort()).toEqual(['.ostree', 'README-sideload.txt', 'flatpak', `${CID}.flatpakrepo`]);
    expect(await fs.readdir(path.join(d, '.ostree'))).toEqual(['repos.d']); // no second repo at the default place
    const links = await fs.readdir(path.join(d, '.ostree/repos.d'));
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^\d\d-generated$/);
    const link = path.join(d, '.ostree/repos.d', links[0] as string);
    expect(await fs.realpath(link)).toBe(await fs.realpath(path.join(d, 'flatpak/repo')));
    expect(await fs.readlink(link)).toBe('../../flatpak/repo'); // relative, so it survives another mount point
    const repo = path.join(d, 'flatpak/repo');
    expect((await mirrorRefs(repo)).get(`${CID} ${APP}`)).toBe(source.get(APP));
    expect(await fsck(repo)).toMatch(/no errors found/);
    // flatpak finds the repo through the link when given the mount directory.
    const { f, result } = await offlineInstall(ex, d);
    expect(result.code, result.stderr).toBe(0);
    expect((await installedCommits(f)).get(APP)).toBe(source.get(APP));
    // Without the option, every later run finds the drive's one repo where clients do, as list and verify do.
    const rm = await sideload(['remove', '--no-fsync', d, GL]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await mirrorRefs(repo)).has(`${CID} ${GL}`)).toBe(false);
    expect((await sideload(['prune', d])).stdout).toMatch(/^Deleted [1-9]\d* objects/);
    const again = await create([d, 'org.example.App']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`Drive repo: ${await fs.realpath(repo)}`);
    expect(await fs.readdir(path.join(d, '.ostree'))).toEqual(['repos.d']); // still no second repo
    expect((await mirrorRefs(repo)).has(`${CID} ${GL}`)).toBe(true);
    expect(await fsck(repo)).toMatch(/no errors found/);
  });

  it("the drive's repo given for the drive, or --destination-repo with a trailing slash: the same repo, none nested", async () => {
    const d = await tempDir('sideload-repo-as-drive-');
    // A trailing slash (shell completion adds one) made every write fail: "the path 'tmp/sideload-publish.json' is
    // outside the drive repo", while --dry-run passed.
    const r1 = await create(['--destination-repo', 'flatpak/repo/', d, 'org.example.Platform']);
    expect(r1.code, r1.stderr).toBe(0);
    const repo = path.join(d, 'flatpak/repo');
    // The repo's own path as the drive (as list and verify take it) writes that repo, not a repo inside it.
    const r2 = await create([repo, 'org.example.App']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(
      await fs.access(path.join(repo, '.ostree')).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
    expect(
      await fs.access(path.join(repo, 'README-sideload.txt')).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
    expect((await mirrorRefs(repo)).get(`${CID} ${APP}`)).toBe(source.get(APP));
    const rm = await sideload(['remove', '--no-fsync', `${repo}/`, GL]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await mirrorRefs(repo)).has(`${CID} ${GL}`)).toBe(false);
    expect(await fsck(repo)).toMatch(/no errors found/);
    // A repo anywhere else is no drive: refused, naming it, and nothing written in it.
    const plain = path.join(await tempDir('sideload-plain-repo-'), 'repo');
    await run('ostree', ['init', `--repo=${plain}`, '--mode=archive']);
    const r3 = await create([plain, 'org.example.App']);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain(`'${plain}' is an ostree repo itself, not a drive`);
    expect((await fs.readdir(plain)).sort()).toEqual(['config', 'extensions', 'objects', 'refs', 'state', 'tmp']);
  });

  it('a drive repo another tool made, with refs under refs/heads: the run warns that clients lose them', async () => {
    const d = await tempDir('sideload-heads-');
    const repo = path.join(d, '.ostree/repo');
    await fs.mkdir(repo, { recursive: true });
    await runOk('ostree', ['init', `--repo=${repo}`, '--mode=archive']);
    const tree = path.join(await tempDir('sideload-heads-tree-'), 't');
    await fs.mkdir(tree);
    await fs.writeFile(path.join(tree, 'x'), 'x');
    await runOk('ostree', [`--repo=${repo}`, 'commit', '-b', 'foo', `--tree=dir=${tree}`]);
    const strict = await create(['--strict', d, 'org.example.App']);
    expect(strict.code, strict.stderr).toBe(1);
    expect(strict.stderr).toContain(
      `--strict: warning drive-head-refs: the drive repo ${await fs.realpath(repo)} has refs/heads (foo)`,
    );
    const r = await create(['--json', d, 'org.example.App']);
    expect(r.code, r.stderr).toBe(0);
    const warned = (JSON.parse(r.stdout) as { warnings?: Array<{ code: string }> }).warnings ?? [];
    expect(warned.map((w) => w.code)).toContain('drive-head-refs');
  });

  it('a drive with several repos and none at the default place: the run asks which (exit 2), naming them', async () => {
    const d = await tempDir('sideload-two-');
    for (const rel of ['ostree/repo', 'flatpak/repo']) {
      await fs.mkdir(path.join(d, rel), { recursive: true });
      await runOk('ostree', ['init', '--mode=archive', `--repo=${path.join(d, rel)}`]);
    }
    const r = await create(['--dry-run', d, 'org.example.App']);
    expect([r.code, r.stderr]).toEqual([
      2,
      `sideload: error: '${d}' holds several repos (ostree/repo, flatpak/repo): choose one with --destination-repo\n`,
    ]);
    expect((await create(['--dry-run', '--destination-repo', 'flatpak/repo', d, 'org.example.App'])).code).toBe(0);
  });

  it('--arch aarch64 --arch x86_64 puts both arches on one drive', async () => {
    const ex2 = await makeExampleRepo({ arches: ['aarch64', 'x86_64'] });
    const d = await tempDir('sideload-arches-');
    const r = await sideload(['create', ...bothArches(ex2), d, 'org.example.App']);
    expect(r.code, r.stderr).toBe(0);
    const repo = path.join(d, '.ostree/repo');
    const refs = await mirrorRefs(repo);
    const wanted = ['aarch64', 'x86_64'].flatMap((a) => [
      ...appInstallRefs(a),
      `runtime/org.example.Platform.GL.default/${a}/1.4`,
      `appstream/${a}`,
      `appstream2/${a}`,
    ]);
    expect([...refs.keys()].sort()).toEqual([...wanted.map((w) => `${CID} ${w}`), `${CID} ostree-metadata`].sort());
    const srcCommits = await revParse(ex2.repo, wanted);
    for (const [ref, commit] of srcCommits) expect(refs.get(`${CID} ${ref}`), ref).toBe(commit);
    expect(srcCommits.get('app/org.example.App/aarch64/stable')).not.toBe(
      srcCommits.get('app/org.example.App/x86_64/stable'),
    );
    expect(await fsck(repo)).toMatch(/object fsck of 15 commits completed successfully/);
    const view = await runOk('ostree', ['summary', '--view', `--repo=${repo}`]);
    for (const w of wanted) expect(view).toContain(`* (${CID}, ${w})`);
    // The aarch64 app really is the aarch64 build.
    const aarch = srcCommits.get('runtime/org.example.Platform/aarch64/stable') as string;
    expect(await runOk('ostree', ['cat', `--repo=${repo}`, aarch, '/files/lib/libexample.so.1'])).toBe(
      'libexample 1.0 for aarch64\n',
    );
  });

  it("remove --with-deps of one arch's app takes that arch's runtime, extensions and appstream, not the other's", async () => {
    const ex2 = await makeExampleRepo({ arches: ['aarch64', 'x86_64'] });
    const d = await tempDir('sideload-arches-rm-');
    const args = bothArches(ex2);
    const c = await sideload(['create', '-q', ...args, d, 'org.example.App']);
    expect(c.code, c.stderr).toBe(0);
    const r = await sideload(['remove', '--dry-run', '--with-deps', '--json', d, 'app/org.example.App/aarch64/stable']);
    expect(r.code, r.stderr).toBe(0);
    const refs = (JSON.parse(r.stdout) as { refs: JsonRef[] }).refs;
    const aarch64 = [
      ...appInstallRefs('aarch64'),
      'runtime/org.example.Platform.GL.default/aarch64/1.4',
      'appstream/aarch64',
      'appstream2/aarch64',
    ].sort();
    expect(refs.filter((x) => x.change === 'removed').map((x) => x.ref)).toEqual(aarch64);
    expect(refs.filter((x) => x.change === 'kept').map((x) => x.ref)).toEqual(
      aarch64.map((a) => a.replace('aarch64', 'x86_64')),
    );
    // Without --with-deps only the app goes, and the rest of its arch is named as unneeded (appstream last).
    const plain = await sideload(['remove', '--dry-run', d, 'app/org.example.App/aarch64/stable']);
    expect(plain.code, plain.stderr).toBe(0);
    const named = [...aarch64.filter((a) => a.startsWith('runtime/')), 'appstream/aarch64', 'appstream2/aarch64'];
    expect(plain.stdout).toContain(`No remaining app needs: ${named.join(', ')} (remove them too with --with-deps)`);
  });

  it('a second run adding a ref keeps the first ones and chains the ostree-metadata commit', async () => {
    const d = await tempDir('sideload-second-');
    const r1 = await create(['--extensions', 'none', '--json', d, 'org.example.App']);
    expect(r1.code, r1.stderr).toBe(0);
    const repo = path.join(d, '.ostree/repo');
    const first = await mirrorRefs(repo);
    expect(first.has(`${CID} ${PLATFORM_LOCALE}`)).toBe(false);
    const r2 = await create(['--json', d, PLATFORM_LOCALE]);
    expect(r2.code, r2.stderr).toBe(0);
    const j2 = JSON.parse(r2.stdout) as { refs: JsonRef[] };
    expect(j2.refs.map((r) => [r.ref, r.change])).toContainEqual([PLATFORM_LOCALE, 'added']);
    const second = await mirrorRefs(repo);
    for (const [k, v] of first) if (!k.endsWith(' ostree-metadata')) expect(second.get(k), k).toBe(v);
    expect(second.get(`${CID} ${PLATFORM_LOCALE}`)).toBe(source.get(PLATFORM_LOCALE));
    expect(second.size).toBe(first.size + 1);
    // The new ostree-metadata commit has the previous one as parent (drive.md §4).
    const m1 = first.get(`${CID} ostree-metadata`) as string;
    const m2 = second.get(`${CID} ostree-metadata`) as string;
    expect(m2).not.toBe(m1);
    const c2 = decodeCommit(
      new Uint8Array(await fs.readFile(path.join(repo, objectPath(m2, 'commit', 'archive')))),
      m2,
    );
    expect(c2.parent).toBe(m1);
    // ostree's view: every ref of both runs is in the summary, and fsck passes.
    const view = await runOk('ostree', ['summary', '--view', `--repo=${repo}`]);
    for (const k of second.keys()) expect(view).toContain(`* (${CID}, ${k.split(' ')[1]})`);
    expect(await fsck(repo)).toMatch(/no errors found/);
  });

  it('--dry-run writes nothing, on an empty drive and on an existing one, and --json shows the plan', async () => {
    const empty = await tempDir('sideload-dry-');
    const r = await create(['--dry-run', '--json', empty, 'org.example.App']);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readdir(empty)).toEqual([]);
    const plan = JSON.parse(r.stdout) as { dryRun: boolean; refs: JsonRef[] };
    expect(plan.dryRun).toBe(true);
    expect(new Map(plan.refs.map((p) => [p.ref, p.commit]))).toEqual(
      new Map([...source].sort(([a], [b]) => (a < b ? -1 : 1))),
    );
    expect(plan.refs.every((p) => p.change === 'added')).toBe(true);

    const before = await snapshotDir(drive);
    const r2 = await create(['--dry-run', drive, 'org.example.App', PLATFORM_LOCALE]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/^Plan for .* \(dry run: nothing written\):/);
    expect(r2.stdout).toContain(source.get(APP)?.slice(0, 12));
    expect(await snapshotDir(drive)).toEqual(before);
  });

  // ------------------------------------------------------------------------------------------------------------
  // Bad inputs: exit code, a message naming the culprit, the drive byte for byte as it was.

  const refuses = async (
    args: string[],
    code: number,
    message: RegExp,
    target = drive,
    opts: { useCreate?: boolean } = {},
  ) => {
    const before = await snapshotDir(target);
    const r = opts.useCreate === false ? await sideload(args) : await create(args);
    expect(r.code, `${r.stderr}${r.stdout}`).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(await snapshotDir(target)).toEqual(before);
    return r;
  };

  it('an unknown ref: exit 3, naming the ref', async () => {
    await refuses([drive, 'org.example.NoSuchApp'], 3, /ref 'org\.example\.NoSuchApp'.*was not found in the source/);
    await refuses(
      [drive, 'app/org.example.App/riscv64/stable'],
      3,
      /'app\/org\.example\.App\/riscv64\/stable' was not found.*available: app\/org\.example\.App\/x86_64\/stable/,
    );
  });

  it('a ref containing ../: exit 2, naming the ref', async () => {
    await refuses([drive, 'org.example.App/../../etc'], 2, /invalid ref 'org\.example\.App\/\.\.\/\.\.\/etc'/);
    await refuses(
      [drive, 'app/../org.example.App/x86_64/stable'],
      2,
      /invalid ref 'app\/\.\.\/org\.example\.App\/x86_64\/stable'/,
    );
    await refuses([drive, '../org.example.App'], 2, /invalid ref '\.\.\/org\.example\.App'/);
  });

  it('--destination-repo outside the drive: exit 2, naming the option and path', async () => {
    const x = path.join(path.dirname(drive), 'x');
    const xBefore = await fs.stat(x).then(
      () => true,
      () => false,
    );
    await refuses(
      ['--destination-repo', '../x', drive, 'org.example.App'],
      2,
      /--destination-repo '\.\.\/x' must be a relative path inside the drive/,
    );
    await refuses(
      ['--destination-repo', 'a/../../x', drive, 'org.example.App'],
      2,
      /--destination-repo 'a\/\.\.\/\.\.\/x'/,
    );
    await refuses(
      ['--destination-repo', '/tmp/elsewhere', drive, 'org.example.App'],
      2,
      /--destination-repo '\/tmp\/elsewhere'/,
    );
    // A symlink on the drive that leads out of it.
    const outside = await tempDir('sideload-outside-');
    await fs.symlink(outside, path.join(drive, 'escape'));
    try {
      await refuses(
        ['--destination-repo', 'escape/repo', drive, 'org.example.App'],
        2,
        /--destination-repo 'escape\/repo' resolves to .*outside the drive/,
      );
      expect(await fs.readdir(outside)).toEqual([]);
    } finally {
      await fs.rm(path.join(drive, 'escape'));
    }
    expect(
      await fs.stat(x).then(
        () => true,
        () => false,
      ),
    ).toBe(xBefore); // nothing made next to the drive
  });

  it('an unwritable drive: a clear error naming the path, nothing written', async () => {
    // We run as root, so chmod 555 would not stop us. A file where the .ostree directory should be does:
    const d = await tempDir('sideload-notdir-');
    await fs.writeFile(path.join(d, '.ostree'), 'not a directory\n');
    await refuses(
      [d, 'org.example.App'],
      1,
      new RegExp(`cannot write to '${escapeRe(path.join(d, '.ostree'))}' on the drive: ENOTDIR`),
      d,
    );
    // And a drive that is a file:
    const file = path.join(d, 'file');
    await fs.writeFile(file, 'x');
    const r = await create([file, 'org.example.App']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/drive '.*file' is not a directory/);
    expect(await fs.readFile(file, 'utf8')).toBe('x');
  });

  let roMount: string | null = null;
  afterAll(async () => {
    if (roMount) await run('umount', [roMount]);
  });

  it('a read-only drive (read-only bind mount; skipped where mounting is not permitted)', async (ctx) => {
    const d = await tempDir('sideload-ro-');
    // Give it an existing drive repo first, so the refusal has something to leave untouched.
    const first = await create([d, PLATFORM_LOCALE]);
    expect(first.code, first.stderr).toBe(0);
    const bind = await run('mount', ['--bind', '-o', 'ro', d, d]);
    if (bind.code !== 0) {
      ctx.skip(); // needs CAP_SYS_ADMIN; the ENOTDIR case above covers the error path without it
      return;
    }
    roMount = d;
    try {
      // Asking for what the drive already holds writes nothing, so it succeeds on a read-only drive.
      const same = await create([d, PLATFORM_LOCALE]);
      expect(same.code, same.stderr).toBe(0);
      expect(same.stdout).toContain('Nothing new: the drive was left untouched.');
      await refuses(
        [d, PLATFORM_LOCALE, 'org.example.App'],
        1,
        new RegExp(
          `the drive is mounted read-only \\('${escapeRe(path.join(d, '.ostree/repo'))}' is on a read-only filesystem\\): remount it read-write`,
        ),
        d,
      );
      // prune says the same as create and prune --dry-run (before: "the filesystem is read-only …: open
      // '…/tmp/sideload-staging.lock'", the lock file's errno and no way forward).
      const roMessage = `the drive is mounted read-only ('${path.join(d, '.ostree/repo')}' is on a read-only filesystem)`;
      for (const dry of [[], ['--dry-run']]) {
        const p = await sideload(['prune', '--json', ...dry, d]);
        expect(p.code, p.stdout).toBe(1);
        const j = JSON.parse(p.stdout) as { error: { code: string; message: string; data: { path: string } } };
        expect(j.error.code).toBe('EROFS');
        expect(j.error.message).toContain(roMessage);
        expect(j.error.data.path).toBe(path.join(d, '.ostree/repo'));
      }
    } finally {
      await run('umount', [d]);
      roMount = null;
    }
  });

  it('a corrupt object in the source: exit 4, naming the object; the drive is unchanged (empty or not)', async () => {
    const bad = await tempDir('sideload-corrupt-');
    await runOk('cp', ['-a', ex.repo, path.join(bad, 'repo')]);
    const badRepo = path.join(bad, 'repo');
    // The object of the app's data.txt (only the app has it): flip one byte in the middle of its .filez.
    const obj = (await runOk('ostree', ['ls', '-C', `--repo=${badRepo}`, APP, '/files/share/example/data.txt']))
      .split(/\s+/)
      .find((w) => /^[0-9a-f]{64}$/.test(w)) as string;
    expect(obj).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(badRepo, objectPath(obj, 'file', 'archive'));
    const bytes = await fs.readFile(file);
    const mid = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(mid) ^ 0xff, mid);
    await fs.writeFile(file, bytes);
    // ostree agrees that the copy is corrupt.
    await fsck(badRepo, 'fails');

    const args = (d: string, ...refs: string[]) => ['create', '--repo', badRepo, ...gpg, '--no-fsync', d, ...refs];
    // An empty drive stays empty.
    const empty = await tempDir('sideload-corrupt-drive-');
    await refuses(args(empty, 'org.example.App'), 4, new RegExp(`${obj}.*does not match`), empty, { useCreate: false });
    expect(await fs.readdir(empty)).toEqual([]);
    // A drive holding the runtime (from the good repo): the app run fails and leaves it as it was.
    const d = await tempDir('sideload-corrupt-drive2-');
    const ok = await create([d, 'runtime/org.example.Platform/' + ARCH + '/stable']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await mirrorRefs(path.join(d, '.ostree/repo'))).get(`${CID} ${PLATFORM}`)).toBe(source.get(PLATFORM));
    await refuses(args(d, 'org.example.App'), 4, new RegExp(`${obj}`), d, { useCreate: false });
    expect(await fsck(path.join(d, '.ostree/repo'))).toMatch(/no errors found/);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
