/**
 * The planner (drive.md §8): a pure function from (what the drive holds, the refs a run wants, the refs it takes
 * off) to a `DrivePlan`: per ref add / update / unchanged / remove / kept, downgrades refused unless allowed, the
 * final ref set of every collection with the subpaths of partial refs, and the commitpartial markers to change.
 * No IO: `drive-state.ts` reads the drive, the resolver reads the sources, `create.ts` applies the plan.
 */
import { FailureError, NotFoundError, UsageError } from '../errors.js';
import type { PlannedRef, PlanReason } from '../flatpak/resolve-types.js';
import type { DriveState } from './drive-state.js';
import { compareBytewise } from '../ostree/dirtree.js';
import { mergeLanguages, sortedSubpaths, subpathLanguages } from '../flatpak/plan-builder.js';

/** A ref a run wants on the drive: a resolved ref (flatpak/resolve.ts) with the facts planning needs. */
export interface WantedRef extends PlannedRef {
  /** The commit's timestamp (seconds), to refuse downgrades. */
  readonly timestamp: bigint;
  readonly version?: string;
  /** Which of the run's sources offers it (index into the run's source list). */
  readonly source: number;
}

/** What happens to one ref. `kept`: on the drive and not touched by this run. */
export type RefAction = 'add' | 'update' | 'unchanged' | 'remove' | 'kept';

export interface PlanEntry {
  readonly collectionId: string;
  readonly ref: string;
  readonly action: RefAction;
  /** The commit the ref points at after the run (null when removed). */
  readonly commit: string | null;
  /** The commit on the drive before the run (null when added). */
  readonly previous: string | null;
  /** Subpaths of a partial ref after the run; null = whole commit. */
  readonly subpaths: readonly string[] | null;
  readonly reason?: PlanReason;
  readonly requestedBy?: string;
  readonly languages?: readonly string[] | 'all';
  readonly timestamp?: bigint;
  readonly version?: string;
  /** An update to an older commit, allowed by `allowDowngrade`. */
  readonly downgrade?: boolean;
  /** The source index for add/update/unchanged entries. */
  readonly source?: number;
}

export interface FinalRef {
  readonly commit: string;
  readonly subpaths: readonly string[] | null;
}

export interface DrivePlan {
  /** One entry per ref, sorted by collection then ref (bytewise). */
  readonly entries: readonly PlanEntry[];
  /** The drive's refs after the run: collection → ref → commit and subpaths (sorted maps). */
  readonly final: ReadonlyMap<string, ReadonlyMap<string, FinalRef>>;
  /** `state/<commit>.commitpartial` markers to create (present) or remove. */
  readonly partialMarkers: ReadonlyArray<{ readonly commit: string; readonly present: boolean }>;
  /** Any ref added, updated or removed (a lost marker to write again is in `partialMarkers` alone). */
  readonly refsChanged: boolean;
}

export interface PlanInput {
  readonly state: Pick<DriveState, 'refs' | 'commits'>;
  readonly wanted: readonly WantedRef[];
  /** Refs to take off the drive. */
  readonly remove?: ReadonlyArray<{ readonly collectionId: string; readonly ref: string }>;
  /** Allow replacing a ref by an older commit. Default false. */
  readonly allowDowngrade?: boolean;
}

const key = (cid: string, ref: string) => `${cid}\0${ref}`;

