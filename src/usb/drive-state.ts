/**
 * What a drive holds, read once and read-only: refs per collection, the commits they point at (timestamp, version,
 * partial marker), the ostree-metadata commit of each collection and the subpaths it recorded for partial refs,
 * the carried upstream copies and a pending publish. The planner (plan.ts) and `create`, `update`, `remove`, `prune`
 * and `list` read a drive through this module only. Writes nothing, not even a lock.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import fs from 'fs-extra';
import { commitBindings, commitVersion, type Commit, type CommitBindings } from '../ostree/commit.js';
import { KEY, METADATA_REF } from '../ostree/formats.js';
import { decodeDetached, Ed25519Verifier, readSignatures } from '../sign/index.js';
import { MAX_KEY_FILE_BYTES } from '../sign/key-files.js';
import { Repo, REPO_DIRS } from '../repo/index.js';
import { findDriveRepos } from './find-repos.js';
import { recordedRefCommits, recordedSubpaths } from '../summary/metadata-commit.js';
import { sortedSubpaths } from '../flatpak/plan-builder.js';
import { hasPendingPublish } from './publish.js';
import { compareBytewise } from '../ostree/dirtree.js';
import { CorruptError, expectFailure, restate } from '../errors.js';
import { decodeSummary, summaryCollections } from '../summary/summary.js';
import { readLocalFile } from '../transport/local.js';
import { MAX_SUMMARY_BYTES } from './upstream.js';

/** The facts of one commit on the drive that planning needs. */
export interface CommitFacts {
  readonly timestamp: bigint;
  readonly version?: string;
  /** `state/<commit>.commitpartial` exists: only some subpaths of the commit are on the drive. */
  readonly partial: boolean;
  readonly bindings: CommitBindings;
  /** The commit's parent (ostree keeps it; the drive does not hold the parent itself). */
  readonly parent?: string;
}

/** One ref on the drive. */
export interface DriveStateRef {
  readonly collectionId: string;
  readonly ref: string;
  readonly commit: string;
  /** The pull subpaths the drive's ostree-metadata commit records for this ref, or null (the whole commit). */
  readonly subpaths: readonly string[] | null;
}

/** A pure snapshot of a drive repo: everything plan.ts takes as input. */
export interface DriveState {
  /** Absolute repo path. */
  readonly repo: string;
  /** An ostree repo exists there (a `config` file). */
  readonly exists: boolean;
  /** A summary has been published. */
  readonly published: boolean;
  /** A publish journal is waiting to be replayed (an earlier run died while publishing). */
  readonly pendingPublish: boolean;
  /** Every ref under refs/mirrors except `ostree-metadata`, sorted by collection then ref (bytewise). */
  readonly refs: readonly DriveStateRef[];
  /** collection ID → its ostree-metadata commit. */
  readonly metadataCommits: ReadonlyMap<string, string>;
  /** The collections whose ostree-metadata commit (named by their ref) is missing or does not read. */
  readonly lostMetadataCommits: ReadonlySet<string>;
  /** commit checksum → facts, for every commit a ref points at (missing commits are absent). */
  readonly commits: ReadonlyMap<string, CommitFacts>;
  /**
   * A `summary.sig` file is present, whatever it holds (an empty or damaged one too): what the run's signing
   * decisions start from (apply.ts). What it holds: summarySignatureOf.
   */
  readonly summarySigPresent: boolean;
}

/**
 * Whether `now` differs from `before` in what a plan is made of: the refs with their commits and subpaths, the
 * ostree-metadata commits, a summary, its signature, a pending publish. (Not `exists`: a run makes the repo itself
 * before it takes the drive's lock.)
 */
export function driveChanged(before: DriveState, now: DriveState): boolean {
  const refKey = (r: DriveStateRef) => `${r.collectionId}\0${r.ref}\0${r.commit}\0${r.subpaths?.join('\0') ?? '*'}`;
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  return (
    before.published !== now.published ||
    before.pendingPublish !== now.pendingPublish ||
    before.summarySigPresent !== now.summarySigPresent ||
    !same(before.refs.map(refKey), now.refs.map(refKey)) ||
    !same(
      [...before.metadataCommits].map((e) => e.join('\0')).sort(),
      [...now.metadataCommits].map((e) => e.join('\0')).sort(),
    )
  );
}

