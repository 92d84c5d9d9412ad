/**
 * `verify` and `create` against drives and sources that are wrong in ways a byte-by-byte object check misses
 * (issues 12 and 13): commit signatures (.commitmeta missing or swapped) checked against the upstream keys given,
 * garbage sideload.json, stray files and symlinks in objects/ and the repo root, a commit listed under a collection
 * other than the one it is bound to, and a directory tree nested deeper than ostree's OSTREE_MAX_RECURSION (256).
 * Drives with problems `create` refuses to make are assembled with the real ostree tools.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createExampleApp, exampleCopy, runCli, type ExampleCopy } from './net-helpers.js';

const CID = 'org.example.Stable';
const APP_COMMIT = '9e295658827d50bbd3f943901eafd88ddf0aabaa5b4243999338012e3deeb183';
let ex: ExampleCopy;
let good: string;
let n = 0;

const ostree = (args: string[]) => execFileSync('ostree', args, { encoding: 'utf8' }).trim();
const repoOf = (drive: string) => path.join(drive, '.ostree/repo');
const objectFile = (drive: string, c: string, type: string) =>
  path.join(repoOf(drive), 'objects', c.slice(0, 2), `${c.slice(2)}.${type}`);

async function copyOfGood(): Promise<string> {
  const d = path.join(ex.dir, `copy-${n++}`);
  await fs.cp(good, d, { recursive: true, verbatimSymlinks: true });
  return d;
}

interface Report {
  ok: boolean;
  repos: Array<{ findings: Array<{ severity: string; code: string; message: string; path?: string }> }>;
}
async function verify(drive: string, extra: string[] = []): Promise<{ code: number; report: Report; ms: number }> {
  const r = await runCli(['verify', '--json', ...extra, drive]);
  return { code: r.code, report: JSON.parse(r.stdout) as Report, ms: r.ms };
}
const findings = (r: Report) => r.repos.flatMap((x) => x.findings);

beforeAll(async () => {
  ex = await exampleCopy();
  good = path.join(ex.dir, 'good');
  await fs.mkdir(good);
  const r = await createExampleApp(ex.repo, good, ['--gpg-import', ex.gpgKey]);
  expect(r.code, r.stderr).toBe(0);
});

describe('verify: commit signatures against the upstream keys', () => {
  it('a good drive passes with --upstream-gpg (every listed commit is GPG-signed)', async () => {
    const v = await verify(good, ['--upstream-gpg', ex.gpgKey]);
    expect(v.code, JSON.stringify(findings(v.report))).toBe(0);
    expect(findings(v.report).filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('a missing .commitmeta is an error with --upstream-gpg (it was exit 0)', async () => {
    const d = await copyOfGood();
    await fs.rm(objectFile(d, APP_COMMIT, 'commitmeta'));
    const v = await verify(d, ['--upstream-gpg', ex.gpgKey]);
    expect(v.code).toBe(6);
    expect(findings(v.report)).toContainEqual(
      expect.objectContaining({ code: 'unsigned-commit', path: `objects/9e/${APP_COMMIT.slice(2)}.commitmeta` }),
    );
  });

  it('GPG-signed commits checked with an ed25519 key only: "not signed with a kind of key given", not "not signed"', async () => {
    const key = path.join(ex.dir, 'upstream-ed25519');
    const k = await runCli(['keygen', '-o', key]);
    expect(k.code, k.stderr).toBe(0);
    const v = await verify(good, ['--upstream-key', `${key}.pub`]);
    expect(v.code).toBe(6);
    const f = findings(v.report).find((x) => x.message.includes(`commit ${APP_COMMIT} `));
    expect(f).toMatchObject({ code: 'unsigned-commit', path: `objects/9e/${APP_COMMIT.slice(2)}.commitmeta` });
    // The .commitmeta is there and holds a GPG signature: the message says so, and which key checks it.
    expect(f?.message).toMatch(
      /is not signed with a kind of key given \(it names GPG key [0-9A-F]{16}\): pass the upstream's GPG key with --gpg-import to check it$/,
    );
  });

  it("another commit's .commitmeta in its place does not verify", async () => {
    const d = await copyOfGood();
    const other = '20b8f01d1e3e3984d685a14b3885b3a3ffce9064ad72c5f48f0317db495ff572';
    await fs.copyFile(objectFile(d, other, 'commitmeta'), objectFile(d, APP_COMMIT, 'commitmeta'));
    const v = await verify(d, ['--upstream-gpg', ex.gpgKey]);
    expect(v.code).toBe(6);
    // (The commit-signature check itself is verify-signatures.ts's, through CommitVerifier.)
    const f = findings(v.report).find((x) => x.code === 'untrusted-commit' || x.code === 'unsigned-commit');
    expect(f?.message).toContain(`commit ${APP_COMMIT} of 'app/org.example.App/`);
    expect(f?.path).toBe(`objects/9e/${APP_COMMIT.slice(2)}.commitmeta`);
  });
});

describe('verify: what lies around in the repo', () => {
  it('garbage sideload.json is an error naming it', async () => {
    const d = await copyOfGood();
    const j = path.join(repoOf(d), 'extensions/sideload/upstream', CID, 'sideload.json');
    await fs.writeFile(j, '{"origin": 5, "files": ["nope"]');
    const v = await verify(d);
    expect(v.code).toBe(6);
    expect(findings(v.report)).toContainEqual(
      expect.objectContaining({ code: 'bad-sideload-json', path: `extensions/sideload/upstream/${CID}/sideload.json` }),
    );
    await fs.writeFile(
      j,
      JSON.stringify({ origin: 'x', signedBy: [], keys: [], root: 'summary.idx', files: ['summary.idx', 'ghost'] }),
    );
    const w = await verify(d);
    expect(findings(w.report).find((x) => x.code === 'bad-sideload-json')?.message).toMatch(
      /listed files that are missing: ghost/,
    );
  });

  it('stray files in objects/ are errors, at the repo root warnings; a symlinked object is an error', async () => {
    const d = await copyOfGood();
    const objects = path.join(repoOf(d), 'objects');
    await fs.writeFile(path.join(objects, 'README'), 'x');
    // A prefix directory holding a content or tree object (the first one may hold only a commit, whose checksum
    // changes with the time the drive was written).
    let prefix = '';
    let dm = '';
    for (const p of (await fs.readdir(objects)).filter((x) => /^[0-9a-f]{2}$/.test(x)).sort()) {
      const hit = (await fs.readdir(path.join(objects, p))).find((f) => /\.(dirmeta|dirtree|filez)$/.test(f));
      if (hit) [prefix, dm] = [p, hit];
      if (hit) break;
    }
    expect(dm).not.toBe('');
    await fs.writeFile(path.join(objects, prefix, 'junk.tmp'), 'x');
    await fs.writeFile(path.join(repoOf(d), 'notes.txt'), 'x');
    // An object moved out of the repo and linked back: its bytes still hash right.
    await fs.rename(path.join(objects, prefix, dm), path.join(ex.dir, `outside-${n}`));
    await fs.symlink(path.join(ex.dir, `outside-${n}`), path.join(objects, prefix, dm));
    const v = await verify(d);
    expect(v.code).toBe(6);
    const f = findings(v.report);
    expect(f).toContainEqual(
      expect.objectContaining({ severity: 'error', code: 'stray-object-file', path: 'objects/README' }),
    );
    expect(f).toContainEqual(
      expect.objectContaining({ severity: 'error', code: 'stray-object-file', path: `objects/${prefix}/junk.tmp` }),
    );
    expect(f).toContainEqual(expect.objectContaining({ severity: 'warning', code: 'stray-file', path: 'notes.txt' }));
    expect(f).toContainEqual(
      expect.objectContaining({ severity: 'error', code: 'object-symlink', path: `objects/${prefix}/${dm}` }),
    );
  });
});

describe('collection binding and tree depth', () => {
  let src: string;
  let deepCommit: string;
  let boundCommit: string;
  const DEEP = 'runtime/org.example.Deep/x86_64/stable';
  const BOUND = 'runtime/org.example.Bound/x86_64/stable';

  /** A drive repo assembled with ostree: `ref` under collection `cid` pointing at `commit` of `src`. */
  async function ostreeDrive(ref: string, commit: string, cid: string): Promise<string> {
    const d = path.join(ex.dir, `ostree-drive-${n++}`);
    const repo = repoOf(d);
    await fs.mkdir(repo, { recursive: true });
    ostree(['init', `--repo=${repo}`, '--mode=archive']);
    ostree([`--repo=${repo}`, 'pull-local', src, commit]);
    await fs.mkdir(path.dirname(path.join(repo, 'refs/mirrors', cid, ref)), { recursive: true });
    await fs.writeFile(path.join(repo, 'refs/mirrors', cid, ref), `${commit}\n`);
    ostree([`--repo=${repo}`, 'summary', '-u']);
    return d;
  }

  beforeAll(async () => {
    src = path.join(ex.dir, 'deep-src');
    ostree(['init', `--repo=${src}`, '--mode=archive']);
    // 300 nested directories under files/ (root = depth 0, so the innermost is depth 301).
    const tree = path.join(ex.dir, 'deep-tree');
    let p = path.join(tree, 'files');
    for (let i = 0; i < 300; i++) p = path.join(p, 'd');
    await fs.mkdir(p, { recursive: true });
    await fs.writeFile(path.join(p, 'leaf'), 'x');
    deepCommit = ostree([
      `--repo=${src}`,
      'commit',
      `--branch=${DEEP}`,
      `--tree=dir=${tree}`,
      `--add-metadata-string=ostree.collection-binding=${CID}`,
    ]);
    const small = path.join(ex.dir, 'small-tree');
    await fs.mkdir(path.join(small, 'files'), { recursive: true });
    await fs.writeFile(path.join(small, 'files', 'a'), 'a');
    boundCommit = ostree([
      `--repo=${src}`,
      'commit',
      `--branch=${BOUND}`,
      `--tree=dir=${small}`,
      '--add-metadata-string=ostree.collection-binding=org.other.Y',
    ]);
  });

  it('create refuses a tree deeper than 256 levels: exit 4 naming the ref and the path', async () => {
    const d = path.join(ex.dir, `deep-create-${n++}`);
    await fs.mkdir(d);
    const r = await runCli(['create', '-q', '--no-fsync', '--repo', src, '--collection-id', CID, d, DEEP]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`'${DEEP}' (commit ${deepCommit}): directory '/files/d/d/`);
    expect(r.stderr).toContain("is nested 257 levels deep, past ostree's limit of 256 (OSTREE_MAX_RECURSION)");
    expect(await fs.readdir(d)).toEqual([]);
  });

  it('verify flags a drive holding such a tree', async () => {
    const d = await ostreeDrive(DEEP, deepCommit, CID);
    const v = await verify(d, ['--quick']);
    expect(v.code).toBe(6);
    const f = findings(v.report).find((x) => x.code === 'tree-too-deep');
    expect(f?.message).toContain(`'${DEEP}' (commit ${deepCommit}): directory '/files/d/d/`);
    expect(f?.path).toBe(`refs/mirrors/${CID}/${DEEP}`);
  });

  it('--collection-id does not relabel a commit bound to another collection: exit 2 with both IDs', async () => {
    const d = path.join(ex.dir, `bound-create-${n++}`);
    await fs.mkdir(d);
    const r = await runCli(['create', '-q', '--no-fsync', '--repo', src, '--collection-id', CID, d, BOUND]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `'${BOUND}' would go on the drive under collection '${CID}' (--collection-id or the source's), but its commit ${boundCommit.slice(0, 12)}… is bound to collection 'org.other.Y'`,
    );
    expect(r.stderr).toContain('use --collection-id org.other.Y, or leave it off');
    expect(await fs.readdir(d)).toEqual([]);
  });

  it('without a collection ID, the error suggests the one the commit is bound to', async () => {
    const d = path.join(ex.dir, `bound-create-${n++}`);
    await fs.mkdir(d);
    const r = await runCli(['create', '-q', '--no-fsync', '--repo', src, d, BOUND]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `no collection ID is known for '${BOUND}'. Pass --collection-id org.other.Y (the collection its commit is bound to).`,
    );
  });

  it('verify flags a ref listed under another collection than its commit is bound to', async () => {
    const d = await ostreeDrive(BOUND, boundCommit, CID);
    const v = await verify(d, ['--quick']);
    expect(v.code).toBe(6);
    expect(findings(v.report)).toContainEqual(
      expect.objectContaining({
        code: 'collection-binding-mismatch',
        path: `refs/mirrors/${CID}/${BOUND}`,
        message: expect.stringContaining("is bound to 'org.other.Y'"),
      }),
    );
  });
});

