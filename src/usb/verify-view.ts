/**
 * What verify's checks share (verify.ts builds it once per repo): the objects on disk, the refs, the summary and a
 * commit cache, so that no check reads a commit twice; and the two small helpers every check family uses.
 */
import path from 'node:path';
import { expectFailure, InterruptedError } from '../errors.js';
import { decodeCommit, type Commit } from '../ostree/commit.js';
import { listRefFiles, type ObjectSource, type Repo } from '../repo/index.js';
import { summaryCollections, type DecodedRef, type DecodedSummary } from '../summary/summary.js';

/** What the checks share, read once: the objects on disk, the refs, the summary and a commit cache. */
export interface RepoView {
  readonly repo: string;
  readonly store: Repo;
  readonly objects: ObjectSource;
  /** `checksum.type` of every object file present. */
  readonly present: ReadonlySet<string>;
  /** collection id → ref → checksum, from refs/mirrors. */
  readonly refs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly summaryBytes: Uint8Array | null;
  readonly summary: DecodedSummary | null;
  /** The summary's collection-map (empty without a summary). */
  readonly listed: ReadonlyMap<string, readonly DecodedRef[]>;
  loadCommit(checksum: string): Promise<LoadedCommit | null>;
  commitError(checksum: string): string | undefined;
}

export interface LoadedCommit {
  readonly commit: Commit;
  readonly size: number;
}

export function makeView(
  store: Repo,
  objects: ObjectSource,
  present: ReadonlySet<string>,
  refs: RepoView['refs'],
  summaryBytes: Uint8Array | null,
  summary: DecodedSummary | null,
): RepoView {
  const commits = new Map<string, LoadedCommit | null>();
  const commitErrors = new Map<string, string>();
  return {
    repo: store.path,
    store,
    objects,
    present,
    refs,
    summaryBytes,
    summary,
    listed: summary ? summaryCollections(summary) : new Map(),
    async loadCommit(c) {
      if (!commits.has(c)) {
        try {
          const bytes = await objects.readMetadata(c, 'commit');
          commits.set(c, { commit: decodeCommit(bytes, c), size: bytes.length });
        } catch (e) {
          commitErrors.set(c, expectFailure(e).message);
          commits.set(c, null);
        }
      }
      return commits.get(c) ?? null;
    },
    commitError: (c) => commitErrors.get(c),
  };
}

/** refs/mirrors as collection id → ref → checksum (a ref file that holds no checksum is left out). */
export async function readMirrorRefs(repo: string): Promise<Map<string, Map<string, string>>> {
  const refs = new Map<string, Map<string, string>>();
  for (const [name, checksum] of await listRefFiles(path.join(repo, 'refs', 'mirrors'), { lenient: true })) {
    const slash = name.indexOf('/');
    const cid = name.slice(0, slash);
    refs.set(cid, (refs.get(cid) ?? new Map<string, string>()).set(name.slice(slash + 1), checksum));
  }
  return refs;
}

/** The repo-relative path of an object on the (archive) drive, for a finding; the checksum is not validated. */
export const objectPath = (checksum: string, type: string) =>
  `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${type === 'file' ? 'filez' : type}`;

/** @throws InterruptedError (exit 130) once `signal` is aborted. */
export function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError('interrupted; verify stopped before it finished');
}
