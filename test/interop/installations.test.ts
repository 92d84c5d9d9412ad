/**
 * Installation sources beyond the basics: the upstream summary carried from the caches flatpak keeps for an HTTP
 * remote (format.md §8.6), and choosing among several installations in scope as flatpak create-usb does.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decode } from '../../src/gvariant/index.js';
import { SUMMARY_INDEX } from '../../src/ostree/formats.js';
import { namedInstallations } from '../../src/flatpak/installation.js';
import {
  APP,
  APP_LOCALE,
  ARCH,
  CID,
  describeInterop,
  flatpakEnv,
  makeExampleRepo,
  offlineInstall,
  PLATFORM,
  remoteAdd,
  run,
  sideload,
  tempDir,
  type ExampleRepo,
  type FlatpakEnv,
} from '../helpers/flatpak-fixtures.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { mirrorRefs } from './create-helpers.js';

const NO_PROXY = { http_proxy: '', HTTP_PROXY: '', no_proxy: '127.0.0.1' };

describeInterop('installation sources: upstream summary from flatpak caches, several installations', () => {
  let ex: ExampleRepo;
  let server: TestServer;
  let f: FlatpakEnv;
  beforeAll(async () => {
    ex = await makeExampleRepo();
    server = await startServer(ex.repo, { prefix: 'repo' });
    f = await flatpakEnv();
    f.env = { ...f.env, ...NO_PROXY };
    // Installed over HTTP, flatpak caches the signed summary index and the subsummary it used.
    await remoteAdd(f, 'example', `${server.url}/`, ex.gpgKey);
    await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', 'org.example.App']);
  });
  afterAll(async () => server?.close());

  it('carries the upstream summary.idx and its signature byte for byte from the installation cache, and the subsummary it names', async () => {
    const cache = await fs.readdir(path.join(f.userDir, 'repo/tmp/cache/summaries'));
    expect(cache).toEqual(expect.arrayContaining(['example.idx', 'example.idx.sig']));
    const drive = await tempDir('sideload-cache-');
    const r = await sideload(['create', '--user', '--no-fsync', drive, 'org.example.App'], { env: f.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Upstream summary org\.example\.Stable: summary\.idx, 3 files, signed by gpg/);
    const up = path.join(drive, '.ostree/repo/extensions/sideload/upstream', CID);
    for (const name of ['summary.idx', 'summary.idx.sig'])
      expect(await fs.readFile(path.join(up, name)), name).toEqual(await fs.readFile(path.join(ex.repo, name)));
    // The index lists one subsummary per arch by its sha256; the cache holds it uncompressed, and so does the drive.
    const [subs] = decode(SUMMARY_INDEX, new Uint8Array(await fs.readFile(path.join(ex.repo, 'summary.idx')))) as [
      Array<[string, [Uint8Array]]>,
    ];
    const digest = Buffer.from((subs.find(([n]) => n === ARCH) as [string, [Uint8Array]])[1][0]).toString('hex');
    const sub = await fs.readFile(path.join(up, 'summaries', digest));
    expect(createHash('sha256').update(sub).digest('hex')).toBe(digest);
    const record = JSON.parse(await fs.readFile(path.join(up, 'sideload.json'), 'utf8')) as {
      origin: string;
      signedBy: string[];
      root: string;
    };
    expect(record).toMatchObject({ signedBy: ['gpg'], root: 'summary.idx' });
    expect(record.origin).toMatch(/cache of remote 'example'/);
    const v = await sideload(['verify', '--upstream-gpg', ex.gpgKey, drive]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    // The drive installs offline as usual.
    const { result } = await offlineInstall(ex, drive);
    expect(result.code, result.stderr).toBe(0);
  });

  it('--remote NAME reads straight from the URL of a configured remote, trusting its keyring', async () => {
    const drive = await tempDir('sideload-remote-name-');
    server.resetLog();
    const r = await sideload(['create', '--user', '--remote', 'example', '--no-fsync', drive, 'org.example.App'], {
      env: f.env,
    });
    expect(r.code, r.stderr).toBe(0);
    // It fetched from the server (the signed index first), not from the installation's objects.
    expect(server.log[0]?.rel).toBe('summary.idx');
    expect(server.objectGets().length).toBeGreaterThan(0);
    const refs = await mirrorRefs(path.join(drive, '.ostree/repo'));
    expect(refs.get(`${CID} ${APP}`)).toBe((await fs.readFile(path.join(ex.repo, 'refs/heads', APP), 'utf8')).trim());
    // An unknown remote is "not found", naming it.
    const bad = await sideload(['create', '--user', '--remote', 'nope', drive, 'org.example.App'], { env: f.env });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/remote 'nope' is not configured/);
  });

  it('with the user and system installations both in scope, reads the one where the ref is installed', async () => {
    // The app lives in the system installation only; the user installation exists but has just a remote.
    const g = await flatpakEnv();
    g.env = { ...g.env, ...NO_PROXY };
    await remoteAdd(g, 'example', `file://${ex.repo}`, ex.gpgKey, { scope: '--system' });
    await g.flatpakOk(['--system', 'install', '-y', '--noninteractive', 'example', 'org.example.App']);
    await remoteAdd(g, 'other', `file://${ex.repo}`, ex.gpgKey);
    const drive = await tempDir('sideload-sys-');
    const r = await sideload(['create', '--no-fsync', drive, 'org.example.App'], { env: g.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(APP);
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} ${APP}`)).toMatch(/^[0-9a-f]{64}$/);

    // Installed in both: refused, naming both installations and how to choose, and the drive is untouched.
    await g.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'other', 'org.example.App']);
    const d2 = await tempDir('sideload-both-');
    const before = await snapshotDir(d2);
    const both = await sideload(['create', '--no-fsync', d2, 'org.example.App'], { env: g.env });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(
      /'org\.example\.App' is installed in several installations \('user', 'system'\); choose one with --user, --system/,
    );
    expect(await snapshotDir(d2)).toEqual(before);
    // Naming one works.
    const sys = await sideload(['create', '--system', '--no-fsync', d2, 'org.example.App'], { env: g.env });
    expect(sys.code, sys.stderr).toBe(0);
  });

  it("an app's Locale comes from the installation the app is taken from, not from another one's older copy", async () => {
    // The system installation has v1 of the app with its Locale; the user installation has v2 of the app (installed
    // without related refs: no Locale of its own) and runs it on the system's runtime.
    const v2 = await makeExampleRepo();
    const v1Repo = path.join(await tempDir('sideload-v1-'), 'repo');
    await fs.cp(v2.repo, v1Repo, { recursive: true });
    await v2.update(2);
    const g = await flatpakEnv();
    g.env = { ...g.env, ...NO_PROXY };
    await remoteAdd(g, 'example', `file://${v1Repo}`, v2.gpgKey, { scope: '--system' });
    await g.flatpakOk(['--system', 'install', '-y', '--noninteractive', 'example', 'org.example.App']);
    await remoteAdd(g, 'example', `file://${v2.repo}`, v2.gpgKey);
    await g.flatpakOk(['--user', 'install', '-y', '--noninteractive', '--no-related', 'example', 'org.example.App']);
    const commit = async (scope: string, ref: string) =>
      (await g.flatpakOk([scope, 'info', '--show-commit', ref])).trim();
    const userApp = await commit('--user', APP);
    expect(userApp).not.toBe(await commit('--system', APP));
    expect((await g.flatpak(['--user', 'info', APP_LOCALE])).code).not.toBe(0);
    const drive = await tempDir('sideload-locale-inst-');
    const r = await sideload(['create', '--user', '--no-fsync', drive, 'org.example.App'], { env: g.env });
    expect(r.code, r.stderr).toBe(0);
    const refs = await mirrorRefs(path.join(drive, '.ostree/repo'));
    expect(refs.get(`${CID} ${APP}`)).toBe(userApp);
    // The runtime comes from the system installation (flatpak runs the user's app on it) …
    expect(refs.get(`${CID} ${PLATFORM}`)).toBe(await commit('--system', PLATFORM));
    // … but not the system's Locale of its own, older app: before the fix, the drive paired v2 with v1's Locale.
    expect(refs.has(`${CID} ${APP_LOCALE}`)).toBe(false);

    // Where the other installation has the same commit of the app, its Locale is that app's and comes along.
    await g.flatpakOk(['--system', 'remote-modify', `--url=file://${v2.repo}`, 'example']);
    await g.flatpakOk(['--system', 'update', '-y', '--noninteractive', APP, APP_LOCALE]);
    expect(await commit('--system', APP)).toBe(userApp);
    const d2 = await tempDir('sideload-locale-same-');
    const r2 = await sideload(['create', '--user', '--no-fsync', d2, 'org.example.App'], { env: g.env });
    expect(r2.code, r2.stderr).toBe(0);
    expect((await mirrorRefs(path.join(d2, '.ostree/repo'))).get(`${CID} ${APP_LOCALE}`)).toBe(
      await commit('--system', APP_LOCALE),
    );
  });

  it('an app installed only in an installations.d installation: the error names it and --installation', async () => {
    const g = await flatpakEnv();
    g.env = { ...g.env, ...NO_PROXY };
    const custom = path.join(g.root, 'custom');
    await fs.mkdir(path.join(g.root, 'config/installations.d'), { recursive: true });
    await fs.writeFile(
      path.join(g.root, 'config/installations.d/custom.conf'),
      `[Installation "custom"]\nPath=${custom}\nDisplayName=Custom\nStorageType=harddisk\n`,
    );
    await g.flatpakOk([
      '--installation=custom',
      'remote-add',
      `--collection-id=${CID}`,
      `--gpg-import=${ex.gpgKey}`,
      'example',
      `file://${ex.repo}`,
    ]);
    await g.flatpakOk(['--installation=custom', 'install', '-y', '--noninteractive', 'example', 'org.example.App']);
    await remoteAdd(g, 'example', `file://${ex.repo}`, ex.gpgKey); // the user installation exists, without the app
    const drive = await tempDir('sideload-custom-');
    const r = await sideload(['create', '--no-fsync', drive, 'org.example.App'], { env: g.env });
    expect(r.code).toBe(3);
    // Before the fix: only "is not installed in the source", with no word of the installation that has it.
    expect(r.stderr).toContain(
      `ref 'org.example.App' (arch ${ARCH}) is not installed in the source; it is installed in the 'custom' ` +
        'installation: name it with --installation=custom',
    );
    const named = await sideload(['create', '--installation', 'custom', '--no-fsync', drive, 'org.example.App'], {
      env: g.env,
    });
    expect(named.code, named.stderr).toBe(0);
  });

  it('reads the installations.d entries flatpak reads: an entry with a bad or repeated ID is ignored, as flatpak does', async () => {
    const g = await flatpakEnv();
    const conf = path.join(g.root, 'config/installations.d');
    await fs.mkdir(conf, { recursive: true });
    const x80 = 'x'.repeat(80);
    // flatpak-dir.c is_good_installation_id: not empty, user, system or default; ASCII; no space, `/` or newline;
    // at most 80 bytes. A repeated ID is ignored too (the first wins).
    const ids = ["Bob's custom", 'user', 'system', 'default', 'café', 'a/b', `${x80}y`, x80, "Bob's", 'dup'];
    const root = (id: string) => path.join(g.root, 'inst', Buffer.from(id).toString('hex'));
    for (const id of ids) await fs.mkdir(root(id), { recursive: true });
    const entry = (id: string) => `[Installation "${id}"]\nPath=${root(id)}\n`;
    await fs.writeFile(path.join(conf, 'a.conf'), ids.map(entry).join('\n'));
    await fs.writeFile(path.join(conf, 'b.conf'), `[Installation "dup"]\nPath=${path.join(g.root, 'elsewhere')}\n`);
    await fs.mkdir(path.join(g.root, 'elsewhere'));

    const listed = await g.flatpak(['--installations']);
    expect(listed.code, listed.stderr).toBe(0);
    for (const bad of ["Bob's custom", 'user', 'system', 'default', 'café', 'a/b', `${x80}y`])
      expect(listed.stderr).toContain(`Bad installation ID '${bad}'. Ignoring`);
    expect(listed.stderr).toContain(`Duplicate installation ID 'dup'. Ignoring`);
    const theirs = listed.stdout
      .split('\n')
      .filter((l) => l !== '' && l !== g.env['FLATPAK_SYSTEM_DIR'])
      .sort();

    const saved = process.env['FLATPAK_CONFIG_DIR'];
    process.env['FLATPAK_CONFIG_DIR'] = g.env['FLATPAK_CONFIG_DIR'];
    try {
      const ours = await namedInstallations();
      // Before the fix: all ten entries of a.conf and b.conf's dup, each a --installation name.
      expect(ours.map((l) => l.name)).toEqual([x80, "Bob's", 'dup']);
      expect(ours.map((l) => l.root).sort()).toEqual(theirs);
    } finally {
      if (saved === undefined) delete process.env['FLATPAK_CONFIG_DIR'];
      else process.env['FLATPAK_CONFIG_DIR'] = saved;
    }

    // Named, an ignored one is not found, by flatpak (`Could not find installation`) or sideload (exit 3).
    const fp = await g.flatpak(["--installation=Bob's custom", 'list']);
    expect(fp.stderr).toContain("Could not find installation Bob's custom");
    const drive = await tempDir('sideload-badid-');
    const r = await sideload(['create', '--installation', "Bob's custom", drive, 'org.example.App'], { env: g.env });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("no flatpak installation named 'Bob's custom' in installations.d");
  });

  it('the fix for a remote with no collection ID in installation "Bob\'s" runs as printed', async () => {
    const g = await flatpakEnv();
    const custom = path.join(g.root, 'custom');
    await fs.mkdir(path.join(g.root, 'config/installations.d'), { recursive: true });
    await fs.writeFile(
      path.join(g.root, 'config/installations.d/bob.conf'),
      `[Installation "Bob's"]\nPath=${custom}\n`,
    );
    const bob = "--installation=Bob's";
    await g.flatpakOk([bob, 'remote-add', `--gpg-import=${ex.gpgKey}`, 'nocid', `file://${ex.repo}`]);
    await g.flatpakOk([bob, 'install', '-y', '--noninteractive', 'nocid', 'org.example.App']);
    const drive = await tempDir('sideload-bob-');
    const r = await sideload(['create', '--installation', "Bob's", '--no-fsync', drive, 'org.example.App'], {
      env: g.env,
    });
    expect(r.code, r.stderr).toBe(2);
    const fix = /Fix it with: (.*) \(the collection its commits are bound to\)/.exec(r.stderr)?.[1];
    // Before: `flatpak --installation=Bob's remote-modify …`, an unterminated quote to a shell.
    expect(fix).toBe(`flatpak --installation='Bob'\\''s' remote-modify --collection-id=${CID} nocid`);
    const fixed = await run('sh', ['-c', fix as string], { env: g.env });
    expect(fixed.code, fixed.stderr).toBe(0);
    const ok = await sideload(['create', '--installation', "Bob's", '--no-fsync', drive, 'org.example.App'], {
      env: g.env,
    });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a malformed installations.d file: --user runs as flatpak --user does; a run naming an installation names the file', async () => {
    const g = await flatpakEnv();
    const conf = path.join(g.root, 'config/installations.d');
    await fs.mkdir(conf, { recursive: true });
    const custom = path.join(g.root, 'custom');
    await fs.writeFile(path.join(conf, 'a.conf'), `[Installation "custom"]\nPath=${custom}\n`);
    await g.flatpakOk([
      '--installation=custom',
      'remote-add',
      `--gpg-import=${ex.gpgKey}`,
      'example',
      `file://${ex.repo}`,
    ]);
    await remoteAdd(g, 'example', `file://${ex.repo}`, ex.gpgKey);
    await g.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', 'org.example.App']);
    const bad = path.join(conf, 'bad.conf');
    await fs.writeFile(bad, '[Installation "x"\nPath=/tmp\n');
    // flatpak: --user never reads installations.d; naming an installation fails (on a file it cannot parse).
    expect((await g.flatpak(['--user', 'list'])).code).toBe(0);
    const fp = await g.flatpak(['--installation=x', 'list']);
    expect(fp.code).not.toBe(0);
    expect(fp.stderr).toContain('[Installation "x"');

    const drive = await tempDir('sideload-badconf-');
    // Before the fix: exit 4, "malformed key file: line 1: malformed group header", no word of which file.
    const user = await sideload(['create', '--user', '--dry-run', drive, 'org.example.App'], { env: g.env });
    expect(user.code, user.stderr).toBe(0);
    expect(user.stderr).toContain(
      `warning: installations.d file ${bad} is malformed: line 1: malformed group header '[Installation "x"': ` +
        'the installations it names are not read for runtimes',
    );
    const json = await sideload(['create', '--user', '--dry-run', '--json', drive, 'org.example.App'], {
      env: g.env,
    });
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { warnings: Array<{ code: string; data: { path: string; line: number } }> };
    expect(doc.warnings).toContainEqual(
      expect.objectContaining({ code: 'installation-unreadable', data: { path: bad, line: 1 } }),
    );
    // A name only the malformed file could hold: the error names the file (exit 4, as a malformed input).
    const named = await sideload(['create', '--installation', 'x', '--dry-run', drive, 'org.example.App'], {
      env: g.env,
    });
    expect(named.code, named.stderr).toBe(4);
    expect(named.stderr).toContain(
      `no flatpak installation named 'x' in installations.d: installations.d file ${bad} is malformed: line 1`,
    );
    // A name in a readable file is found (it has no app installed: that is the error, not the file skipped).
    const other = await sideload(['create', '--installation', 'custom', '--dry-run', drive, 'org.example.App'], {
      env: g.env,
    });
    expect(other.code, other.stderr).toBe(3);
    expect(other.stderr).toContain("ref 'org.example.App'");
    expect(other.stderr).toContain('is not installed in the source');
  });
});