describe('ref binding (ostree.ref-binding)', () => {
  const PLATFORM_LOCALE = 'runtime/org.example.Platform.Locale/x86_64/stable';
  const APP_LOCALE = 'runtime/org.example.App.Locale/x86_64/stable';

  it('create refuses a commit bound to another ref, even one the drive already holds: exit 2, the drive as it was', async () => {
    const d = await copyOfGood();
    const appLocale = (await fs.readFile(path.join(repoOf(d), 'refs/mirrors', CID, APP_LOCALE), 'utf8')).trim();
    const before = execFileSync('sh', ['-c', `cd '${d}' && find . -type f -exec sha256sum {} + | sort`]).toString();
    // As a hand-edited lock or a wrong --commit pin does: the App's Locale commit under the Platform's Locale ref.
    const r = await createExampleApp(ex.repo, d, [
      '--gpg-import',
      ex.gpgKey,
      '--commit',
      `${PLATFORM_LOCALE}=${appLocale}`,
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `'${PLATFORM_LOCALE}' would point at commit ${appLocale.slice(0, 12)}…, which is bound to '${APP_LOCALE}' (ostree.ref-binding): clients would refuse it`,
    );
    expect(execFileSync('sh', ['-c', `cd '${d}' && find . -type f -exec sha256sum {} + | sort`]).toString()).toBe(
      before,
    );
  });

  it('verify flags a ref whose commit is bound to other refs', async () => {
    const d = await copyOfGood();
    const repo = repoOf(d);
    const appLocale = (await fs.readFile(path.join(repo, 'refs/mirrors', CID, APP_LOCALE), 'utf8')).trim();
    await fs.writeFile(path.join(repo, 'refs/mirrors', CID, PLATFORM_LOCALE), `${appLocale}\n`);
    ostree([`--repo=${repo}`, 'summary', '-u']);
    const v = await verify(d, ['--quick']);
    expect(v.code).toBe(6);
    expect(findings(v.report)).toContainEqual(
      expect.objectContaining({
        code: 'collection-binding-mismatch',
        path: `refs/mirrors/${CID}/${PLATFORM_LOCALE}`,
        message: expect.stringContaining(`which is bound to '${APP_LOCALE}' (ostree.ref-binding)`),
      }),
    );
  });
});

describe('an unsigned summary beside a signed summary.idx', () => {
  it('create refuses it (exit 5); carried anyway, the guide takes the signed title and verify flags the summary', async () => {
    const src = path.join(ex.dir, 'compat-src');
    await fs.cp(ex.repo, src, { recursive: true });
    await fs.rm(path.join(src, 'summary.sig'));
    const summary = await fs.readFile(path.join(src, 'summary'));
    const at = summary.indexOf('Example Repo');
    expect(at).toBeGreaterThan(0);
    summary.write('Evil!!Repo!!', at, 'latin1');
    await fs.writeFile(path.join(src, 'summary'), summary);
    const refused = path.join(ex.dir, `compat-${n++}`);
    await fs.mkdir(refused);
    // It was carried as "signed by gpg", and its forged title reached the .flatpakrepo and README.
    const r = await createExampleApp(src, refused, ['--gpg-import', ex.gpgKey]);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain("signs summary.idx but not summary: nothing vouches for the summary's bytes");
    expect(await fs.readdir(refused)).toEqual([]);
    const carried = path.join(ex.dir, `compat-${n++}`);
    await fs.mkdir(carried);
    const a = await createExampleApp(src, carried, ['--gpg-import', ex.gpgKey, '--allow-unsigned-upstream']);
    expect(a.code, a.stderr).toBe(0);
    expect(await fs.readFile(path.join(carried, `${CID}.flatpakrepo`), 'utf8')).toContain('Title=Example Repo\n');
    const v = await verify(carried, ['--quick', '--gpg-import', ex.gpgKey]);
    expect(v.code).toBe(6);
    expect(findings(v.report)).toContainEqual(
      expect.objectContaining({
        code: 'upstream-unverified',
        path: `extensions/sideload/upstream/${CID}/summary`,
        message: expect.stringContaining('has no signature beside its signed summary.idx'),
      }),
    );
  });
});
