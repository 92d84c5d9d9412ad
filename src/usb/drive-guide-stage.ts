/**
 * The IO half of drive-guide.ts: gathers what the source knows about each collection on the drive (remote name,
 * URL, descriptive keys, GPG key), or for a collection this run has no source for, what an earlier run wrote in its
 * `.flatpakrepo`; stages the guide files and returns the publish ops that put them at the drive root in the same
 * journaled step as the summary (drive.md §7); tells a run with nothing else new whether the guide is as it would
 * write it.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import fs from 'fs-extra';
import { lookup, type VarDict } from '../gvariant/index.js';
import { KEY } from '../ostree/formats.js';
import type { Staging } from '../repo/index.js';
import { FLATPAKREPO_LIMIT } from '../flatpak/flatpakrepo.js';
import {
  driveGuide,
  flatpakrepoName,
  GUIDE_README,
  parseFlatpakrepo,
  type GuideFile,
  readmeRemoteNames,
  type GuideCollection,
} from './drive-guide.js';
import { readTextSafe } from './drive-fs.js';
import { findDriveRepos } from './find-repos.js';
import { readMirrorRefs } from './verify-view.js';
import type { PublishOp } from './publish.js';
import type { Source } from './source.js';

/** A README of ours lists every ref of the drive: a generous bound for reading an earlier one back. */
const README_LIMIT = 16 << 20;

/** The guide files a run writes at the drive root, and the `.flatpakrepo` files it removes. */
export interface GuideWrites {
  readonly files: readonly GuideFile[];
  readonly removed: readonly string[];
  /** The drive root, relative to the repo (`/`-separated): where the publish ops point. */
  readonly driveRoot: string;
  /** The guide files as the drive held them when these were worked out (name → text, null: none or unreadable). */
  readonly held?: ReadonlyMap<string, string | null>;
}

/** Stages the guide files (driveGuideWrites) and returns the publish ops that put them at the drive root. */
export async function stageDriveGuide(staging: Staging, w: GuideWrites): Promise<PublishOp[]> {
  const ops: PublishOp[] = [];
  const { driveRoot } = w;
  for (const f of w.files)
    ops.push({ op: 'replace', from: await staging.stageFile(`drive-guide/${f.name}`, f.text), to: f.name, driveRoot });
  for (const name of w.removed) ops.push({ op: 'remove', path: name, driveRoot });
  return ops;
}

/**
 * The guide on the drive is what a run would write: every file byte for byte (they are small; as driveGuideWrites
 * read them a moment before, the others read now), every one it would remove gone. A run with nothing else new
 * writes nothing when it is, and the guide again when it is not (a truncated or deleted `.flatpakrepo` or README).
 */
export async function driveGuideCurrent(drive: string, w: GuideWrites): Promise<boolean> {
  for (const f of w.files) {
    const held = w.held?.has(f.name)
      ? w.held.get(f.name)
      : await readTextSafe(drive, f.name, Buffer.byteLength(f.text) + 1).catch(() => null);
    if (held !== f.text) return false;
  }
  for (const name of w.removed) if (await fs.lstat(path.join(drive, name)).catch(() => null)) return false;
  return true;
}