function isoTime(ts: bigint): string {
  return new Date(Number(ts) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Union of two subpath sets on the same commit (both partial: both sets of objects are on the drive). */
function mergeSubpaths(a: readonly string[] | null, b: readonly string[] | null): readonly string[] | null {
  if (a === null || b === null) return null;
  return sortedSubpaths([...a, ...b]);
}

function sameSubpaths(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  const sb = [...b].sort(compareBytewise);
  return [...a].sort(compareBytewise).every((s, i) => s === sb[i]);
}

/**
 * Plans a run. @throws FailureError EDOWNGRADE when a wanted commit is older than the drive's and downgrades are
 * not allowed; UsageError when one ref is wanted at two different commits, or removed and wanted at once.
 */
export function planDrive(input: PlanInput): DrivePlan {
  const onDrive = new Map(input.state.refs.map((r) => [key(r.collectionId, r.ref), r]));
  const removeKeys = new Set((input.remove ?? []).map((r) => key(r.collectionId, r.ref)));
  const wanted = new Map<string, WantedRef>();
  for (const w of input.wanted) {
    const k = key(w.collectionId, w.ref);
    const prev = wanted.get(k);
    if (prev && prev.commit !== w.commit)
      throw new UsageError(`'${w.ref}' (${w.collectionId}) is wanted at two commits, ${prev.commit} and ${w.commit}`, {
        ref: w.ref,
        commits: [prev.commit, w.commit],
      });
    if (removeKeys.has(k))
      throw new UsageError(`'${w.ref}' (${w.collectionId}) is both removed and wanted`, { ref: w.ref });
    if (!prev) wanted.set(k, w);
    else if (!sameSubpaths(prev.subpaths, w.subpaths)) {
      // The same commit from two sources (a manifest's): the whole commit comes from the source that planned it
      // whole (an installation may hold only some languages of it); two subsets merge, as their languages do.
      const subpaths = mergeSubpaths(prev.subpaths, w.subpaths);
      const { languages: _l, ...base } = subpaths === null && prev.subpaths !== null ? w : prev;
      const languages = mergeLanguages(prev.languages, w.languages, subpaths === null);
      wanted.set(k, {
        ...base,
        ...(prev.reason === 'requested' ? { reason: prev.reason } : {}),
        subpaths,
        ...(languages !== undefined ? { languages } : {}),
      });
    }
  }
  for (const k of removeKeys)
    if (!onDrive.has(k)) {
      const [cid, ref] = k.split('\0') as [string, string];
      throw new NotFoundError(`'${ref}' (${cid}) is not on the drive`, { collectionId: cid, ref }, 'ENOTONDRIVE');
    }

  const entries: PlanEntry[] = [];
  for (const w of wanted.values()) {
    const old = onDrive.get(key(w.collectionId, w.ref));
    const base = {
      collectionId: w.collectionId,
      ref: w.ref,
      commit: w.commit,
      reason: w.reason,
      timestamp: w.timestamp,
      source: w.source,
      ...(w.requestedBy ? { requestedBy: w.requestedBy } : {}),
      ...(w.languages !== undefined ? { languages: w.languages } : {}),
      ...(w.version !== undefined ? { version: w.version } : {}),
    };
    if (!old) {
      entries.push({ ...base, action: 'add', previous: null, subpaths: w.subpaths });
      continue;
    }
    // Same commit, and the drive holds it: the objects of both subpath sets are on the drive, and so are both sets of
    // a Locale's languages. A ref whose commit object is gone or unreadable (drive-state.ts leaves it out) is copied
    // again, as `ostree pull` fetches a commit it lacks: else the same command said "nothing new" and left the ref
    // broken for good.
    // A partial commit whose subpaths the drive no longer records (its ostree-metadata commit lost) is not known to
    // hold what the run wants: it is walked again within the wanted subpaths, which the run records anew.
    const unknownSubset = old.subpaths === null && input.state.commits.get(old.commit)?.partial === true;
    if (old.commit === w.commit && input.state.commits.has(old.commit) && !unknownSubset) {
      const merged = mergeSubpaths(old.subpaths, w.subpaths);
      const languages =
        w.languages !== undefined
          ? mergeLanguages(w.languages, subpathLanguages(old.subpaths), merged === null)
          : undefined;
      entries.push({
        ...base,
        ...(languages !== undefined ? { languages } : {}),
        action: sameSubpaths(merged, old.subpaths) ? 'unchanged' : 'update',
        previous: old.commit,
        subpaths: merged,
      });
      continue;
    }
    const oldFacts = input.state.commits.get(old.commit);
    const oldTs = oldFacts?.timestamp;
    // Older, or the drive commit's own parent at the same time (builds with a fixed timestamp): clients take an equal
    // timestamp, so without the second test such a drive would quietly go back one build.
    const older = oldTs !== undefined && w.timestamp < oldTs;
    const parentBack = !older && oldFacts?.parent === w.commit;
    const downgrade = oldTs !== undefined && (older || parentBack);
    if (downgrade && !input.allowDowngrade)
      throw new FailureError(
        `'${w.ref}' on the drive is at ${old.commit.slice(0, 12)}… (${isoTime(oldTs)}), ` +
          (parentBack ? 'whose parent commit is ' : 'newer than ') +
          `${w.commit.slice(0, 12)}… (${isoTime(w.timestamp)}) from the source; pass --allow-downgrade to replace it`,
        { ref: w.ref, drive: old.commit, source: w.commit },
        'EDOWNGRADE',
      );
    entries.push({
      ...base,
      action: 'update',
      previous: old.commit,
      subpaths: w.subpaths,
      ...(downgrade ? { downgrade: true } : {}),
    });
  }
  for (const r of input.state.refs) {
    const k = key(r.collectionId, r.ref);
    if (wanted.has(k)) continue;
    const removed = removeKeys.has(k);
    const ts = input.state.commits.get(r.commit)?.timestamp;
    entries.push({
      collectionId: r.collectionId,
      ref: r.ref,
      action: removed ? 'remove' : 'kept',
      commit: removed ? null : r.commit,
      previous: r.commit,
      subpaths: removed ? null : r.subpaths,
      ...(ts !== undefined ? { timestamp: ts } : {}),
    });
  }
  entries.sort((a, b) => compareBytewise(a.collectionId, b.collectionId) || compareBytewise(a.ref, b.ref));

  const final = new Map<string, Map<string, FinalRef>>();
  for (const e of entries) {
    if (e.commit === null) continue;
    let m = final.get(e.collectionId);
    if (!m) final.set(e.collectionId, (m = new Map()));
    m.set(e.ref, { commit: e.commit, subpaths: e.subpaths });
  }
  // A commit is partial on the drive when every ref pointing at it is partial (in practice one ref per commit).
  const finalPartial = new Map<string, boolean>();
  for (const refs of final.values())
    for (const f of refs.values())
      finalPartial.set(f.commit, (finalPartial.get(f.commit) ?? true) && f.subpaths !== null);
  // Only the commits refs now point at change: a commit a ref left (updated or removed) stays on the drive until
  // prune, partial as it was, so its marker stays with it (without it `ostree fsck` takes it for a complete commit
  // with objects missing); prune deletes both.
  const markers = new Map<string, boolean>();
  for (const e of entries) {
    if (e.action === 'kept' || e.action === 'unchanged') {
      // A partial commit whose marker the drive lost (drive-state.ts: its subpaths recorded at this commit): the
      // marker is written again, else `ostree fsck` fails on the objects the commit lacks.
      if (e.commit && finalPartial.get(e.commit) && input.state.commits.get(e.commit)?.partial === false)
        markers.set(e.commit, true);
      continue;
    }
    if (e.commit) markers.set(e.commit, finalPartial.get(e.commit) ?? false);
  }
  return {
    entries,
    final,
    partialMarkers: [...markers]
      .sort(([a], [b]) => compareBytewise(a, b))
      .map(([commit, present]) => ({ commit, present })),
    refsChanged: entries.some((e) => e.action === 'add' || e.action === 'update' || e.action === 'remove'),
  };
}

/** The entries whose objects a run must copy. */
export function entriesToCopy(plan: DrivePlan): PlanEntry[] {
  return plan.entries.filter((e) => e.action === 'add' || e.action === 'update');
}

/** Counts per action, for summaries. */
export function planCounts(plan: DrivePlan): Record<RefAction, number> {
  const out: Record<RefAction, number> = { add: 0, update: 0, unchanged: 0, remove: 0, kept: 0 };
  for (const e of plan.entries) out[e.action]++;
  return out;
}
