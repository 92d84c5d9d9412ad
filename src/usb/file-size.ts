/**
 * The FAT file-size preflight: on a drive whose filesystem caps file sizes (FAT12/16/32: 4 GiB - 1 byte), refuse a
 * content object that cannot fit before anything is written. This matters beyond a clean message: through fusefat
 * (FAT on machines without the vfat driver) a write past 4 GiB does not fail, the size silently wraps around, so
 * the drive would hold a corrupt object.
 *
 * What a `.filez` on the drive weighs is known exactly only for an archive source (copied verbatim). A bare source
 * (an installation) holds the uncompressed payload; what deflate makes of it is unknown before compressing, so a
 * payload that would not fit stored as it is (plus header and deflate's block overhead) is refused (already
 * compressed data, the usual case for such files, stays that size). Remote sources are not checked here (sizes are
 * unknown before the download): Staging's `maxFileSize` stops such an object as it streams.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { UnsupportedError } from '../errors.js';
import { walkCommit, type ObjectSource } from '../repo/index.js';

export interface SizeCheckRef {
  readonly ref: string;
  readonly commit: string;
  readonly subpaths: readonly string[] | null;
}

/** Stats this many objects at once. */
const BATCH = 64;

/**
 * @throws UnsupportedError (EFBIG) naming the ref, the file's path in the commit, the object and the sizes, for the
 * first content object of `refs` that cannot be written to a filesystem holding files of at most `maxFileSize`.
 * `skip(commit)` tells which commits the drive already holds in full (not walked).
 */
export async function checkFileSizes(
  src: ObjectSource,
  refs: readonly SizeCheckRef[],
  maxFileSize: number,
  where: { readonly drive: string; readonly fsType: string },
  opts: { readonly skip?: (commit: string) => Promise<boolean>; readonly signal?: AbortSignal } = {},
): Promise<void> {
  const layout = src.localLayout?.() ?? null;
  if (!layout) return;
  const seen = new Set<string>();
  for (const r of refs) {
    if (await opts.skip?.(r.commit)) continue;
    let batch: Array<{ checksum: string; path: string }> = [];
    const flush = async () => {
      // A bare payload is deflated behind a header: allow for both (stored blocks cost 5 bytes per 16 KiB at worst).
      const bound = (n: number) => (layout.kind === 'archive' ? n : n + Math.ceil(n / 16384) * 5 + 65536);
      const sizes = await Promise.all(
        batch.map(async (e) => {
          const n = await objectSize(layout.root, layout.kind, e.checksum);
          return n === null ? null : { n, bound: bound(n) };
        }),
      );
      sizes.forEach((sz, i) => {
        const e = batch[i] as { checksum: string; path: string };
        if (sz !== null && sz.bound > maxFileSize) {
          const size = sz.n;
          const what = layout.kind === 'archive' ? `its archive object is ${size} bytes` : `it is ${size} bytes uncompressed (and may not compress)`;
          throw new UnsupportedError(
            `'${e.path}' in ${r.ref} (object ${e.checksum}.file) cannot go on the drive '${where.drive}': ${what}, and files on this ${where.fsType} filesystem must stay under 4 GiB (at most ${maxFileSize} bytes). Use exFAT, ext4 or NTFS for this drive.`,
            { ref: r.ref, path: e.path, object: `${e.checksum}.file`, size, limit: maxFileSize, drive: where.drive },
            'EFBIG',
          );
        }
      });
      batch = [];
    };
    const walkOpts = { subpaths: r.subpaths, contentLast: false, commitMeta: false, ...(opts.signal ? { signal: opts.signal } : {}) };
    for await (const e of walkCommit(src, r.commit, walkOpts)) {
      if (e.type !== 'file' || seen.has(e.checksum)) continue;
      seen.add(e.checksum);
      batch.push({ checksum: e.checksum, path: e.path });
      if (batch.length >= BATCH) await flush();
    }
    await flush();
  }
}

/** The size of a content object's file in a local repo, or null when it is missing (the copy reports that). */
async function objectSize(root: string, kind: 'archive' | 'bare-user-only' | 'bare', checksum: string): Promise<number | null> {
  const file = path.join(root, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${kind === 'archive' ? 'filez' : 'file'}`);
  try {
    return (await fs.lstat(file)).size;
  } catch {
    return null;
  }
}
