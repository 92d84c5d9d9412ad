/**
 * How much a plan will write: the objects of every ref to add or update that the drive does not hold (or has not
 * staged) yet, and their
 * bytes. Walks the source commits' metadata (no content is read) and stats the drive's objects. Bytes are exact for
 * metadata and for content an archive source stores as `.filez`; content from a bare source (an installation) is
 * counted uncompressed (an upper bound) and content over HTTP is unknown until fetched (counted from the commits'
 * `xa.download-size`, also an upper bound). `minBytes` counts only what is exact: the floor the drive needs.
 *
 * Every object is a file of its own, and a file takes whole allocation units (statfs `bsize`: exFAT's cluster is
 * 128 KiB on 32-256 GB sticks), so `space` and `minSpace` round each object up to the drive's unit and add one unit
 * per objects/xx directory the copy stages: 91 objects of 320 KiB take 12 MiB of 128 KiB clusters.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { decodeCommit } from '../ostree/commit.js';
import { objectPath, type ObjectType } from '../ostree/object.js';
import { STAGING_DIR, walkCommit } from '../repo/index.js';
import { commitSize } from '../flatpak/metadata.js';
import type { PlanEntry } from './plan.js';
import type { Source } from './source.js';

export interface CopyEstimate {
  /** Objects the drive does not hold yet. */
  readonly objects: number;
  /** Best estimate of the bytes to write. */
  readonly bytes: number;
  /** Bytes known exactly (metadata, archive content): the drive needs at least this much. */
  readonly minBytes: number;
  /** `bytes` is exact (every object's size known). */
  readonly exact: boolean;
  /** The largest object whose size on the drive is known exactly (FAT32 stores files under 4 GiB only). */
  readonly largest: { readonly name: string; readonly bytes: number } | null;
  /** The largest payload of a bare source (uncompressed: its `.filez` size is unknown before deflating it). */
  readonly largestRaw: { readonly name: string; readonly bytes: number } | null;
  /** The drive's allocation unit the sizes below are counted in (1: bytes as they are). */
  readonly unit: number;
  /** `bytes` in whole units per object, plus a unit per staged objects/xx directory: the room the copy takes. */
  readonly space: number;
  /** `minBytes` likewise: the room the drive needs at least. */
  readonly minSpace: number;
}

/**
 * The room a file of `bytes` takes in units of `unit`: whole units. An empty file takes none (exFAT and FAT give it
 * a directory entry and no cluster, measured on exfat-fuse; ext4 no block): directory entries are the per-directory
 * unit estimateCopy adds.
 */
export function allocated(bytes: number, unit: number): number {
  return unit > 1 ? Math.ceil(bytes / unit) * unit : bytes;
}

