/**
 * Damaged repos: one flipped byte in an archive `.filez` or a bare `.file`, a truncated `.dirtree`, a missing object.
 * ostree fsck must agree that the repo is damaged, and our readers (the ObjectSource API, the walk, the copy engine)
 * must fail with a CorruptError / NotFoundError whose message names the object's checksum and its file.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptError, NotFoundError, SideloadError } from '../../src/errors.js';
import { objectPath, type ObjectType } from '../../src/ostree/object.js';
import { copyCommit } from '../../src/repo/copy.js';
import { createArchiveRepo } from '../../src/repo/create-repo.js';
import { openObjectSource } from '../../src/repo/repo.js';
import type { ObjectSource } from '../../src/repo/source.js';
import { walkCommit } from '../../src/repo/traverse.js';
import { openStaging } from '../../src/repo/writer.js';
import {
  describeOstree,
  looseObjects,
  makeTree,
  ostree,
  ostreeCommit,
  ostreeFsck,
  ostreeInit,
  type OstreeMode,
} from '../helpers/repo-fixtures.js';
import { tempDir } from '../helpers/tmp.js';

/** checksum of the object at `p` in `ostree ls -R -C` (files: content; dirs: [dirtree, dirmeta]). */
async function lsChecksums(repo: string, p: string): Promise<string[]> {
  const out = await ostree(['ls', `--repo=${repo}`, '-d', '-C', 'app', p]);
  const f = out.trim().split(/\s+/);
  return f[0]?.startsWith('d') ? [f[4] as string, f[5] as string] : [f[4] as string];
}

function flipByte(buf: Buffer, at: number): Buffer {
  const b = Buffer.from(buf);
  b[at] = (b[at] as number) ^ 0x01;
  return b;
}

async function walkAll(src: ObjectSource, commit: string): Promise<number> {
  let n = 0;
  for await (const e of walkCommit(src, commit)) {
    n++;
    void e;
  }
  return n;
}

/** Reads a content object to its end (`data`, or every piped byte). */
async function drain(src: ObjectSource, checksum: string): Promise<void> {
  const o = await src.readContent(checksum);
  if (!o.data) await o.pipe({ write() {}, reset() {} });
}

/** Awaits `p`, expecting an error of `cls` whose message names `checksum` and `file`. */
async function expectNamed(
  p: Promise<unknown>,
  cls: typeof CorruptError | typeof NotFoundError,
  checksum: string,
  file: string,
): Promise<SideloadError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, `expected a ${cls.name}`).toBeInstanceOf(cls);
  const err = e as SideloadError;
  expect(err.message).toContain(checksum);
  expect(err.message).toContain(file);
  return err;
}

