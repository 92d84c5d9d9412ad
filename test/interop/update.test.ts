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
});
