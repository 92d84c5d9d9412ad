/**
 * `sideload create --url / --from` against the example repo (made with the real flatpak tools) served by a local
 * HTTP server on 127.0.0.1, with faults injected per path. A drive made from the URL installs offline with real
 * flatpak and matches one made with --repo; every fault ends in a good drive or in a clear error with its exit code
 * and the drive as it was; an update downloads exactly the objects the drive lacks.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectPath } from '../../src/ostree/object.js';
import { decodeSummaryIndex } from '../../src/summary/summary-index.js';
import {
  APP,
  CID,
  createFromRepo,
  describeInterop,
  installedCommits,
  makeExampleRepo,
  offlineInstall,
  PLATFORM,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
  type RunResult,
} from '../helpers/flatpak-fixtures.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { firstMatching, startServer, type TestServer } from '../helpers/http-server.js';

/**
 * Fast retries and never a proxy for 127.0.0.1. The stall window stays long: the server runs in the test process,
 * which a loaded machine (4 test files at once on 2 cores) can hold up for more than 400 ms, and a stall retried
 * is an object fetched twice. The stall cases set their own short window.
 */
const NET_ENV = {
  SIDELOAD_HTTP_BACKOFF_MS: '1',
  SIDELOAD_HTTP_RETRIES: '3',
  SIDELOAD_HTTP_STALL_MS: '10000',
  http_proxy: '',
  HTTP_PROXY: '',
  https_proxy: '',
  HTTPS_PROXY: '',
  no_proxy: '127.0.0.1',
};

/** The drive's tree, the staging area under tmp/ left out (a failed network run keeps it to resume). */
const snapshot = (dir: string) => snapshotDir(dir, { skip: (r) => /(^|\/)repo\/tmp$/.test(r) });

/** `objects/xx/….type` paths of a repo. */
async function objectFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of await fs.readdir(path.join(repo, 'objects')).catch(() => [] as string[]))
    for (const n of await fs.readdir(path.join(repo, 'objects', p)))
      if (!n.startsWith('.')) out.push(`objects/${p}/${n}`);
  return out.sort();
}

/** Collection ref → commit, from the drive's refs/mirrors. */
async function driveRefs(drive: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const root = path.join(drive, '.ostree/repo/refs/mirrors', CID);
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else out.set(r, (await fs.readFile(path.join(root, r), 'utf8')).trim());
    }
  };
  await walk('');
  return out;
}

async function sourceCommit(ex: ExampleRepo, ref: string): Promise<string> {
  return (await runOk('ostree', [`--repo=${ex.repo}`, 'rev-parse', ref])).trim();
}

async function copyDir(from: string, to: string): Promise<void> {
  await fs.cp(from, to, { recursive: true, verbatimSymlinks: true });
}

function fromUrl(
  server: TestServer,
  ex: ExampleRepo,
  drive: string,
  refs: string[] = ['org.example.App'],
  env: NodeJS.ProcessEnv = {},
): Promise<RunResult> {
  return sideload(
    [
      'create',
      '--quiet',
      '--no-fsync',
      '--url',
      server.url,
      '--collection-id',
      CID,
      '--gpg-import',
      ex.gpgKey,
      drive,
      ...refs,
    ],
    { env: { ...NET_ENV, ...env } },
  );
}

async function verifyOk(ex: ExampleRepo, drive: string): Promise<string> {
  const r = await sideload(['verify', '--upstream-gpg', ex.gpgKey, drive]);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  expect(r.stdout).toMatch(/^OK /);
  return r.stdout;
}