/** An empty state for a drive that has no repo yet. */
export function emptyDriveState(repo: string): DriveState {
  return {
    repo,
    exists: false,
    published: false,
    pendingPublish: false,
    refs: [],
    metadataCommits: new Map(),
    lostMetadataCommits: new Set(),
    commits: new Map(),
    summarySigPresent: false,
  };
}

/** Reads the state of the drive repo at `repoPath` (absolute). A missing repo is an empty state, not an error. */
export async function readDriveState(repoPath: string): Promise<DriveState> {
  if (!(await fs.pathExists(path.join(repoPath, 'config')))) return emptyDriveState(repoPath);
  const repo = await Repo.open(repoPath);
  try {
    // A ref file that holds no checksum (damage): a create mends the ref once the file is gone; the error says so.
    const mirrors = await repo.listMirrorRefs().catch((e: unknown) => {
      if (!(e instanceof CorruptError) || typeof e.data['path'] !== 'string') throw e;
      throw restate(e, `${e.message}: remove that file, and 'sideload create' with that ref writes it anew`, e.data);
    });
    const commits = new Map<string, CommitFacts>();
    const metadataCommits = new Map<string, string>();
    const lostMetadataCommits = new Set<string>();
    const decoded = new Map<string, Commit>();
    const facts = async (checksum: string): Promise<Commit | null> => {
      if (decoded.has(checksum)) return decoded.get(checksum) as Commit;
      const c = await repo.readCommit(checksum).catch(() => null);
      if (!c) return null;
      decoded.set(checksum, c.commit);
      const version = commitVersion(c.commit);
      commits.set(checksum, {
        timestamp: c.commit.timestamp,
        ...(version !== undefined ? { version } : {}),
        partial: await repo.isCommitPartial(checksum),
        bindings: commitBindings(c.commit),
        ...(c.commit.parent ? { parent: c.commit.parent } : {}),
      });
      return c.commit;
    };
    const refs: DriveStateRef[] = [];
    for (const cid of [...mirrors.keys()].sort(compareBytewise)) {
      const byRef = mirrors.get(cid) as Map<string, string>;
      // The subpaths of partial refs, as this collection's ostree-metadata commit recorded them; they describe the
      // commit the ref pointed at then, so they only count while the ref still points at the same commit.
      const recorded = new Map<string, readonly string[]>();
      let recordedCommits = new Map<string, string>();
      const meta = byRef.get(METADATA_REF);
      if (meta) {
        metadataCommits.set(cid, meta);
        const mc = await repo.readCommit(meta).catch(() => null);
        if (!mc) lostMetadataCommits.add(cid);
        for (const [ref, paths] of mc ? recordedSubpaths(mc.commit.metadata) : []) recorded.set(ref, paths);
        if (mc) recordedCommits = recordedRefCommits(mc.commit.metadata);
      }
      for (const ref of [...byRef.keys()].sort(compareBytewise)) {
        if (ref === METADATA_REF) continue;
        const commit = byRef.get(ref) as string;
        await facts(commit);
        // Partial: its commitpartial marker says so, or (the marker lost: `ostree fsck` then fails on the objects it
        // lacks) the ostree-metadata commit records subpaths for the ref at this very commit; the plan writes the
        // marker again (plan.ts).
        const partial =
          (commits.get(commit)?.partial ?? false) || (recorded.has(ref) && recordedCommits.get(ref) === commit);
        // In the one order (a drive written before sideload sorted them holds them as they were copied).
        refs.push({
          collectionId: cid,
          ref,
          commit,
          subpaths: partial ? sortedSubpaths(recorded.get(ref) ?? null) : null,
        });
      }
    }
    return {
      repo: repoPath,
      exists: true,
      published: await fs.pathExists(path.join(repoPath, 'summary')),
      pendingPublish: await hasPendingPublish(repoPath),
      refs,
      metadataCommits,
      lostMetadataCommits,
      commits,
      summarySigPresent: await fs.pathExists(path.join(repoPath, 'summary.sig')),
    };
  } finally {
    await repo.close();
  }
}