describeOstree('corrupt and missing objects', () => {
  let root = '';
  let tree = '';
  let n = 0;

  /** A fresh repo of `mode` holding the fixture tree (no 11 MiB file: the 1.5 MB library is the streamed one). */
  async function fresh(
    mode: OstreeMode,
  ): Promise<{ repo: string; commit: string; file: (c: string, t: ObjectType) => string }> {
    const repo = path.join(root, `${mode}-${++n}`);
    await ostreeInit(repo, mode);
    const commit = await ostreeCommit(repo, 'app', tree, ['--fsync=false']);
    return { repo, commit, file: (c, t) => path.join(repo, objectPath(c, t, mode)) };
  }

  beforeAll(async () => {
    root = await tempDir('sideload-corrupt-');
    tree = path.join(root, 'tree');
    await makeTree(tree, { largeSize: 0 });
  });

  describe('a flipped byte in a content object', () => {
    for (const mode of ['archive', 'bare', 'bare-user-only'] as const) {
      for (const [what, rel] of [
        ['small (read whole)', '/files/bin/tool'],
        ['large (streamed)', '/files/lib/libfoo.so.1.2'],
      ] as const) {
        it(`${mode}, ${what}: CorruptError naming the object and its file; ostree fsck agrees`, async () => {
          const { repo, commit, file } = await fresh(mode);
          const [csum] = (await lsChecksums(repo, rel)) as [string];
          const f = file(csum, 'file');
          const bytes = await fs.readFile(f);
          // archive: a byte inside the deflate stream; bare: a byte of the file itself
          await fs.writeFile(f, flipByte(bytes, Math.floor(bytes.length / 2)));
          await expect(ostreeFsck(repo)).rejects.toThrow(/fsck/);

          const src = await openObjectSource(repo);
          try {
            const err = await expectNamed(drain(src, csum), CorruptError, csum, f);
            expect(err.data).toMatchObject({ checksum: csum, type: 'file', path: f });
            await walkAll(src, commit); // the walk reads no content: it still succeeds
          } finally {
            await src.close();
          }
        });
      }
    }

    it('archive: a flipped mode bit in the .filez header is caught too', async () => {
      const { repo, file } = await fresh('archive');
      const [csum] = (await lsChecksums(repo, '/metadata')) as [string];
      const f = file(csum, 'file');
      const bytes = await fs.readFile(f);
      // header: u32 len, 4 pad, t size, u uid, u gid, u mode (BE) → mode's last byte is at 8+8+4+4+3
      await fs.writeFile(f, flipByte(bytes, 8 + 8 + 4 + 4 + 3));
      const src = await openObjectSource(repo);
      try {
        await expectNamed(drain(src, csum), CorruptError, csum, f);
      } finally {
        await src.close();
      }
    });

    it('the copy engine refuses the object (worker fast path included) and publishes nothing of the commit', async () => {
      const { repo, commit, file } = await fresh('bare-user-only');
      const [csum] = (await lsChecksums(repo, '/files/share/Grüße/naïve café.txt')) as [string];
      const f = file(csum, 'file');
      await fs.writeFile(f, flipByte(await fs.readFile(f), 2));
      const dest = path.join(root, `dest-${++n}`);
      const archive = await createArchiveRepo(dest);
      const staging = await openStaging(archive, { fsync: false });
      const src = await openObjectSource(repo);
      try {
        await expectNamed(copyCommit(src, staging, commit), CorruptError, csum, f);
      } finally {
        await staging.discard();
        await archive.close();
        await src.close();
      }
      expect(await looseObjects(dest)).toEqual([]);
    });
  });

  describe('a truncated .dirtree', () => {
    for (const mode of ['archive', 'bare-user-only'] as const) {
      it(`${mode}: readMetadata and the walk fail with a CorruptError naming it`, async () => {
        const { repo, commit, file } = await fresh(mode);
        const [tree] = (await lsChecksums(repo, '/files/share')) as [string];
        const f = file(tree, 'dirtree');
        const bytes = await fs.readFile(f);
        await fs.writeFile(f, bytes.subarray(0, bytes.length - 7));
        await expect(ostreeFsck(repo)).rejects.toThrow(/fsck/);
        const src = await openObjectSource(repo);
        try {
          const err = await expectNamed(src.readMetadata(tree, 'dirtree'), CorruptError, tree, f);
          expect(err.message).toContain(`${tree}.dirtree`);
          await expectNamed(walkAll(src, commit), CorruptError, tree, f);
        } finally {
          await src.close();
        }
      });
    }
  });

  describe('a missing object', () => {
    for (const mode of ['archive', 'bare', 'bare-user-only'] as const) {
      it(`${mode}: NotFoundError naming it, from readMetadata, readContent, the walk and the copy`, async () => {
        const { repo, commit, file } = await fresh(mode);
        const [tree, meta] = (await lsChecksums(repo, '/files/share/private-dir')) as [string, string];
        const [content] = (await lsChecksums(repo, '/files/bin/app')) as [string];
        await fs.rm(file(content, 'file'));
        const src = await openObjectSource(repo);
        try {
          await expectNamed(drain(src, content), NotFoundError, content, file(content, 'file'));
          expect(await src.hasObject(content, 'file')).toBe(false);
          expect(await src.hasObject(tree, 'dirtree')).toBe(true);

          const dest = path.join(root, `dest-${++n}`);
          const archive = await createArchiveRepo(dest);
          const staging = await openStaging(archive, { fsync: false });
          try {
            await expectNamed(copyCommit(src, staging, commit), NotFoundError, content, file(content, 'file'));
          } finally {
            await staging.discard();
            await archive.close();
          }
          expect(await looseObjects(dest)).toEqual([]);

          await fs.rm(file(tree, 'dirtree'));
          await expectNamed(src.readMetadata(tree, 'dirtree'), NotFoundError, tree, file(tree, 'dirtree'));
          await expectNamed(walkAll(src, commit), NotFoundError, tree, file(tree, 'dirtree'));
          // tolerateMissing: the walk skips what is missing instead
          const seen: string[] = [];
          for await (const e of walkCommit(src, commit, { tolerateMissing: true }))
            seen.push(`${e.checksum}.${e.type}`);
          expect(seen).not.toContain(`${tree}.dirtree`);
          expect(seen).not.toContain(`${content}.file`);
          expect(seen).toContain(`${meta}.dirmeta`);

          await fs.rm(file(commit, 'commit'));
          await expectNamed(walkAll(src, commit), NotFoundError, commit, file(commit, 'commit'));
        } finally {
          await src.close();
        }
      });
    }
  });
});
