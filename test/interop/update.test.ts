/**
 * Updating a drive (drive.md §6): a newer build replaces the ref and keeps the others; an older commit is refused
 * unless --allow-downgrade, with the drive untouched; the ostree-metadata commit chains to the previous one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { decodeCommit } from '../../src/ostree/commit.js';
import { objectPath } from '../../src/ostree/object.js';
import {
  APP,
  CID,
  describeInterop,
  makeExampleRepo,
  PLATFORM,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { mirrorRefs } from './create-helpers.js';

const noTmp = { skip: (r: string) => r === '.ostree/repo/tmp' };

interface JsonResult {
  ok?: boolean;
  refs: Array<{ ref: string; commit: string; change: string }>;
  error?: { code: string; message: string; data: Record<string, unknown> };
}

describeInterop('updating a drive', () => {
  let ex: ExampleRepo;
  let v1Repo: string;
  let drive: string;
  let v1App: string;
  beforeAll(async () => {
    ex = await makeExampleRepo();
    v1Repo = path.join(await tempDir('sideload-v1-'), 'repo');
    await runOk('cp', ['-a', ex.repo, v1Repo]);
    v1App = (await fs.readFile(path.join(v1Repo, 'refs/heads', APP), 'utf8')).trim();
    await ex.update(2);
    drive = await tempDir('sideload-upd-');
  });

  const create = (repo: string, extra: string[] = []) =>
    sideload([
      'create',
      '--repo',
      repo,
      '--gpg-import',
      ex.gpgKey,
      '--no-fsync',
      '--json',
      ...extra,
      drive,
      'org.example.App',
    ]);
  const metadataCommit = async () => {
    const c = (await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} ostree-metadata`) as string;
    return {
      checksum: c,
      commit: decodeCommit(
        new Uint8Array(await fs.readFile(path.join(drive, '.ostree/repo', objectPath(c, 'commit', 'archive')))),
        c,
      ),
    };
  };

  it('a newer build replaces the app and keeps the rest; ostree-metadata chains to the previous one', async () => {
    const r1 = await create(v1Repo);
    expect(r1.code, r1.stdout).toBe(0);
    const m1 = await metadataCommit();
    const r2 = await create(ex.repo);
    expect(r2.code, r2.stdout).toBe(0);
    const j = JSON.parse(r2.stdout) as JsonResult;
    const v2App = (await fs.readFile(path.join(ex.repo, 'refs/heads', APP), 'utf8')).trim();
    expect(v2App).not.toBe(v1App);
    expect(j.refs.find((r) => r.ref === APP)).toMatchObject({ commit: v2App, change: 'updated' });
    // Every other ref: 'unchanged' when the new build kept its commit, 'updated' when it was rebuilt.
    for (const r of j.refs.filter((x) => x.ref !== APP)) {
      const old = (await fs.readFile(path.join(v1Repo, 'refs/heads', r.ref), 'utf8')).trim();
      expect(r.change, r.ref).toBe(old === r.commit ? 'unchanged' : 'updated');
    }
    expect(j.refs.map((r) => r.ref)).toContain(PLATFORM);
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} ${APP}`)).toBe(v2App);
    const m2 = await metadataCommit();
    expect(m2.checksum).not.toBe(m1.checksum);
    expect(m2.commit.parent).toBe(m1.checksum);
  });

  it('refuses to replace a ref by an older commit, leaving the drive untouched; --allow-downgrade does it', async () => {
    const before = await snapshotDir(drive, noTmp);
    const r = await create(v1Repo);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as JsonResult;
    expect(j.ok).toBe(false);
    expect(j.error?.code).toBe('EDOWNGRADE');
    expect(j.error?.message).toMatch(
      new RegExp(
        `'${APP.replace(/\//g, '\\/')}' on the drive is at [0-9a-f]{12}… \\(2024-01-02T00:00:00Z\\), newer than [0-9a-f]{12}… \\(2024-01-01T00:00:00Z\\) from the source; pass --allow-downgrade`,
      ),
    );
    expect(await snapshotDir(drive, noTmp)).toEqual(before);
    const ok = await create(v1Repo, ['--allow-downgrade']);
    expect(ok.code, ok.stdout).toBe(0);
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} ${APP}`)).toBe(v1App);
    const v = await sideload(['verify', '--upstream-gpg', ex.gpgKey, drive]);
    expect(v.code, v.stdout).toBe(0);
  });

  it('an update from a source with no summary keeps the carried upstream copy and says so', async () => {
    const d = await tempDir('sideload-upd-nosummary-');
    const c = await sideload([
      'create',
      '-q',
      '--repo',
      v1Repo,
      '--gpg-import',
      ex.gpgKey,
      '--no-fsync',
      d,
      'org.example.App',
    ]);
    expect(c.code, c.stderr).toBe(0);
    const bare = path.join(await tempDir('sideload-bare-'), 'repo');
    await runOk('cp', ['-a', ex.repo, bare]); // build 2, without its summary files
    for (const f of ['summary', 'summary.sig', 'summary.idx', 'summary.idx.sig', 'summaries'])
      await fs.rm(path.join(bare, f), { recursive: true, force: true });
    const upstream = path.join(d, '.ostree/repo/extensions/sideload/upstream', CID);
    const carried = await snapshotDir(upstream);
    const args = ['--repo', bare, '--gpg-import', ex.gpgKey, '--no-fsync'];
    const u = await sideload(['update', ...args, d]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toContain(`updated   ${CID} ${APP}`);
    // What happened, and the next step (as remove says): it said 'to update' and nothing of prune.
    expect(u.stdout).toMatch(/Refs: 0 added, [1-9]\d* updated, /);
    expect(u.stdout).toContain(`Run 'sideload prune ${d}' to free the space the replaced commits take.`);
    // The copy stays as it was, and the run says so (it said "not available", the warning "will not carry one").
    expect(await snapshotDir(upstream)).toEqual(carried);
    expect(u.stdout).toContain(
      `Upstream summary ${CID}: none from the source; the drive keeps the copy an earlier run carried ` +
        "(it may not list the refs' newer commits)",
    );
    expect(u.stderr).toContain(
      `warning: no upstream summary for '${CID}' is available from ostree repo '${bare}': this run carries none ` +
        "(a copy the drive holds from an earlier run stays as it was, and may not list the refs' newer commits)",
    );
    // A drive without a copy carries none, and says that; --json names the collections that keep theirs.
    const fresh = await tempDir('sideload-upd-nosummary-');
    const f = await sideload(['create', ...args, fresh, 'org.example.App']);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toContain(`Upstream summary ${CID}: none from the source; the drive carries none\n`);
    const j = await sideload(['create', '--json', ...args, fresh, 'org.example.App']);
    expect(JSON.parse(j.stdout)).toMatchObject({ changed: false, upstream: { [CID]: null }, upstreamKept: [] });
    const ju = await sideload(['update', '--json', ...args, d]);
    expect(JSON.parse(ju.stdout)).toMatchObject({ changed: false, upstream: { [CID]: null }, upstreamKept: [CID] });
  });
  it('on a drive with a second repo, a ref or source of the other repo is named with its --destination-repo', async () => {
    const d = await tempDir('sideload-upd-other-');
    // .ostree/repo: an OS commit of its own collection; flatpak/repo: the example app.
    const os = path.join(await tempDir('sideload-upd-os-'), 'repo');
    await runOk('ostree', ['init', `--repo=${os}`, '--mode=archive']);
    await runOk('ostree', ['config', `--repo=${os}`, 'set', 'core.collection-id', 'com.example.OS']);
    const tree = path.join(path.dirname(os), 'tree');
    await fs.mkdir(path.join(tree, 'usr/lib'), { recursive: true });
    await fs.writeFile(path.join(tree, 'usr/lib/os-release'), 'NAME=ExampleOS\n');
    await runOk('ostree', ['commit', `--repo=${os}`, '--branch=os/example/x86_64/stable', `--tree=dir=${tree}`]);
    const c1 = await sideload(['create', '-q', '--repo', os, '--no-fsync', d, 'os/example/x86_64/stable']);
    expect(c1.code, c1.stderr).toBe(0);
    const c2 = await sideload([
      'create',
      '-q',
      ...['--repo', v1Repo, '--gpg-import', ex.gpgKey, '--no-fsync', '--destination-repo', 'flatpak/repo'],
      d,
      'org.example.App',
    ]);
    expect(c2.code, c2.stderr).toBe(0);
    const before = await snapshotDir(d);
    // Before: "'org.example.App' is not on the drive": it is, in the repo the run did not read.
    const r = await sideload(['remove', '--json', '--no-fsync', d, 'org.example.App']);
    expect(r.code, r.stdout).toBe(3);
    const jr = JSON.parse(r.stdout) as JsonResult;
    expect(jr.error?.code).toBe('ENOTONDRIVE');
    expect(jr.error?.message).toBe(
      `'org.example.App' is not in the repo .ostree/repo of the drive '${d}'; its repo flatpak/repo holds it: ` +
        'pass --destination-repo flatpak/repo',
    );
    expect(jr.error?.data['repos']).toEqual(['flatpak/repo']);
    // Before: "update from the source the drive was made from", and it was.
    const u = await sideload(['update', '--json', '--repo', ex.repo, '--gpg-import', ex.gpgKey, '--no-fsync', d]);
    expect(u.code, u.stdout).toBe(3);
    const ju = JSON.parse(u.stdout) as JsonResult;
    expect(ju.error?.message).toMatch(
      /offers none of the 1 refs on .*: those are in the repo \.ostree\/repo; the drive's repo flatpak\/repo holds refs this source offers: pass --destination-repo flatpak\/repo$/,
    );
    expect(ju.error?.data['repos']).toEqual(['flatpak/repo']);
    // A ref in no repo of the drive says what it said.
    const m = await sideload(['remove', d, 'org.example.Missing']);
    expect(m.code).toBe(3);
    expect(m.stderr).toContain(`'org.example.Missing' is not on the drive '${d}'`);
    expect(await snapshotDir(d)).toEqual(before);
    // Followed, the hints work.
    const rr = await sideload([
      'remove',
      '-q',
      '--no-fsync',
      '--destination-repo',
      'flatpak/repo',
      d,
      'org.example.App',
    ]);
    expect(rr.code, rr.stderr).toBe(0);
  });
  it('on a drive with a second repo, the prune and --with-deps hints name --destination-repo', async () => {
    const d = await tempDir('sideload-upd-two-');
    const from = (repo: string) => ['--repo', repo, '--gpg-import', ex.gpgKey, '--no-fsync'];
    const OTHER = ['--destination-repo', 'flatpak/repo'];
    for (const extra of [[], OTHER]) {
      const c = await sideload(['create', '-q', ...from(v1Repo), ...extra, d, 'org.example.App']);
      expect(c.code, c.stderr).toBe(0);
    }
    // Before: "Run 'sideload prune DRIVE'", which pruned the default repo, not the one just updated.
    const u = await sideload(['update', ...from(ex.repo), ...OTHER, d]);
    expect(u.code, u.stderr).toBe(0);
    const hint = `Run 'sideload prune --destination-repo flatpak/repo ${d}' to free the space the replaced commits take.`;
    expect(u.stdout).toContain(hint);
    // Followed, the hint prunes the repo that was updated.
    const p = await sideload(['prune', '--json', ...OTHER, d]);
    expect(p.code, p.stderr).toBe(0);
    expect((JSON.parse(p.stdout) as { repo: string }).repo).toBe(path.join(await fs.realpath(d), 'flatpak/repo'));
    // The default repo's own update keeps the plain hint.
    const plain = await sideload(['update', ...from(ex.repo), d]);
    expect(plain.stdout).toContain(`Run 'sideload prune ${d}' to free the space the replaced commits take.`);
    const r = await sideload(['remove', '--no-fsync', ...OTHER, d, 'org.example.App']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\(remove them too with --with-deps --destination-repo flatpak\/repo\)\n/);
    expect(r.stdout).toContain(`Run 'sideload prune --destination-repo flatpak/repo ${d}' to free the space their`);
  });
  it('prune on a drive with a second repo names the repo it pruned, and how to prune the other', async () => {
    const d = await tempDir('sideload-prune-two-');
    const from = ['--repo', ex.repo, '--gpg-import', ex.gpgKey, '--no-fsync'];
    for (const extra of [[], ['--destination-repo', 'flatpak/repo']]) {
      const c = await sideload(['create', '-q', ...from, ...extra, d, 'org.example.App']);
      expect(c.code, c.stderr).toBe(0);
    }
    // Before: 'Deleted 0 objects and 0 stale markers, …' and not a word of flatpak/repo, left unpruned.
    const p = await sideload(['prune', '--no-fsync', d]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^Deleted \d+ objects and \d+ stale markers in \.ostree\/repo, /);
    expect(p.stdout).toContain(
      `The drive also holds the repo flatpak/repo, left as it was: prune it with ` +
        `'sideload prune --destination-repo flatpak/repo ${d}'`,
    );
    const j = await sideload(['prune', '--json', '--dry-run', d]);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({
      repo: path.join(await fs.realpath(d), '.ostree/repo'),
      repoRel: '.ostree/repo',
      otherRepos: ['flatpak/repo'],
    });
    // docs/json-schema.md's prune entry names every field of the document (before: none of them).
    const schema = await fs.readFile(path.join(projectRoot, 'docs/json-schema.md'), 'utf8');
    const entry = /^\* \*\*prune\*\*: ([^*]+)/m.exec(schema)?.[1] ?? '';
    const envelope = ['schemaVersion', 'command', 'ok'];
    const fields = Object.keys(JSON.parse(j.stdout) as object).filter((k) => !envelope.includes(k));
    expect(fields.length).toBeGreaterThan(0);
    expect(fields.filter((k) => !entry.includes(`\`${k}\``))).toEqual([]);
    // Followed, the hint prunes the other repo, and names the first in turn.
    const o = await sideload(['prune', '--no-fsync', '--destination-repo', 'flatpak/repo', d]);
    expect(o.code, o.stderr).toBe(0);
    expect(o.stdout).toMatch(/^Deleted \d+ objects and \d+ stale markers in flatpak\/repo, /);
    expect(o.stdout).toContain(`The drive also holds the repo .ostree/repo, left as it was`);
  });
});
