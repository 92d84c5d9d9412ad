/**
 * The drive explains itself (drive.md §7): a fresh, isolated flatpak 1.14 installation adds the remote from the
 * drive's own .flatpakrepo and installs offline by running the commands of the drive's README-sideload.txt, with
 * nothing else (no examples/ file, no key on the command line).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { beforeAll, expect, it } from 'vitest';
import {
  ARCH,
  CID,
  createFromRepo,
  describeInterop,
  flatpakEnv,
  installedCommits,
  run,
  sideload,
  tempDir,
} from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { startServer } from '../helpers/http-server.js';
import { parseKeyFile } from '../../src/keyfile/index.js';
import { appInstallRefs, mirrorRefs } from './create-helpers.js';

const EXAMPLES = path.join(projectRoot, 'examples');
/** The example repo checked into examples/ and the key it is signed with. */
const EXAMPLE = { repo: path.join(EXAMPLES, 'repo'), gpgKey: path.join(EXAMPLES, 'example.gpg') };

describeInterop('the drive guide: README-sideload.txt and the .flatpakrepo, run by real flatpak', () => {
  let drive: string;
  beforeAll(async () => {
    drive = await tempDir('sideload-guide-');
    const r = await createFromRepo(EXAMPLE, drive);
    if (r.code !== 0) throw new Error(`create failed (${r.code}): ${r.stderr}`);
  });

  it('writes the README and one .flatpakrepo with the collection ID as flatpak 1.14 reads it and the key inline', async () => {
    expect((await fs.readdir(drive)).sort()).toEqual(['.ostree', 'README-sideload.txt', `${CID}.flatpakrepo`]);
    const kf = parseKeyFile(await fs.readFile(path.join(drive, `${CID}.flatpakrepo`), 'utf8'));
    expect(kf.get('Flatpak Repo', 'DeploySideloadCollectionID')).toBe(CID);
    expect(kf.get('Flatpak Repo', 'DeployCollectionID')).toBe(CID);
    expect(kf.get('Flatpak Repo', 'Title')).toBe('Example Repo');
    expect(Buffer.from(kf.get('Flatpak Repo', 'GPGKey') ?? '', 'base64')).toEqual(
      await fs.readFile(path.join(EXAMPLES, 'example.gpg')),
    );
    // A --repo source knows no upstream URL: a placeholder that never resolves, and the README says so.
    expect(kf.get('Flatpak Repo', 'Url')).toBe('https://upstream-url-unknown.invalid/');
    const readme = await fs.readFile(path.join(drive, 'README-sideload.txt'), 'utf8');
    expect(readme).toContain('upstream URL of this collection was not known');
    expect(readme).toContain(`flatpak install --user --sideload-repo=. example app/org.example.App/${ARCH}/stable`);
  });

  it("a fresh installation runs the README's commands in the drive's directory and installs offline", async () => {
    const readme = await fs.readFile(path.join(drive, 'README-sideload.txt'), 'utf8');
    const commands = readme
      .split('\n')
      .filter((l) => /^ {3}flatpak /.test(l))
      .map((l) => l.trim());
    expect(commands).toEqual([
      `flatpak remote-add --user --if-not-exists example ${CID}.flatpakrepo`,
      `flatpak install --user --sideload-repo=. example app/org.example.App/${ARCH}/stable`,
    ]);
    const f = await flatpakEnv();
    for (const c of commands) {
      // A person answers flatpak's prompt; the test says yes up front.
      const r = await run('sh', ['-c', c.replace(/^flatpak install /, 'flatpak install -y --noninteractive ')], {
        env: f.env,
        cwd: drive,
      });
      expect(r.code, `${c}\n${r.stderr}`).toBe(0);
    }
    const remotes = await f.flatpakOk(['--user', 'remotes', '--columns=name,collection']);
    expect(remotes).toMatch(new RegExp(`^example\\s+${CID.replace(/\./g, '\\.')}$`, 'm'));
    const onDrive = await mirrorRefs(path.join(drive, '.ostree/repo'));
    const expected = new Map(appInstallRefs(ARCH).map((r) => [r, onDrive.get(`${CID} ${r}`) as string]));
    expect(await installedCommits(f)).toEqual(expected);
    // Running them a second time is harmless (--if-not-exists; install says it is installed already).
    const again = await run('sh', ['-c', commands[0] as string], { env: f.env, cwd: drive });
    expect(again.code, again.stderr).toBe(0);
  });

  it('a .flatpakrepo handing out another key: verify names it; flatpak 1.14 would install regardless', async () => {
    const d = await tempDir('sideload-guide-key-');
    const c = await createFromRepo(EXAMPLE, d);
    expect(c.code, c.stderr).toBe(0);
    const file = path.join(d, `${CID}.flatpakrepo`);
    const other = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: 'not the upstream' }],
      format: 'binary',
    });
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.replace(/^GPGKey=.*$/m, `GPGKey=${Buffer.from(other.publicKey).toString('base64')}`));
    const v = await sideload(['verify', '--json', d]);
    expect(v.code, v.stderr).toBe(6);
    const findings = (JSON.parse(v.stdout) as { repos: Array<{ findings: Array<{ code: string; message: string }> }> })
      .repos[0]?.findings;
    expect(findings?.filter((f) => f.code.startsWith('flatpakrepo-')).map((f) => f.code)).toEqual([
      'flatpakrepo-key-mismatch',
    ]);
    expect(findings?.find((f) => f.code === 'flatpakrepo-key-mismatch')?.message).toContain(
      `app/org.example.App/${ARCH}/stable`,
    );
    // Why verify must say it: flatpak 1.14 adds the remote with that key and still installs the drive's commits into
    // a user installation, though that key signed none of them.
    const f = await flatpakEnv();
    const add = await run('flatpak', ['remote-add', '--user', '--if-not-exists', 'example', `${CID}.flatpakrepo`], {
      env: f.env,
      cwd: d,
    });
    expect(add.code, add.stderr).toBe(0);
    const install = await run(
      'flatpak',
      [
        'install',
        '--user',
        '-y',
        '--noninteractive',
        '--sideload-repo=.',
        'example',
        `app/org.example.App/${ARCH}/stable`,
      ],
      { env: f.env, cwd: d },
    );
    expect(install.code, install.stdout + install.stderr).toBe(0);
    expect((await installedCommits(f)).get(`app/org.example.App/${ARCH}/stable`)).toBe(
      (await mirrorRefs(path.join(d, '.ostree/repo'))).get(`${CID} app/org.example.App/${ARCH}/stable`),
    );
  });

  it('a key taken from an upstream summary no given key checked: the run says the .flatpakrepo hands it out', async () => {
    const drive = await tempDir('sideload-guide-unverified-');
    // No --gpg-import and no upstream copy: the summary's xa.gpg-keys goes into the .flatpakrepo unchecked.
    const bare = ['create', '--json', '--no-fsync', '--no-upstream-summary', '--repo', EXAMPLE.repo];
    const strict = await sideload([...bare, '--strict', drive, 'org.example.App']);
    expect(strict.code, strict.stderr).toBe(1);
    expect(strict.stdout).toContain('unverified-remote-key');
    expect(await fs.readdir(drive)).toEqual([]); // stopped before writing
    const r = await sideload([...bare, drive, 'org.example.App']);
    expect(r.code, r.stderr).toBe(0);
    const warnings = (JSON.parse(r.stdout) as { warnings: Array<{ code: string; data: object }> }).warnings;
    expect(warnings).toEqual([expect.objectContaining({ code: 'unverified-remote-key', data: { collectionId: CID } })]);
    expect(
      parseKeyFile(await fs.readFile(path.join(drive, `${CID}.flatpakrepo`), 'utf8')).get('Flatpak Repo', 'GPGKey'),
    ).toBeTruthy();
    // With the upstream's key given, the key is checked: no warning.
    const keyed = await sideload([
      ...bare,
      '--gpg-import',
      EXAMPLE.gpgKey,
      await tempDir('sideload-guide-keyed-'),
      'org.example.App',
    ]);
    expect(keyed.code, keyed.stderr).toBe(0);
    expect((JSON.parse(keyed.stdout) as { warnings: unknown[] }).warnings).toEqual([]);
  });

  it('a remote source: the .flatpakrepo carries its URL; --from names the remote after the file', async () => {
    const server = await startServer(path.join(EXAMPLES, 'repo'), { prefix: 'repo' });
    try {
      const d1 = await tempDir('sideload-guide-url-');
      const r1 = await sideload([
        'create',
        '--no-fsync',
        '--url',
        server.url,
        '--collection-id',
        CID,
        '--gpg-import',
        path.join(EXAMPLES, 'example.gpg'),
        d1,
        'org.example.App',
      ]);
      expect(r1.code, r1.stderr).toBe(0);
      const kf = parseKeyFile(await fs.readFile(path.join(d1, `${CID}.flatpakrepo`), 'utf8'));
      expect(kf.get('Flatpak Repo', 'Url')).toBe(server.url);
      expect(kf.get('Flatpak Repo', 'DeploySideloadCollectionID')).toBe(CID);
      expect(await fs.readFile(path.join(d1, 'README-sideload.txt'), 'utf8')).not.toContain('placeholder');
      // A later run from a local copy (which knows no URL) keeps the URL the drive already hands out; it put the
      // placeholder in its place.
      const more = await sideload([
        'create',
        '--no-fsync',
        '--repo',
        path.join(EXAMPLES, 'repo'),
        '--gpg-import',
        path.join(EXAMPLES, 'example.gpg'),
        d1,
        `runtime/org.example.Platform.GL.default/${ARCH}/1.4`,
      ]);
      expect(more.code, more.stderr).toBe(0);
      expect(
        parseKeyFile(await fs.readFile(path.join(d1, `${CID}.flatpakrepo`), 'utf8')).get('Flatpak Repo', 'Url'),
      ).toBe(server.url);
      expect(await fs.readFile(path.join(d1, 'README-sideload.txt'), 'utf8')).not.toContain('upstream URL');
      const from = path.join(await tempDir('sideload-guide-from-'), 'myremote.flatpakrepo');
      const key = (await fs.readFile(path.join(EXAMPLES, 'example.gpg'))).toString('base64');
      await fs.writeFile(
        from,
        `[Flatpak Repo]\nTitle=Mine\nUrl=${server.url}/\nDeploySideloadCollectionID=${CID}\nGPGKey=${key}\n`,
      );
      const d2 = await tempDir('sideload-guide-from-drive-');
      const r2 = await sideload(['create', '--no-fsync', '--from', from, d2, 'org.example.App']);
      expect(r2.code, r2.stderr).toBe(0);
      expect(await fs.readFile(path.join(d2, `${CID}.flatpakrepo`), 'utf8')).toContain(`Url=${server.url}/\n`);
      expect(await fs.readFile(path.join(d2, 'README-sideload.txt'), 'utf8')).toContain(
        `flatpak remote-add --user --if-not-exists myremote ${CID}.flatpakrepo`,
      );
    } finally {
      await server.close();
    }
  });

  it('an update from a local repo keeps the remote name the drive had, as it keeps the URL', async () => {
    const server = await startServer(path.join(EXAMPLES, 'repo'), { prefix: 'repo' });
    try {
      const from = path.join(await tempDir('sideload-guide-name-'), 'myremote.flatpakrepo');
      const key = (await fs.readFile(path.join(EXAMPLES, 'example.gpg'))).toString('base64');
      await fs.writeFile(
        from,
        `[Flatpak Repo]\nTitle=Mine\nUrl=${server.url}/\nDeploySideloadCollectionID=${CID}\nGPGKey=${key}\n`,
      );
      const d = await tempDir('sideload-guide-name-drive-');
      const c = await sideload(['create', '--no-fsync', '--from', from, d, 'org.example.App']);
      expect(c.code, c.stderr).toBe(0);
      const addLine = `   flatpak remote-add --user --if-not-exists myremote ${CID}.flatpakrepo\n`;
      expect(await fs.readFile(path.join(d, 'README-sideload.txt'), 'utf8')).toContain(addLine);
      const u = await sideload(['update', '--no-fsync', '--repo', EXAMPLE.repo, '--gpg-import', EXAMPLE.gpgKey, d]);
      expect(u.code, u.stderr).toBe(0);
      expect(await fs.readFile(path.join(d, `${CID}.flatpakrepo`), 'utf8')).toContain(`Url=${server.url}/\n`);
      // Before the fix: 'example', the collection ID's middle part, in every command of the README.
      const readme = await fs.readFile(path.join(d, 'README-sideload.txt'), 'utf8');
      expect(readme).toContain(addLine);
      expect(readme).toContain(
        `   flatpak install --user --sideload-repo=. myremote app/org.example.App/${ARCH}/stable\n`,
      );
      // A run with no source for the collection (remove) keeps it too.
      const r = await sideload(['remove', '--no-fsync', d, `runtime/org.example.Platform.GL.default/${ARCH}/1.4`]);
      expect(r.code, r.stderr).toBe(0);
      expect(await fs.readFile(path.join(d, 'README-sideload.txt'), 'utf8')).toContain(addLine);
    } finally {
      await server.close();
    }
  });

  it("a run with no source for the collection (remove) keeps the .flatpakrepo and the README's remote-add from it", async () => {
    const d = await tempDir('sideload-guide-keep-');
    const c = await createFromRepo(EXAMPLE, d);
    expect(c.code, c.stderr).toBe(0);
    const repoFile = path.join(d, `${CID}.flatpakrepo`);
    const before = await fs.readFile(repoFile);
    const gl = `runtime/org.example.Platform.GL.default/${ARCH}/1.4`;
    const r = await sideload(['remove', '--no-fsync', d, gl]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readFile(repoFile)).equals(before)).toBe(true);
    const readme = await fs.readFile(path.join(d, 'README-sideload.txt'), 'utf8');
    expect(readme).not.toContain(gl);
    expect(readme).toContain(`flatpak remote-add --user --if-not-exists example ${CID}.flatpakrepo`);
    expect(readme).not.toContain('KEYFILE');
    expect(readme).toContain('upstream URL of this collection was not known');
  });

  it('a second --destination-repo on the drive: the README describes both repos, and its commands install from them', async () => {
    const d = await tempDir('sideload-guide-two-');
    const first = await createFromRepo(EXAMPLE, d);
    expect(first.code, first.stderr).toBe(0);
    const platform = `runtime/org.example.Platform/${ARCH}/stable`;
    const second = await createFromRepo(
      EXAMPLE,
      d,
      [platform],
      ['--destination-repo', 'flatpak/repo', '--extensions', 'none'],
    );
    expect(second.code, second.stderr).toBe(0);
    const readme = await fs.readFile(path.join(d, 'README-sideload.txt'), 'utf8');
    // It described the last repo written only: "The ostree repo is flatpak/repo/", and the Platform as the target.
    expect(readme).toContain('The ostree repos are .ostree/repo/ and flatpak/repo/ (written by sideload).');
    expect(readme).toContain(`(collection ${CID} in .ostree/repo/ and flatpak/repo/)`);
    const commands = readme
      .split('\n')
      .filter((l) => /^ {3}flatpak /.test(l))
      .map((l) => l.trim());
    expect(commands).toEqual([
      `flatpak remote-add --user --if-not-exists example ${CID}.flatpakrepo`,
      `flatpak install --user --sideload-repo=. example app/org.example.App/${ARCH}/stable`,
    ]);
    const f = await flatpakEnv();
    for (const c of commands) {
      const r = await run('sh', ['-c', c.replace(/^flatpak install /, 'flatpak install -y --noninteractive ')], {
        env: f.env,
        cwd: d,
      });
      expect(r.code, `${c}\n${r.stderr}`).toBe(0);
    }
    expect([...(await installedCommits(f)).keys()].sort()).toEqual(appInstallRefs(ARCH).sort());

    // Taking the collection off flatpak/repo leaves its .flatpakrepo: .ostree/repo still serves it.
    const repoFile = path.join(d, `${CID}.flatpakrepo`);
    const before = await fs.readFile(repoFile);
    const listed = JSON.parse((await sideload(['list', '--json', path.join(d, 'flatpak/repo')])).stdout) as {
      repos: Array<{ collections: Array<{ refs: Array<{ ref: string }> }> }>;
    };
    const refs = listed.repos[0]?.collections[0]?.refs.map((r) => r.ref) ?? [];
    const rm = await sideload(['remove', '--no-fsync', '--destination-repo', 'flatpak/repo', d, ...refs]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await fs.readFile(repoFile)).equals(before)).toBe(true);
    const after = await fs.readFile(path.join(d, 'README-sideload.txt'), 'utf8');
    expect(after).toContain(`(collection ${CID} in .ostree/repo/)`);
    expect(after).toContain(`flatpak install --user --sideload-repo=. example app/org.example.App/${ARCH}/stable`);
  });

  it('taking every ref of a collection off removes its .flatpakrepo; the README stays and lists what is left', async () => {
    const d = await tempDir('sideload-guide-rm-');
    const c = await createFromRepo(EXAMPLE, d);
    expect(c.code, c.stderr).toBe(0);
    const listed = JSON.parse((await sideload(['list', '--json', d])).stdout) as {
      repos: Array<{ collections: Array<{ refs: Array<{ ref: string }> }> }>;
    };
    const refs = listed.repos[0]?.collections[0]?.refs.map((r) => r.ref) ?? [];
    expect(refs.length).toBeGreaterThan(3);
    const r = await sideload(['remove', '--no-fsync', d, ...refs]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(d)).sort()).toEqual(['.ostree', 'README-sideload.txt']);
    const emptied = await fs.readFile(path.join(d, 'README-sideload.txt'), 'utf8');
    expect(emptied).not.toContain(CID);
    // It said the drive "holds ostree refs for updating".
    expect(emptied).toMatch(/^This drive holds no apps, runtimes or other refs any more/);
  });
});
