/**
 * Plain ostree refs (an OS commit, `os/example/x86_64/stable`), `--commit REF=CHECKSUM`, and commit signatures
 * (issue 16): a GPG-signed ostree repo made by the real `ostree commit --gpg-sign`, an impostor commit signed by
 * another key and an unsigned one on the same branch. The drive is read back by the real ostree: `refs
 * --collections`, `summary --view`, `fsck`, and `find-remotes --finders=mount --pull` from a mounted ext4 image in
 * a private mount namespace (skipped, and said, where the machine cannot mount).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeInterop, run, runOk, sideload, tempDir } from '../helpers/flatpak-fixtures.js';
import { startServer } from '../helpers/http-server.js';
import { objectNames } from './create-helpers.js';

const CID = 'org.example.Os';
const REF = 'os/example/x86_64/stable';

interface Key {
  home: string;
  fpr: string;
  keyId: string;
  pub: string;
}

const gpg = (home: string, args: readonly string[]) =>
  runOk('gpg', ['--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);

async function makeKey(name: string): Promise<Key> {
  const home = await tempDir(`sideload-osgpg-${name}-`);
  await fs.chmod(home, 0o700);
  await gpg(home, ['--quick-gen-key', `${name} <${name}@example.invalid>`, 'ed25519', 'sign', 'never']);
  const colons = await gpg(home, ['--list-keys', '--with-colons']);
  const fpr = (colons.split('\n').find((l) => l.startsWith('fpr:')) as string).split(':')[9] as string;
  const pub = path.join(home, `${name}.gpg`);
  await runOk('sh', ['-c', 'gpg --homedir "$0" --batch --export "$1" > "$2"', home, fpr, pub]);
  return { home, fpr, keyId: fpr.slice(-16), pub };
}

async function commit(repo: string, tree: string, content: string, key: Key | null): Promise<string> {
  await fs.writeFile(path.join(tree, 'usr', 'os-release'), content);
  const sign = key ? [`--gpg-sign=${key.fpr}`, `--gpg-homedir=${key.home}`] : [];
  return (await runOk('ostree', [`--repo=${repo}`, 'commit', `--branch=${REF}`, '-s', content, ...sign, tree])).trim();
}

describeInterop('OS refs, --commit and commit signatures', () => {
  let legit: Key;
  let impostor: Key;
  let repo: string;
  let tree: string;
  let good1: string;
  let good2: string;

  beforeAll(async () => {
    [legit, impostor] = await Promise.all([makeKey('legit'), makeKey('impostor')]);
    const dir = await tempDir('sideload-os-');
    repo = path.join(dir, 'repo');
    tree = path.join(dir, 'tree');
    await fs.mkdir(path.join(tree, 'usr'), { recursive: true });
    await runOk('ostree', [`--repo=${repo}`, 'init', '--mode=archive', `--collection-id=${CID}`]);
    good1 = await commit(repo, tree, 'VERSION=1\n', legit);
    await new Promise((r) => setTimeout(r, 1100)); // a later timestamp for the next commit
    good2 = await commit(repo, tree, 'VERSION=2\n', legit);
    await runOk('ostree', [
      `--repo=${repo}`,
      'summary',
      '-u',
      `--gpg-sign=${legit.fpr}`,
      `--gpg-homedir=${legit.home}`,
    ]);
  });

  it('copies an OS ref as it is, with summary, ostree-metadata and upstream copy; verify checks its signature', async () => {
    const drive = await tempDir('sideload-osdrive-');
    const r = await sideload(['create', '--json', '--repo', repo, '--gpg-import', legit.pub, drive, REF]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as {
      refs: Array<{ ref: string; commit: string; collectionId: string }>;
      upstream: Record<string, unknown>;
    };
    expect(result.refs.map((x) => [x.collectionId, x.ref, x.commit])).toEqual([[CID, REF, good2]]);
    expect(result.upstream[CID]).not.toBeNull();
    const driveRepo = path.join(drive, '.ostree/repo');
    const refs = await runOk('ostree', [`--repo=${driveRepo}`, 'refs', '--collections']);
    expect(refs).toContain(`(${CID}, ${REF})`);
    expect(refs).toContain(`(${CID}, ostree-metadata)`);
    expect(await runOk('ostree', [`--repo=${driveRepo}`, 'summary', '--view'])).toContain(`(${CID}, ${REF})`);
    await runOk('ostree', [`--repo=${driveRepo}`, 'fsck']);
    // The signature went along: ostree itself verifies it with the legit key.
    expect(await runOk('ostree', [`--repo=${driveRepo}`, 'show', `--gpg-homedir=${legit.home}`, good2])).toContain(
      legit.keyId,
    );
    const v = await sideload(['verify', '--upstream-gpg', legit.pub, drive]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    // Verify against the wrong key: the commit (and the upstream summary) are flagged.
    const bad = await sideload(['verify', '--json', '--upstream-gpg', impostor.pub, drive]);
    expect(bad.code).toBe(6);
    expect(bad.stdout).toContain('untrusted-commit');
    expect(bad.stdout).toContain(good2);
  });

  it('--commit REF=CHECKSUM copies a commit that is not the head, from a repo and over HTTP', async () => {
    const drive = await tempDir('sideload-osdrive-');
    const r = await sideload([
      'create',
      '--repo',
      repo,
      '--gpg-import',
      legit.pub,
      '--commit',
      `${REF}=${good1}`,
      drive,
      REF,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readFile(path.join(drive, '.ostree/repo/refs/mirrors', CID, REF), 'utf8')).trim()).toBe(good1);
    expect(await objectNames(path.join(drive, '.ostree/repo'))).not.toContain(`${good2}.commit`);

    const server = await startServer(repo);
    try {
      const drive2 = await tempDir('sideload-osdrive-');
      const h = await sideload([
        'create',
        '--url',
        server.url,
        '--gpg-import',
        legit.pub,
        '--commit',
        `${REF}=${good1}`,
        drive2,
        REF,
      ]);
      expect(h.code, h.stderr).toBe(0);
      expect((await fs.readFile(path.join(drive2, '.ostree/repo/refs/mirrors', CID, REF), 'utf8')).trim()).toBe(good1);
    } finally {
      await server.close();
    }
    // A checksum the source does not have, and a key that names no ref of the drive.
    const missing = await sideload([
      'create',
      '--repo',
      repo,
      '--commit',
      `${REF}=${'ab'.repeat(32)}`,
      await tempDir(),
      REF,
    ]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('ab'.repeat(32));
    const stray = await sideload(['create', '--repo', repo, '--commit', `os/other=${good1}`, await tempDir(), REF]);
    expect(stray.code).toBe(3);
    expect(stray.stderr).toContain("'os/other'");
  });

  describe('a source with an impostor or unsigned commit', () => {
    let bad: string;
    let unsigned: string;
    let imRepo: string;
    let unRepo: string;
    beforeAll(async () => {
      const dir = await tempDir('sideload-osbad-');
      imRepo = path.join(dir, 'impostor');
      unRepo = path.join(dir, 'unsigned');
      for (const r of [imRepo, unRepo]) await runOk('cp', ['-a', repo, r]);
      await new Promise((r) => setTimeout(r, 1100));
      bad = await commit(imRepo, tree, 'VERSION=666\n', impostor);
      unsigned = await commit(unRepo, tree, 'VERSION=3\n', null);
    });

    it('never puts the impostor commit on a drive (exit 5, naming ref, commit and key)', async () => {
      // A drive that already has the legit commit, and a fresh one.
      const drive = await tempDir('sideload-osdrive-');
      expect((await sideload(['create', '--repo', repo, '--gpg-import', legit.pub, drive, REF])).code).toBe(0);
      const before = await objectNames(path.join(drive, '.ostree/repo'));
      const fresh = await tempDir('sideload-osdrive-');
      for (const d of [drive, fresh]) {
        const r = await sideload(['create', '--repo', imRepo, '--gpg-import', legit.pub, d, REF]);
        expect(r.code, r.stderr).toBe(5);
        expect(r.stderr).toContain(bad);
        expect(r.stderr).toContain(REF);
        expect(r.stderr).toContain(impostor.keyId);
      }
      expect(await objectNames(path.join(drive, '.ostree/repo'))).toEqual(before);
      expect((await fs.readFile(path.join(drive, '.ostree/repo/refs/mirrors', CID, REF), 'utf8')).trim()).toBe(good2);
      expect(await fs.readdir(fresh)).toEqual([]);
      // The keys also come from the repo's remote config: a local repo that pulled from the legit remote.
      const local = path.join(await tempDir('sideload-oslocal-'), 'local');
      await runOk('ostree', [`--repo=${local}`, 'init', '--mode=archive']);
      await runOk('ostree', [
        `--repo=${local}`,
        'remote',
        'add',
        'origin',
        `file://${imRepo}`,
        `--collection-id=${CID}`,
        `--gpg-import=${legit.pub}`,
      ]);
      // The impostor commit held as a mirror would hold it, under refs/remotes/origin/.
      await runOk('ostree', [`--repo=${local}`, 'pull-local', '--untrusted', imRepo, bad]);
      await runOk('ostree', [`--repo=${local}`, 'refs', '--create', `origin:${REF}`, bad]);
      const viaRemote = await sideload(['create', '--repo', local, await tempDir(), REF]);
      expect(viaRemote.code, viaRemote.stderr).toBe(5);
      expect(viaRemote.stderr).toContain(bad);
    });

    it('refuses an unsigned commit unless --allow-unsigned-commits, which verify then flags', async () => {
      const r = await sideload(['create', '--repo', unRepo, '--gpg-import', legit.pub, await tempDir(), REF]);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(unsigned);
      expect(r.stderr).toContain('not signed');
      const drive = await tempDir('sideload-osdrive-');
      const ok = await sideload([
        'create',
        '--repo',
        unRepo,
        '--gpg-import',
        legit.pub,
        '--allow-unsigned-commits',
        drive,
        REF,
      ]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stderr).toContain('--allow-unsigned-commits');
      const v = await sideload(['verify', '--json', '--upstream-gpg', legit.pub, drive]);
      expect(v.code).toBe(6);
      expect(v.stdout).toContain('unsigned-commit');
    });
  });

  it('goes onto a mounted drive and comes back with ostree find-remotes --finders=mount --pull', async () => {
    const dir = await tempDir('sideload-osmount-');
    const img = path.join(dir, 'usb.img');
    const peer = path.join(dir, 'peer');
    await runOk('ostree', [`--repo=${peer}`, 'init', '--mode=archive']);
    await runOk('ostree', [
      `--repo=${peer}`,
      'remote',
      'add',
      'os',
      'file:///nonexistent',
      `--collection-id=${CID}`,
      `--gpg-import=${legit.pub}`,
    ]);
    await runOk('truncate', ['-s', '32M', img]);
    const mkfs = await run('mkfs.ext4', ['-q', '-F', img]);
    const cli = path.resolve('dist/cli/main.cjs');
    // A private mount namespace: the mount is seen by the commands below only, and goes when they end.
    const mnt = `/run/media/${process.env['USER'] ?? 'root'}/SIDELOADTEST${process.pid}`;
    const script = [
      'set -e',
      `mkdir -p "${mnt}"`,
      `mount -o loop "${img}" "${mnt}" || { echo CANNOT-MOUNT >&2; exit 77; }`,
      `"${process.execPath}" "${cli}" create --quiet --repo "${repo}" --gpg-import "${legit.pub}" "${mnt}" "${REF}"`,
      `ostree --repo="${peer}" find-remotes --finders=mount ${CID} ${REF}`,
      `ostree --repo="${peer}" find-remotes --finders=mount --pull ${CID} ${REF}`,
      `umount "${mnt}"; rmdir "${mnt}"`,
    ].join('\n');
    const r =
      mkfs.code === 0
        ? await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script])
        : { code: 77, stdout: '', stderr: mkfs.stderr };
    if (r.code === 77 || /unshare failed|Operation not permitted/.test(r.stderr)) {
      console.warn(
        `skipped: this machine cannot loop-mount an image in a private mount namespace (${r.stderr.trim().split('\n').pop()})`,
      );
      return;
    }
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain(`(${CID}, ${REF}) = ${good2}`);
    expect(r.stdout).toContain('Pulled 1/1 refs successfully.');
    expect(
      (
        await runOk('ostree', [`--repo=${peer}`, 'rev-parse', `${CID}:${REF}`]).catch(() =>
          runOk('ostree', [`--repo=${peer}`, 'rev-parse', REF]),
        )
      ).trim(),
    ).toBe(good2);
    await runOk('ostree', [`--repo=${peer}`, 'fsck']);
  });
});

describeInterop('an HTTP remote without a collection ID', () => {
  it('--url and --from: the fix is --collection-id, not a `flatpak remote-modify` of a remote that does not exist', async () => {
    const dir = await tempDir('sideload-nocid-');
    const repo = path.join(dir, 'repo');
    const tree = path.join(dir, 'tree');
    await fs.mkdir(path.join(tree, 'usr'), { recursive: true });
    await fs.writeFile(path.join(tree, 'usr', 'os-release'), 'NAME=Foo\n');
    await runOk('ostree', [`--repo=${repo}`, 'init', '--mode=archive']);
    await runOk('ostree', [`--repo=${repo}`, 'commit', `--branch=${REF}`, `--tree=dir=${tree}`]);
    await runOk('ostree', [`--repo=${repo}`, 'summary', '-u']);
    const server = await startServer(repo);
    try {
      const repofile = path.join(dir, 'nocid.flatpakrepo');
      await fs.writeFile(repofile, `[Flatpak Repo]\nUrl=${server.url}/\n`);
      for (const source of [
        ['--url', server.url],
        ['--from', repofile],
      ]) {
        const d = await tempDir('sideload-nocid-drive-');
        const r = await sideload(['create', ...source, '--allow-unsigned-upstream', '--dry-run', d, REF]);
        // It said "remote '127.0.0.1:PORT' does not have a collection ID set … Fix it with: flatpak remote-modify
        // --collection-id=<COLLECTION-ID> 127.0.0.1:PORT" (and 'nocid' for the .flatpakrepo): no such remote exists.
        expect([r.code, r.stderr], source[0]).toEqual([
          2,
          `sideload: error: no collection ID is known for '${REF}'. Pass --collection-id.\n`,
        ]);
        const ok = await sideload([
          'create',
          ...source,
          '--allow-unsigned-upstream',
          '--collection-id',
          'org.example.Foo',
          '--dry-run',
          d,
          REF,
        ]);
        expect(ok.code, `${source[0]}: ${ok.stderr}`).toBe(0);
      }
    } finally {
      await server.close();
    }
  });
});
