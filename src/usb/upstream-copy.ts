/**
 * The verbatim upstream copy (drive.md §5): fetch each collection's upstream summary set from its source, check its
 * signatures against the source's keys (before anything is copied), and compare it with the copy already on the
 * drive so that a run with nothing new writes nothing.
 */
import path from 'node:path';
import fs from 'fs-extra';
import type { Warn } from '../warnings.js';
import type { VarDict } from '../gvariant/index.js';
import type { Source, UpstreamFiles } from './source.js';
import { checkUpstream, gunzipSubsummary, type UpstreamPolicy } from './upstream.js';
import { encodeUpstreamRecord, UPSTREAM_RECORD } from './upstream-record.js';

export const UPSTREAM_DIR = 'extensions/sideload/upstream';

/** Largest decompressed subsummary we check (a gzip bomb stops here). */
export const MAX_SUBSUMMARY_BYTES = 256 * 1024 * 1024;

export interface PreparedUpstream {
  readonly collectionId: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** The `sideload.json` record written beside the files. */
  readonly record: string;
  readonly signedBy: readonly string[];
  readonly root: string;
}

export interface UpstreamSet {
  /** collection → the checked copy to carry, or null when none can be had. */
  readonly copies: ReadonlyMap<string, PreparedUpstream | null>;
  /** collection → descriptive keys (xa.title …) for its ostree-metadata commit. */
  readonly meta: ReadonlyMap<string, VarDict>;
}

/** Fetches and checks the upstream summaries of `collections` (collection → the source that offers it). */
export async function prepareUpstreams(
  collections: ReadonlyMap<string, Source>,
  policy: UpstreamPolicy,
  warn: Warn,
  checkAbort: () => void,
): Promise<UpstreamSet> {
  const copies = new Map<string, PreparedUpstream | null>();
  const meta = new Map<string, VarDict>();
  for (const [cid, source] of collections) {
    checkAbort();
    const m = await source.upstreamMetadata(cid);
    if (m) meta.set(cid, m);
    if (policy === 'skip') continue;
    const up: UpstreamFiles | null = await source.upstreamSummary(cid);
    if (!up) {
      copies.set(cid, null);
      warn(
        'no-upstream-summary',
        `no upstream summary for '${cid}' is available from ${source.description}; the drive will not carry one`,
        { collectionId: cid },
      );
      continue;
    }
    const check = await checkUpstream(cid, up, await source.trustedKeys(cid), policy, (b, what) =>
      gunzipSubsummary(b, what, MAX_SUBSUMMARY_BYTES),
    );
    if (!meta.has(cid)) meta.set(cid, check.metadata);
    const record = encodeUpstreamRecord({
      origin: up.origin,
      signedBy: check.signedBy,
      keys: check.keys,
      root: check.root,
      files: [...up.files.keys()].sort(),
    });
    copies.set(cid, { collectionId: cid, files: up.files, record, signedBy: check.signedBy, root: check.root });
  }
  return { copies, meta };
}

/** True when the drive already carries exactly this copy (same files, same bytes, same record). */
export async function upstreamOnDrive(repo: string, up: PreparedUpstream): Promise<boolean> {
  const dir = path.join(repo, UPSTREAM_DIR, up.collectionId);
  const want = new Map<string, Uint8Array>(up.files);
  want.set(UPSTREAM_RECORD, Buffer.from(up.record));
  const have: string[] = [];
  const walk = async (d: string, rel: string): Promise<boolean> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!(await walk(path.join(d, e.name), r))) return false;
      } else if (e.isFile()) have.push(r);
      else return false;
    }
    return true;
  };
  if (!(await walk(dir, ''))) return false;
  if (have.length !== want.size) return false;
  for (const name of have) {
    const bytes = want.get(name);
    if (!bytes) return false;
    const onDisk = await fs.readFile(path.join(dir, name)).catch(() => null);
    if (!onDisk || !Buffer.from(bytes).equals(onDisk)) return false;
  }
  return true;
}