async function sizeOf(file: string): Promise<number | null> {
  try {
    const st = await fs.lstat(file);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

/** Estimates the copy of `entries` (add/update entries of a plan) from `sources` into the drive repo `repo`. */
export async function estimateCopy(
  entries: readonly PlanEntry[],
  sources: readonly Source[],
  repo: string,
  signal?: AbortSignal,
  unit = 1,
): Promise<CopyEstimate> {
  const seen = new Set<string>();
  const prefixes = new Set<string>(); // the staging's objects/xx directories: a unit each, at least
  let objects = 0;
  let exactBytes = 0;
  let guessBytes = 0;
  let exactSpace = 0;
  let guessSpace = 0;
  /** Bare content: a unit per object, the least its `.filez` takes whatever deflate makes of it. */
  let floorSpace = 0;
  let exact = true;
  let largest: { name: string; bytes: number } | null = null;
  let largestRaw: { name: string; bytes: number } | null = null;
  const note = (name: string, bytes: number) => {
    exactBytes += bytes;
    exactSpace += allocated(bytes, unit);
    if (!largest || bytes > largest.bytes) largest = { name, bytes };
  };
  // Staged by an interrupted run: reused by this one (or, from another boot, deleted first, which frees as much).
  const onDrive = async (checksum: string, type: ObjectType) => {
    const rel = objectPath(checksum, type, 'archive');
    return (await sizeOf(path.join(repo, rel))) !== null || (await sizeOf(path.join(repo, STAGING_DIR, rel))) !== null;
  };
  for (const e of entries) {
    if (e.commit === null || e.source === undefined) continue;
    const source = sources[e.source];
    if (!source) continue;
    const objs = source.objectsFor?.(e.commit) ?? source.objects; // an appstream commit read from the remote
    const layout = objs.localLayout?.() ?? null;
    let contentUnknown = 0;
    for await (const w of walkCommit(objs, e.commit, {
      subpaths: e.subpaths,
      ref: e.ref,
      ...(signal ? { signal } : {}),
    })) {
      const id = `${w.checksum}.${w.type}`;
      if (seen.has(id)) continue;
      seen.add(id);
      if (await onDrive(w.checksum, w.type)) continue;
      objects++;
      prefixes.add(w.checksum.slice(0, 2));
      if (w.bytes) {
        note(`${w.checksum}.${w.type}`, w.bytes.length);
        continue;
      }
      if (w.type !== 'file') continue;
      const size = layout
        ? await sizeOf(
            path.join(layout.root, objectPath(w.checksum, 'file', layout.kind === 'archive' ? 'archive' : 'bare')),
          )
        : null;
      if (size !== null && layout?.kind === 'archive') note(`${w.checksum}.filez (${w.path} in ${e.ref})`, size);
      else if (size !== null) {
        guessBytes += size;
        guessSpace += allocated(size, unit);
        // Its deflated size is unknown, but a .filez holds at least its header: one unit at the least.
        floorSpace += unit > 1 ? unit : 0;
        exact = false;
        if (!largestRaw || size > largestRaw.bytes)
          largestRaw = { name: `${w.checksum}.file (${w.path} in ${e.ref})`, bytes: size };
      } else contentUnknown++;
    }
    if (contentUnknown > 0) {
      // Over HTTP: the commit's download size covers all of its content (an upper bound for what is missing).
      exact = false;
      const bytes = await objs.readMetadata(e.commit, 'commit');
      const download = Number(commitSize(decodeCommit(bytes, e.commit).metadata, 'download') ?? 0n);
      guessBytes += download;
      // Each of those files ends in a unit of its own, partly used: less than a unit more each.
      guessSpace += download + contentUnknown * (unit - 1);
    }
  }
  const dirs = prefixes.size * (unit > 1 ? unit : 0);
  return {
    objects,
    bytes: exactBytes + guessBytes,
    minBytes: exactBytes,
    exact,
    largest,
    largestRaw,
    unit,
    space: exactSpace + guessSpace + dirs,
    minSpace: exactSpace + floorSpace + dirs,
  };
}

/** The room on a drive: free bytes for an unprivileged writer (null: unknown) and its allocation unit. */
export interface DriveSpace {
  readonly free: number | null;
  /** statfs `bsize`: what each file's size is rounded up to (exfat-fuse and the kernel's exfat/vfat: the cluster). */
  readonly unit: number;
}

/** The room on the filesystem holding `dir`: free bytes null (and unit 1) when statfs is unavailable or says nothing. */
export async function driveSpace(dir: string): Promise<DriveSpace> {
  try {
    const s = await fs.promises.statfs(dir);
    // fusefat (FAT through FUSE) reports 0 blocks in all, free or not (and a bsize of 1 KiB whatever the cluster):
    // that says nothing, so "unknown".
    if (Number(s.blocks) === 0) return { free: null, unit: 1 };
    const unit = Number(s.bsize);
    return { free: Number(s.bavail) * unit, unit: unit > 0 ? unit : 1 };
  } catch {
    return { free: null, unit: 1 };
  }
}