/** What the drive guide a run writes holds, from what the sources know and what the drive's guide says now. */
export async function driveGuideWrites(
  /** The drive's root directory, and the repo's path under it. */
  drive: string,
  repoRel: string,
  /** Every collection on the drive after this run → its refs (by full ref name). */
  final: ReadonlyMap<string, ReadonlyMap<string, unknown>>,
  /** Upstream descriptive metadata per collection, as this run found it. */
  upstreamMeta: ReadonlyMap<string, VarDict>,
  /** The source of each collection this run copied from (collections kept from earlier runs have none). */
  sources: ReadonlyMap<string, Source>,
  /** Collections on the drive before the run: the .flatpakrepo of one that is gone is removed. */
  previous: Iterable<string> = [],
  /** The URL a collection's signed upstream summary moves its remote to (xa.redirect-url), handed out instead. */
  redirects: ReadonlyMap<string, string> = new Map(),
): Promise<GuideWrites> {
  const collections: GuideCollection[] = [];
  // The remote names an earlier run's README gave (its .flatpakrepo does not carry one).
  const readme = await readTextSafe(drive, GUIDE_README, README_LIMIT).catch(() => null);
  const held = new Map([[GUIDE_README, readme]]);
  const names = readme === null ? new Map<string, string>() : readmeRemoteNames(readme);
  const repoPosix = repoRel.split(path.sep).join('/');
  // The drive's other sideload repos (a second --destination-repo): the README is one file at the root, so it
  // describes them too, with their collections as they are now.
  const others = await otherRepos(drive, repoRel);
  const repoRels = others.length ? [repoPosix, ...others.map((o) => o.rel)].sort() : [repoPosix];
  const reposOf = (cid: string) =>
    others.length
      ? repoRels.filter((r) => (r === repoPosix ? final.has(cid) : !!others.find((o) => o.rel === r)?.refs.has(cid)))
      : undefined;
  const allRefs = (cid: string) => [
    ...new Set([...(final.get(cid)?.keys() ?? []), ...others.flatMap((o) => [...(o.refs.get(cid)?.keys() ?? [])])]),
  ];
  const everyCollection = new Set([...final.keys(), ...others.flatMap((o) => [...o.refs.keys()])]);
  for (const cid of everyCollection) {
    const refs = allRefs(cid);
    const repos = reposOf(cid);
    const where = repos ? { repos } : {};
    const source = sources.get(cid);
    // What an earlier run's .flatpakrepo says, if it is still there and ours to read (bounded, no symlink).
    const text = await readTextSafe(drive, flatpakrepoName(cid), FLATPAKREPO_LIMIT).catch(() => null);
    held.set(flatpakrepoName(cid), text);
    const parsed = text === null ? null : parseFlatpakrepo(text, cid);
    const earlierName = names.get(cid);
    const earlier = parsed && earlierName ? { ...parsed, remoteName: earlierName } : parsed;
    if (!source) {
      collections.push(
        earlier
          ? { ...earlier, refs, ...where }
          : { collectionId: cid, refs, known: false, ...(earlierName ? { remoteName: earlierName } : {}), ...where },
      );
      continue;
    }
    const meta = upstreamMeta.get(cid) ?? [];
    const str = (k: string) => {
      const v = lookup(meta, k);
      return v?.type === 's' && v.value ? (v.value as string) : undefined;
    };
    const remote = await source.upstreamRemote?.(cid);
    const keys = await source.trustedKeys(cid);
    const xaKeys = lookup(meta, KEY.xaGpgKeys);
    const gpgKeys = keys.gpg.length ? keys.gpg : xaKeys?.type === 'ay' ? [xaKeys.value as Uint8Array] : [];
    // A source that knows less than the drive already says (a local repo has no URL) keeps what the drive says:
    // clients that followed the earlier guide have that remote.
    const fields = {
      title: str(KEY.xaTitle) ?? earlier?.title,
      comment: str(KEY.xaComment) ?? earlier?.comment,
      description: str(KEY.xaDescription) ?? earlier?.description,
      homepage: str(KEY.xaHomepage) ?? earlier?.homepage,
      icon: str(KEY.xaIcon) ?? earlier?.icon,
      defaultBranch: str(KEY.xaDefaultBranch) ?? earlier?.defaultBranch,
      url: redirects.get(cid) ?? remote?.url ?? earlier?.url,
      redirectedFrom: redirects.has(cid) ? (remote?.url ?? earlier?.url ?? '') : undefined,
      remoteName: remote?.name ?? earlier?.remoteName,
    };
    collections.push({
      collectionId: cid,
      refs,
      ...where,
      ...(Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<GuideCollection>),
      ...(gpgKeys.length ? { gpgKeys } : {}),
    });
  }
  const driveRoot = repoPosix
    .split('/')
    .map(() => '..')
    .join('/');
  return {
    files: driveGuide({ repoRel: repoPosix, repoRels, collections }),
    removed: [...previous].filter((cid) => !everyCollection.has(cid)).map(flatpakrepoName),
    driveRoot,
    held,
  };
}

/** The other sideload repos on the drive (as clients find them) and their refs by collection; unreadable ones none. */
async function otherRepos(
  drive: string,
  repoRel: string,
): Promise<Array<{ rel: string; refs: Map<string, Map<string, string>> }>> {
  const root = await realpath(drive).catch(() => path.resolve(drive));
  const here = await realpath(path.join(root, repoRel)).catch(() => path.resolve(root, repoRel));
  const found = await findDriveRepos(root).catch(() => []);
  const out: Array<{ rel: string; refs: Map<string, Map<string, string>> }> = [];
  for (const repo of found) {
    if (repo === here) continue;
    const refs = await readMirrorRefs(repo).catch(() => new Map<string, Map<string, string>>());
    out.push({ rel: path.relative(root, repo).split(path.sep).join('/') || '.', refs });
  }
  return out;
}