describeInterop('create from an HTTP remote', () => {
  let ex: ExampleRepo;
  let server: TestServer;
  let work: string;
  let repoDrive: string;
  /** A drive holding the runtime only (made with --repo); fault runs add the app to copies of it. */
  let baseDrive: string;
  let baseSnap: string[];

  beforeAll(async () => {
    ex = await makeExampleRepo();
    server = await startServer(ex.repo, { prefix: 'repo' });
    work = await tempDir('sideload-remote-');
    repoDrive = path.join(work, 'repo-drive');
    baseDrive = path.join(work, 'base-drive');
    await fs.mkdir(repoDrive);
    await fs.mkdir(baseDrive);
    const a = await createFromRepo(ex, repoDrive, ['org.example.App'], ['--quiet']);
    expect(a.code, a.stderr).toBe(0);
    const b = await createFromRepo(ex, baseDrive, ['org.example.Platform'], ['--quiet']);
    expect(b.code, b.stderr).toBe(0);
    baseSnap = await snapshot(baseDrive);
    expect((await driveRefs(baseDrive)).has(APP)).toBe(false);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('--url: installs offline with flatpak and holds the same refs, commits and object bytes as --repo', async () => {
    const drive = path.join(work, 'url-drive');
    await fs.mkdir(drive);
    server.resetLog();
    const r = await fromUrl(server, ex, drive, undefined, { SIDELOAD_HTTP_CONCURRENCY: '32' });
    expect(r.code, r.stderr).toBe(0);
    // Many requests in flight share one abort signal: no Node warning leaks onto the user's terminal.
    expect(r.stderr).not.toMatch(/Warning|MaxListeners/);
    // Everything came over HTTP, each object once.
    const gets = server.objectGets();
    expect(gets.length).toBeGreaterThan(0);
    expect(new Set(gets).size).toBe(gets.length);
    expect(server.count('summary.idx', 'GET')).toBe(1);
    expect(server.count('summary.idx.sig', 'GET')).toBe(1);

    const urlRefs = await driveRefs(drive);
    expect(contentRefs(urlRefs)).toEqual(contentRefs(await driveRefs(repoDrive)));
    expect(urlRefs.size).toBeGreaterThanOrEqual(8);
    expect(urlRefs.get(APP)).toBe(await sourceCommit(ex, APP));
    expect(urlRefs.get(PLATFORM)).toBe(await sourceCommit(ex, PLATFORM));
    const urlMeta = await metadataCommitObject(drive);
    const objs = (await objectFiles(path.join(drive, '.ostree/repo'))).filter((o) => o !== urlMeta);
    const repoMeta = await metadataCommitObject(repoDrive);
    expect(objs).toEqual((await objectFiles(path.join(repoDrive, '.ostree/repo'))).filter((o) => o !== repoMeta));
    // Every object on the drive but sideload's own commit was fetched (the empty dirtree and root dirmeta of the
    // ostree-metadata commit are in the example repo too).
    expect([...gets].sort()).toEqual(objs);
    for (const o of objs) {
      const [x, y] = await Promise.all([
        fs.readFile(path.join(drive, '.ostree/repo', o)),
        fs.readFile(path.join(repoDrive, '.ostree/repo', o)),
      ]);
      expect(x.equals(y), o).toBe(true);
    }
    // The signed upstream summary is carried byte for byte.
    const carried = await fs.readFile(
      path.join(drive, '.ostree/repo/extensions/sideload/upstream', CID, 'summary.idx'),
    );
    expect(carried.equals(await fs.readFile(path.join(ex.repo, 'summary.idx')))).toBe(true);
    // The same set as from the repo, the index's own signature copy (summaries/<sha256>.idx.sig) included.
    const up = (d: string) => path.join(d, '.ostree/repo/extensions/sideload/upstream', CID);
    const filesUnder = async (dir: string) =>
      (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile())
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
        .sort();
    const upFiles = await filesUnder(up(drive));
    expect(upFiles).toContain(`summaries/${createHash('sha256').update(carried).digest('hex')}.idx.sig`);
    expect(upFiles).toEqual(await filesUnder(up(repoDrive)));
    for (const f of upFiles.filter((n) => n !== 'sideload.json'))
      // our record: it names each origin
      expect(
        (await fs.readFile(path.join(up(drive), f))).equals(await fs.readFile(path.join(up(repoDrive), f))),
        f,
      ).toBe(true);
    await verifyOk(ex, drive);

    const { f, result } = await offlineInstall(ex, drive);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const installed = await installedCommits(f);
    expect(installed.get(APP)).toBe(urlRefs.get(APP));
    expect(installed.get(PLATFORM)).toBe(urlRefs.get(PLATFORM));
  });

  it('--from a .flatpakrepo file (its Url pointed at the server): URL, collection ID and key come from the file', async () => {
    const text = await fs.readFile(ex.flatpakrepo, 'utf8');
    expect(text).toMatch(/^Url=/m);
    const file = path.join(work, 'local.flatpakrepo');
    await fs.writeFile(file, text.replace(/^Url=.*$/m, `Url=${server.url}/`));
    const drive = path.join(work, 'from-drive');
    await fs.mkdir(drive);
    server.resetLog();
    const r = await sideload(['create', '--quiet', '--no-fsync', '--from', file, drive, 'org.example.App'], {
      env: NET_ENV,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(server.objectGets().length).toBeGreaterThan(0);
    expect(contentRefs(await driveRefs(drive))).toEqual(contentRefs(await driveRefs(repoDrive)));
    await verifyOk(ex, drive);
  });

  it('without the key the signed summary is not trusted: exit 5, nothing written', async () => {
    const drive = path.join(work, 'nokey-drive');
    await copyDir(baseDrive, drive);
    const r = await sideload(
      ['create', '--quiet', '--url', `${server.url}/`, '--collection-id', CID, drive, 'org.example.App'],
      { env: NET_ENV },
    );
    expect(r.code, r.stderr).toBe(5);
    // The file at fault, by its URL (given with a trailing slash: no `…//summary.idx`).
    expect(r.stderr).toContain(`sideload: error: ${server.url}/summary.idx: signature does not verify`);
    expect(await snapshot(drive)).toEqual(baseSnap);
  });

  describe('faults', () => {
    let n = 0;
    /** A copy of the runtime-only drive; the run under test adds the app from the server. */
    const freshCopy = async () => {
      const d = path.join(work, `fault-${++n}`);
      await copyDir(baseDrive, d);
      server.clearFaults();
      server.resetLog();
      return d;
    };
    const expectSuccess = async (drive: string, r: RunResult) => {
      expect(r.code, r.stderr).toBe(0);
      expect((await driveRefs(drive)).get(APP)).toBe(await sourceCommit(ex, APP));
      await verifyOk(ex, drive);
    };
    const expectUnchanged = async (drive: string) => {
      expect(await snapshot(drive)).toEqual(baseSnap);
      await verifyOk(ex, drive);
    };
    const filezOf = async (skip: string) =>
      (await objectFiles(ex.repo)).find((o) => o.endsWith('.filez') && o !== skip) as string;

    it('a connection dropped mid-object is retried and the drive is good', async () => {
      const drive = await freshCopy();
      const rule = server.addFault(/\.filez$/, { kind: 'drop' }, { times: 1 });
      const r = await fromUrl(server, ex, drive);
      await expectSuccess(drive, r);
      expect(rule.hits).toBe(1);
      const dropped = server.log.find((l) => l.fault === 'drop')?.rel as string;
      expect(server.count(dropped, 'GET')).toBe(2);
    });

    it('HTTP 500 three times, then success', async () => {
      const drive = await freshCopy();
      const rule = server.addFault(/\.(filez|dirtree|commit)$/, { kind: 'status', status: 500 }, { times: 3 });
      const r = await fromUrl(server, ex, drive);
      await expectSuccess(drive, r);
      expect(rule.hits).toBe(3);
      for (const l of server.log.filter((x) => x.fault === 'status'))
        expect(server.log.some((x) => x.rel === l.rel && x.fault === null)).toBe(true);
    });

    it('a truncated body once, then success', async () => {
      const drive = await freshCopy();
      const rule = server.addFault(/\.(filez|dirtree)$/, { kind: 'truncate' }, { times: 1 });
      await expectSuccess(drive, await fromUrl(server, ex, drive));
      expect(rule.hits).toBe(1);
    });

    it('a stall once (SIDELOAD_HTTP_STALL_MS) is abandoned and retried', async () => {
      const drive = await freshCopy();
      const rule = server.addFault(/\.filez$/, { kind: 'stall' }, { times: 1 });
      const t0 = Date.now();
      await expectSuccess(drive, await fromUrl(server, ex, drive, undefined, { SIDELOAD_HTTP_STALL_MS: '400' }));
      expect(rule.hits).toBe(1);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    });

    it('an object that is always truncated: exit 8 naming its URL, the drive as it was', async () => {
      const drive = await freshCopy();
      const pick = firstMatching(/\.filez$/);
      server.addFault(pick, { kind: 'truncate' });
      const r = await fromUrl(server, ex, drive);
      expect(r.code, r.stderr).toBe(8);
      const bad = server.log.find((l) => l.fault === 'truncate')?.rel as string;
      expect(r.stderr).toContain(`${server.url}/${bad}`);
      expect(r.stderr).toMatch(/giving up after 4 attempts/);
      expect(server.count(bad, 'GET')).toBe(4);
      await expectUnchanged(drive);
    });

    it('a server that stalls for good: exit 8 after the retries', async () => {
      const drive = await freshCopy();
      server.addFault(firstMatching(/\.filez$/), { kind: 'stall', afterBytes: 3 });
      const r = await fromUrl(server, ex, drive, ['org.example.App'], {
        SIDELOAD_HTTP_RETRIES: '1',
        SIDELOAD_HTTP_STALL_MS: '300',
      });
      expect(r.code, r.stderr).toBe(8);
      // 3 bytes, then nothing: under the 1 KiB a stall window must bring.
      expect(r.stderr).toMatch(/only 3 bytes in 300 ms \(less than 1024: stalled\)/);
      await expectUnchanged(drive);
    });

    it('an object answering 404: exit 3 naming the object, the drive as it was', async () => {
      const drive = await freshCopy();
      server.addFault(firstMatching(/\.filez$/), { kind: 'status', status: 404 });
      const r = await fromUrl(server, ex, drive);
      expect(r.code, r.stderr).toBe(3);
      const missing = server.log.find((l) => l.fault === 'status')?.rel as string;
      const checksum = missing.replace(/^objects\/(..)\/(.{62})\.filez$/, '$1$2');
      expect(r.stderr).toContain(`${checksum}.file`);
      expect(r.stderr).toMatch(/missing/);
      expect(server.count(missing, 'GET')).toBe(1); // never retried
      await expectUnchanged(drive);
    });

    it("an object served with another object's bytes: exit 4 naming it, the drive as it was", async () => {
      const drive = await freshCopy();
      const other = await filezOf('');
      const otherBytes = await fs.readFile(path.join(ex.repo, other));
      const pick = firstMatching(/\.filez$/);
      server.addFault((rel) => rel !== other && pick(rel), { kind: 'bytes', body: otherBytes });
      const r = await fromUrl(server, ex, drive);
      expect(r.code, r.stderr).toBe(4);
      const bad = server.log.find((l) => l.fault === 'bytes')?.rel as string;
      const checksum = bad.replace(/^objects\/(..)\/(.{62})\.filez$/, '$1$2');
      expect(r.stderr).toContain(checksum);
      expect(r.stderr).toMatch(/does not match|corrupt|mismatch/i);
      expect(server.count(bad, 'GET')).toBe(1); // bad bytes are not a network fault: not retried
      await expectUnchanged(drive);
    });

    it("a dirtree served with another dirtree's bytes: exit 4, the drive as it was", async () => {
      const drive = await freshCopy();
      const trees = (await objectFiles(ex.repo)).filter((o) => o.endsWith('.dirtree'));
      const appCommit = await sourceCommit(ex, APP);
      // The app's root dirtree (`ostree ls -C -d` prints the tree checksum, then the dirmeta's).
      const rootTree = (await runOk('ostree', [`--repo=${ex.repo}`, 'ls', '-C', '-d', appCommit, '/'])).match(
        /[0-9a-f]{64}/,
      )?.[0] as string;
      const target = objectPath(rootTree, 'dirtree', 'archive');
      expect(trees).toContain(target);
      const other = trees.find((t) => t !== target) as string;
      server.addFault(target, { kind: 'bytes', body: await fs.readFile(path.join(ex.repo, other)) });
      const r = await fromUrl(server, ex, drive);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toContain(`${rootTree}.dirtree`);
      expect(r.stderr).toMatch(/does not match its name/);
      await expectUnchanged(drive);
    });

    it('a tampered summary.idx: exit 5 before any object is fetched, the drive as it was', async () => {
      const drive = await freshCopy();
      server.addFault('summary.idx', { kind: 'bytes', body: (orig) => flipLastByte(orig) });
      const r = await fromUrl(server, ex, drive);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/summary\.idx.*signature/);
      expect(server.objectGets()).toEqual([]);
      await expectUnchanged(drive);
    });

    it('a summary.idx.sig from another file (a signature that does not match): exit 5, the drive as it was', async () => {
      const drive = await freshCopy();
      server.addFault('summary.idx.sig', { kind: 'bytes', body: await fs.readFile(path.join(ex.repo, 'summary.sig')) });
      const r = await fromUrl(server, ex, drive);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/signature/);
      expect(server.objectGets()).toEqual([]);
      await expectUnchanged(drive);
    });

    it('a failure on an empty drive leaves no repo behind', async () => {
      const drive = path.join(work, 'empty-drive');
      await fs.mkdir(drive);
      server.clearFaults();
      const other = await filezOf('');
      const otherBytes = await fs.readFile(path.join(ex.repo, other));
      server.addFault(
        (rel) => rel.endsWith('.filez') && rel !== other,
        { kind: 'bytes', body: otherBytes },
        { times: 1 },
      );
      const r = await fromUrl(server, ex, drive);
      expect(r.code, r.stderr).toBe(4);
      expect(await fs.readdir(drive)).toEqual([]);
    });
  });
});

describeInterop('updating a drive from an HTTP remote', () => {
  let ex: ExampleRepo;
  let server: TestServer;

  beforeAll(async () => {
    ex = await makeExampleRepo();
    server = await startServer(ex.repo, { prefix: 'repo' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('fetches exactly the objects new in the updated build, each once, and installs the new commit offline', async () => {
    const drive = await tempDir('sideload-remote-update-');
    const first = await fromUrl(server, ex, drive);
    expect(first.code, first.stderr).toBe(0);
    const repo = path.join(drive, '.ostree/repo');
    const driveBefore = new Set(await objectFiles(repo));
    const sourceBefore = new Set(await objectFiles(ex.repo));
    const oldApp = (await driveRefs(drive)).get(APP);

    await ex.update(2);
    const newApp = await sourceCommit(ex, APP);
    expect(newApp).not.toBe(oldApp);
    const newInSource = (await objectFiles(ex.repo)).filter((o) => !sourceBefore.has(o));
    expect(newInSource).toContain(objectPath(newApp, 'commit', 'archive'));

    server.resetLog();
    const second = await fromUrl(server, ex, drive);
    expect(second.code, second.stderr).toBe(0);
    const gets = server.objectGets();
    const meta = await metadataCommitObject(drive);
    const newOnDrive = (await objectFiles(repo)).filter((o) => !driveBefore.has(o) && o !== meta);
    // Nothing the drive already held was downloaded again; every new object exactly once.
    expect(gets.filter((g) => driveBefore.has(g))).toEqual([]);
    expect(new Set(gets).size).toBe(gets.length);
    expect([...gets].sort()).toEqual(newInSource);
    expect(newOnDrive).toEqual(newInSource);
    expect((await driveRefs(drive)).get(APP)).toBe(newApp);
    await verifyOk(ex, drive);

    const { f, result } = await offlineInstall(ex, drive);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect((await installedCommits(f)).get(APP)).toBe(newApp);
  });
});

describeInterop("a remote's summary.idx and its per-arch subsummaries", () => {
  let ex: ExampleRepo;
  let server: TestServer;
  /** The aarch64 subsummary's path, as summary.idx names it. */
  let aarch64Sub: string;

  beforeAll(async () => {
    ex = await makeExampleRepo({ arches: ['aarch64', 'x86_64'] });
    server = await startServer(ex.repo, { prefix: 'repo' });
    const index = decodeSummaryIndex(new Uint8Array(await fs.readFile(path.join(ex.repo, 'summary.idx'))));
    const sub = index.subsummaries.find((s) => s.name === 'aarch64');
    expect(sub).toBeDefined();
    aarch64Sub = `summaries/${sub?.digest}.gz`;
  });
  afterAll(async () => {
    await server?.close();
  });

  const create = (drive: string, args: string[], refs = ['org.example.App']) =>
    sideload(
      ['create', '--quiet', '--no-fsync', '--url', server.url, '--gpg-import', ex.gpgKey, ...args, drive, ...refs],
      {
        env: NET_ENV,
      },
    );

  it("a missing subsummary of an arch the run does not need: flatpak's reading, only the arch's own is fetched", async () => {
    server.clearFaults();
    server.addFault(aarch64Sub, { kind: 'status', status: 404 });
    server.resetLog();
    const drive = await tempDir('sideload-remote-sub-');
    const r = await create(drive, ['--no-upstream-summary', '--arch', 'x86_64']);
    expect(r.code, r.stderr).toBe(0);
    expect(server.count(aarch64Sub, 'GET')).toBe(0);
    expect((await driveRefs(drive)).get('app/org.example.App/x86_64/stable')).toBe(
      await sourceCommit(ex, 'app/org.example.App/x86_64/stable'),
    );

    // The carried upstream copy is the whole signed set: there the missing file is an error that says what to do.
    const carry = await create(await tempDir('sideload-remote-sub-'), ['--arch', 'x86_64']);
    expect(carry.code, carry.stderr).toBe(3);
    expect(carry.stderr).toContain(`subsummary aarch64 (${aarch64Sub}) listed in summary.idx is missing`);
    expect(carry.stderr).toContain('pass --no-upstream-summary to leave the copy off');
    // An arch the run plans for cannot do without its subsummary.
    for (const args of [['--arch', 'aarch64'], []]) {
      const refs = args.length ? ['org.example.App'] : ['app/org.example.App/aarch64/stable'];
      const need = await create(await tempDir('sideload-remote-sub-'), ['--no-upstream-summary', ...args], refs);
      expect(need.code, need.stderr).toBe(3);
      expect(need.stderr).toContain(`subsummary aarch64 (${aarch64Sub}) listed in summary.idx is missing`);
      expect(need.stderr).toContain('(this run needs the refs of arch aarch64)');
    }
  });

  it('a remote with summary.idx and no compat summary: the collection ID comes from the signed index', async () => {
    server.clearFaults();
    server.addFault(/^summary(\.sig)?$/, { kind: 'status', status: 404 });
    server.resetLog();
    const drive = await tempDir('sideload-remote-idx-only-');
    const r = await create(drive, ['--arch', 'x86_64']); // no --collection-id
    expect(r.code, r.stderr).toBe(0);
    expect(server.count('summary', 'GET')).toBe(1);
    expect((await driveRefs(drive)).get('app/org.example.App/x86_64/stable')).toBe(
      await sourceCommit(ex, 'app/org.example.App/x86_64/stable'),
    );
    await verifyOk(ex, drive);
  });
});

/** The drive's own ostree-metadata commit object (made by sideload, never fetched). */
async function metadataCommitObject(drive: string): Promise<string> {
  const c = (await driveRefs(drive)).get('ostree-metadata') as string;
  expect(c).toMatch(/^[0-9a-f]{64}$/);
  return objectPath(c, 'commit', 'archive');
}

/** Refs without the drive's own ostree-metadata ref (its commit differs with the time it was made). */
function contentRefs(refs: Map<string, string>): Map<string, string> {
  return new Map([...refs].filter(([r]) => r !== 'ostree-metadata'));
}

function flipLastByte(b: Uint8Array): Uint8Array {
  const c = Buffer.from(b);
  c[c.length - 1] = (c[c.length - 1] as number) ^ 0x01;
  return c;
}
