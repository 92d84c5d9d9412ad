/**
 * `xa.redirect-url` (`flatpak build-update-repo --redirect-url`): an upstream that moved says where in its signed
 * summary, and flatpak 1.14 moves a remote there as soon as it reads that summary with the remote's key. The drive
 * hands out that URL (the one a client ends up at) in its `.flatpakrepo` and README, warning `upstream-redirect`
 * with both URLs; a redirect in a summary whose signature was not checked is not followed. Two local HTTP servers
 * stand for the old and the new place.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  CID,
  describeInterop,
  flatpakEnv,
  makeExampleRepo,
  remoteAdd,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
  exampleSignArgs,
} from '../helpers/flatpak-fixtures.js';
import { startServer, type TestServer } from '../helpers/http-server.js';

interface CreateJson {
  warnings: Array<{ code: string; message: string; data?: Record<string, unknown> }>;
}

describeInterop('an upstream summary with xa.redirect-url', () => {
  let ex: ExampleRepo;
  let oldServer: TestServer;
  let newServer: TestServer;
  let unsignedServer: TestServer;
  let OLD: string;
  let NEW: string;

  beforeAll(async () => {
    ex = await makeExampleRepo();
    const work = await tempDir('sideload-redirect-');
    const moved = path.join(work, 'new');
    await runOk('cp', ['-a', ex.repo, moved]);
    newServer = await startServer(moved);
    NEW = `${newServer.url}/`;
    const gpg = await exampleSignArgs(ex);
    // The same redirect in a summary nobody signed: build-update-repo without a key leaves no signature.
    const unsigned = path.join(work, 'unsigned');
    await runOk('cp', ['-a', ex.repo, unsigned]);
    await runOk('flatpak', ['build-update-repo', `--redirect-url=${NEW}`, unsigned]);
    await runOk('flatpak', ['build-update-repo', `--redirect-url=${NEW}`, ...gpg, ex.repo]);
    await runOk('gpgconf', ['--homedir', path.join(ex.dir, 'gpghome'), '--kill', 'gpg-agent']).catch(() => undefined);
    expect(await runOk('flatpak', ['repo', ex.repo])).toContain(`Redirect URL: ${NEW}`);
    oldServer = await startServer(ex.repo);
    OLD = oldServer.url;
    unsignedServer = await startServer(unsigned);
  });

  afterAll(async () => {
    await Promise.all([oldServer?.close(), newServer?.close(), unsignedServer?.close()]);
  });

  it('a drive made from the old URL hands out the new one, and says so', async () => {
    const drive = await tempDir('sideload-redirect-drive-');
    const r = await sideload([
      'create',
      '--json',
      '--no-fsync',
      '--url',
      OLD,
      '--gpg-import',
      ex.gpgKey,
      drive,
      'org.example.App',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const w = (JSON.parse(r.stdout) as CreateJson).warnings.filter((x) => x.code === 'upstream-redirect');
    expect(w).toHaveLength(1);
    expect(w[0]?.message).toContain(`from ${OLD} to ${NEW}`);
    expect(w[0]?.data).toMatchObject({ collectionId: CID, url: OLD, redirectUrl: NEW });
    const repoFile = await fs.readFile(path.join(drive, `${CID}.flatpakrepo`), 'utf8');
    expect(repoFile).toContain(`\nUrl=${NEW}\n`);
    const readme = await fs.readFile(path.join(drive, 'README-sideload.txt'), 'utf8');
    expect(readme).toContain(`The upstream moved: its signed summary sends remotes from ${OLD} to ${NEW},`);
    // The run read from the old URL; nothing was fetched from the new one.
    expect(newServer.log).toHaveLength(0);
    expect((await sideload(['verify', '--gpg-import', ex.gpgKey, drive])).code).toBe(0);

    // flatpak itself: a remote added with the old URL ends up at the new one, as does one from the drive's file.
    const byUrl = await flatpakEnv();
    await remoteAdd(byUrl, 'ex', OLD, ex.gpgKey);
    const fromDrive = await flatpakEnv();
    await fromDrive.flatpakOk(['--user', 'remote-add', 'ex', path.join(drive, `${CID}.flatpakrepo`)]);
    for (const f of [byUrl, fromDrive])
      expect((await f.flatpakOk(['--user', 'remotes', '--columns=name,url'])).trim()).toBe(`ex\t${NEW}`);
  });

  it('a local repo source (no URL of its own) hands out the redirect, not the placeholder', async () => {
    const drive = await tempDir('sideload-redirect-drive-');
    const r = await sideload([
      'create',
      '--json',
      '--no-fsync',
      '--repo',
      ex.repo,
      '--gpg-import',
      ex.gpgKey,
      drive,
      'org.example.App',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as CreateJson).warnings.map((x) => x.code)).toContain('upstream-redirect');
    expect(await fs.readFile(path.join(drive, `${CID}.flatpakrepo`), 'utf8')).toContain(`\nUrl=${NEW}\n`);
  });

  it('a redirect in a summary whose signature was not checked is not followed', async () => {
    const drive = await tempDir('sideload-redirect-drive-');
    const r = await sideload([
      'create',
      '--json',
      '--no-fsync',
      '--url',
      unsignedServer.url,
      // With the key, the unsigned summary.idx is refused outright (exit 5); without, it is carried unchecked.
      '--collection-id',
      CID,
      '--allow-unsigned-upstream',
      drive,
      'org.example.App',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const w = (JSON.parse(r.stdout) as CreateJson).warnings.filter((x) => x.code === 'upstream-redirect');
    expect(w.map((x) => x.message)).toEqual([
      `the upstream summary of '${CID}' at ${unsignedServer.url} redirects to "${NEW}" (xa.redirect-url), not ` +
        'followed: no signature of the summary was checked',
    ]);
    expect(await fs.readFile(path.join(drive, `${CID}.flatpakrepo`), 'utf8')).toContain(
      `\nUrl=${unsignedServer.url}\n`,
    );
  });
});
