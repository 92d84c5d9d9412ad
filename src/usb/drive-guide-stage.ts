/**
 * The IO half of drive-guide.ts: gathers what the source knows about each collection on the drive (remote name,
 * URL, descriptive keys, GPG key), or for a collection this run has no source for, what an earlier run wrote in its
 * `.flatpakrepo`; stages the guide files and returns the publish ops that put them at the drive root in the same
 * journaled step as the summary (drive.md §7).
 */
import path from 'node:path';
import { lookup, type VarDict } from '../gvariant/index.js';
import { KEY } from '../ostree/formats.js';
import type { Staging } from '../repo/index.js';
import { FLATPAKREPO_LIMIT } from '../flatpak/flatpakrepo.js';
import { driveGuide, flatpakrepoName, parseFlatpakrepo, type GuideCollection } from './drive-guide.js';
import { readTextSafe } from './drive-fs.js';
import type { PublishOp } from './publish.js';
import type { Source } from './source.js';

export async function stageDriveGuide(
  staging: Staging,
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
): Promise<PublishOp[]> {
  const collections: GuideCollection[] = [];
  for (const [cid, refs] of final) {
    const source = sources.get(cid);
    // What an earlier run's .flatpakrepo says, if it is still there and ours to read (bounded, no symlink).
    const text = await readTextSafe(drive, flatpakrepoName(cid), FLATPAKREPO_LIMIT).catch(() => null);
    const earlier = text === null ? null : parseFlatpakrepo(text, cid);
    if (!source) {
      collections.push(
        earlier ? { ...earlier, refs: [...refs.keys()] } : { collectionId: cid, refs: [...refs.keys()], known: false },
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
      remoteName: remote?.name,
    };
    collections.push({
      collectionId: cid,
      refs: [...refs.keys()],
      ...(Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<GuideCollection>),
      ...(gpgKeys.length ? { gpgKeys } : {}),
    });
  }
  const repoPosix = repoRel.split(path.sep).join('/');
  const driveRoot = repoPosix
    .split('/')
    .map(() => '..')
    .join('/');
  const ops: PublishOp[] = [];
  for (const f of driveGuide({ repoRel: repoPosix, collections }))
    ops.push({ op: 'replace', from: await staging.stageFile(`drive-guide/${f.name}`, f.text), to: f.name, driveRoot });
  for (const cid of previous) if (!final.has(cid)) ops.push({ op: 'remove', path: flatpakrepoName(cid), driveRoot });
  return ops;
}