/**
 * The app refs on the drive repo at `repoPath`, by name alone (no commit is read; none without a repo): what picks
 * the installation an `update` reads before the run reads the drive in full.
 */
export async function driveAppRefs(repoPath: string): Promise<string[]> {
  if (!(await fs.pathExists(path.join(repoPath, 'config')))) return [];
  const repo = await Repo.open(repoPath);
  try {
    const names = [...(await repo.listMirrorRefs()).values()].flatMap((byRef) => [...byRef.keys()]);
    return [...new Set(names.filter((r) => r.startsWith('app/')))];
  } finally {
    await repo.close();
  }
}

/**
 * Whether the drive repo still has what a run with nothing new leaves as it is: every directory of a new repo
 * (format.md §1.2; ostree fsck and a read-only open need them) and each collection's ostree-metadata commit, whole
 * and readable. A repo that lost one is not idle: the same command's publish writes both again.
 */
export async function repoIntact(state: DriveState): Promise<boolean> {
  for (const d of REPO_DIRS)
    if (!(await fs.lstat(path.join(state.repo, d)).catch(() => null))?.isDirectory()) return false;
  return state.lostMetadataCommits.size === 0;
}

/**
 * The drive's repos other than `repoPath`, relative to the drive, in the order clients look (a second
 * `--destination-repo`): what a command that works on one repo names as left alone.
 */
export async function otherDriveRepos(drive: string, repoPath: string): Promise<string[]> {
  const root = await realpath(drive);
  const self = await realpath(repoPath).catch(() => repoPath);
  const repos = await findDriveRepos(drive).catch(() => [] as string[]);
  return repos.filter((r) => r !== self).map((r) => path.relative(root, r));
}

/**
 * The drive's other repos (relative to the drive, in the order clients look) with a ref `holds` accepts, by name
 * alone: where an error about a ref the run's repo lacks points, on a drive of several repos (`--destination-repo`).
 * A repo that cannot be read is passed over.
 */
export async function otherReposHolding(
  drive: string,
  repoPath: string,
  holds: (collectionId: string, ref: string) => boolean,
): Promise<string[]> {
  const root = await realpath(drive);
  const out: string[] = [];
  for (const rel of await otherDriveRepos(drive, repoPath)) {
    const repo = await Repo.open(path.join(root, rel)).catch(() => null);
    const refs = (await repo?.listMirrorRefs().catch(() => null)) ?? new Map<string, Map<string, string>>();
    await repo?.close();
    if ([...refs].some(([cid, byRef]) => [...byRef.keys()].some((ref) => holds(cid, ref)))) out.push(rel);
  }
  return out;
}

/**
 * The bytes of a drive repo's `summary`, or null when it has none; bounded, a regular file only, no symlink followed
 * (@throws naming the file otherwise). Every reader of a drive's summary goes through here (list, verify, create).
 */
export function readSummaryBytes(repoPath: string): Promise<Uint8Array | null> {
  return readLocalFile(path.join(repoPath, 'summary'), MAX_SUMMARY_BYTES);
}

/** The bytes of a drive repo's `summary.sig`, or null; bounded as key files are, no symlink followed. */
export function readSummarySigBytes(repoPath: string): Promise<Uint8Array | null> {
  return readLocalFile(path.join(repoPath, 'summary.sig'), MAX_KEY_FILE_BYTES);
}

/**
 * Why `summary.sig`'s (or a `.commitmeta`'s) bytes are not the detached metadata ostree writes (an `a{sv}`,
 * format.md §7), or null when they decode: damage, not another key.
 */
export function summarySigProblem(bytes: Uint8Array): string | null {
  try {
    decodeDetached(bytes);
    return null;
  } catch (e) {
    return expectFailure(e).message;
  }
}

/**
 * Whether `summary.sig`'s (or a `.commitmeta`'s) bytes (decoded, see summarySigProblem) hold a signature at all: an
 * ed25519 or a GPG one. Detached metadata with neither (an empty dict, only other keys) signs nothing: a client verifying the summary
 * refuses it ("No signatures found"), one that does not verify takes the drive as unsigned.
 */
export function summarySigSigns(bytes: Uint8Array): boolean {
  return readSignatures(bytes, KEY.ed25519Sigs).length > 0 || readSignatures(bytes, KEY.gpgSigs).length > 0;
}

/**
 * What detached metadata holds (a drive repo's summary.sig, a commit's .commitmeta), read bounded (no key, nothing
 * checked): 'present' (a signature, ed25519 or GPG), 'absent' (no file), 'empty' (it decodes but holds no
 * signature: unsigned in effect) or 'damaged' (it does not decode, or is no file that can be read: a symlink, a
 * special file, one too large).
 */
export type SignatureKind = 'present' | 'absent' | 'empty' | 'damaged';

/** The SignatureKind of detached metadata's bytes (null: no file), decoded as verify decodes them. */
export function signatureKindOf(bytes: Uint8Array | null): SignatureKind {
  if (!bytes) return 'absent';
  if (summarySigProblem(bytes) !== null) return 'damaged';
  return summarySigSigns(bytes) ? 'present' : 'empty';
}

/**
 * The SignatureKind of what `read` answers (a bounded reader of summary.sig or a .commitmeta: null when there is
 * none); a file it refuses (too large, not a regular file) is 'damaged'.
 */
export async function signatureKindRead(read: () => Promise<Uint8Array | null>): Promise<SignatureKind> {
  try {
    return signatureKindOf(await read());
  } catch (e) {
    expectFailure(e);
    return 'damaged';
  }
}

/** What a drive repo's summary.sig holds (see SignatureKind). */
export function summarySignatureOf(repoPath: string): Promise<SignatureKind> {
  return signatureKindRead(() => readSummarySigBytes(repoPath));
}

/**
 * Whether the drive's summary.sig holds a valid signature of its summary by `publicKey`: 'valid', 'damaged' (it
 * does not decode), 'empty' (it decodes but holds no signature), or 'other' (unsigned, another key, no summary).
 * A run given --sign-key re-signs a drive signed with another key, a damaged or an empty signature, and says which.
 */
export async function summarySignedWith(
  repoPath: string,
  publicKey: Uint8Array,
): Promise<'valid' | 'damaged' | 'empty' | 'other'> {
  const [summary, sig] = await Promise.all([
    readSummaryBytes(repoPath).catch(() => null),
    // One that cannot be read (a symlink, not followed; a special file; one too large) is damaged, not absent.
    readSummarySigBytes(repoPath).catch(() => 'unreadable' as const),
  ]);
  const kind = sig === 'unreadable' ? 'damaged' : signatureKindOf(sig);
  if (kind === 'damaged' || kind === 'empty') return kind;
  if (!summary || !sig || sig === 'unreadable') return 'other';
  const r = await new Ed25519Verifier([publicKey]).verify(summary, readSignatures(sig, KEY.ed25519Sigs));
  return r.valid ? 'valid' : 'other';
}

/**
 * The drive's summary reads back (bounded, no symlink followed) and lists exactly `refs` (collection → ref →
 * commit, ostree-metadata included) in its collection map: else it was replaced or damaged since it was written,
 * and a run with nothing else to do writes it again rather than leave clients a summary they choke on.
 */
export async function summaryAgrees(
  repoPath: string,
  refs: ReadonlyMap<string, ReadonlyMap<string, string>>,
): Promise<boolean> {
  let summary;
  try {
    const bytes = await readSummaryBytes(repoPath);
    if (!bytes) return false;
    summary = decodeSummary(bytes, 'summary');
  } catch (e) {
    expectFailure(e); // a symlink, a special file, too large, not a summary: damage, not a bug
    return false;
  }
  if (summary.refs.length) return false;
  const listed = summaryCollections(summary);
  let n = 0;
  for (const [cid, entries] of listed)
    for (const e of entries) {
      n++;
      if (refs.get(cid)?.get(e.ref) !== e.checksum) return false;
    }
  return n === [...refs.values()].reduce((sum, m) => sum + m.size, 0);
}
