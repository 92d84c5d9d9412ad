/**
 * The drive commands as library calls, each a short orchestration of the same three steps: resolve (what the
 * sources offer, resolve-run.ts), plan (pure, plan.ts, against what the drive holds, drive-state.ts), apply
 * (apply.ts: preflight, copy, publish). `createDrive` adds and updates refs; `updateDrive` (update.ts) moves every
 * ref on the drive to its source's newest commit, and `removeFromDrive` (remove.ts) takes refs off, through the same
 * run (startRun, finish). Never writes to the console.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { Warner, type Warning } from '../warnings.js';
import { localeLanguages } from '../flatpak/plan-builder.js';
import { checkCompressionLevel, listRefFiles } from '../repo/index.js';
import { CopyWorkerPool, defaultWorkers } from '../repo/worker-pool.js';
import { applyPlan, replayUnderLock, type ApplyOptions, type ApplyResult } from './apply.js';
import { sourceDateEpoch } from './source-date.js';
import { locateDrive, type DriveLocation } from './drive.js';
import { readDriveState, type DriveState } from './drive-state.js';
import { planDrive, type DrivePlan, type PlanEntry, type WantedRef } from './plan.js';
import { hostArch, resolveRun, type LockedRef, type ResolveOptions, type RunSource } from './resolve-run.js';
import { remoteOnly, type Source } from './source.js';
import { UPSTREAM_DIR, type UpstreamPin } from './upstream-copy.js';

export { UPSTREAM_DIR } from './upstream-copy.js';
export { mirrorRefPath } from './publication.js';
export { hostArch, type LockedRef, type RunSource };

/** The resolution options (kinds, arches, locales, extensions, SDK, commit pins): see ResolveOptions. */
export interface CreateOptions extends ApplyOptions, ResolveOptions {
  /** The drive (mount) directory. */
  readonly drive: string;
  /** Ref arguments as flatpak takes them (`org.example.App`, `app/org.example.App/x86_64/stable` …). */
  readonly refs?: readonly string[];
  /** Repo path relative to the drive; default `.ostree/repo`. */
  readonly destinationRepo?: string;
  /** Collection ID for source refs that have none. */
  readonly collectionId?: string;
  /** Allow replacing a ref on the drive by an older commit. Default false. */
  readonly allowDowngrade?: boolean;
  /** Treat partial-install warnings as expected (flatpak's --allow-partial). */
  readonly allowPartial?: boolean;
  readonly onWarning?: (w: Warning) => void;
}

/** One ref of a run's result; the same shape in create, update, remove and dry runs. */
export interface DriveRef {
  readonly collectionId: string;
  readonly ref: string;
  /** The commit after the run (for a removed ref: the commit it had). */
  readonly commit: string;
  readonly previous: string | null;
  readonly reason: string;
  readonly subpaths: readonly string[] | null;
  readonly partial: boolean;
  readonly languages?: readonly string[] | 'all';
  readonly change: 'added' | 'updated' | 'unchanged' | 'removed' | 'kept';
  readonly downgrade?: boolean;
}

export interface CreateResult extends ApplyResult {
  readonly drive: string;
  readonly repo: string;
  readonly dryRun: boolean;
  readonly refs: readonly DriveRef[];
  readonly plan: DrivePlan;
  readonly warnings: readonly Warning[];
  /**
   * Collections whose source had no upstream summary (`upstream` null) while the drive carries a copy from an
   * earlier run: that copy stays as it was, and may not list the refs' newer commits.
   */
  readonly upstreamKept: readonly string[];
  /** The run first finished a publish an interrupted run had left pending (the drive changed, even with nothing new). */
  readonly resumedPublish?: true;
}

const CHANGE = { add: 'added', update: 'updated', unchanged: 'unchanged', remove: 'removed', kept: 'kept' } as const;

function toDriveRef(e: PlanEntry): DriveRef {
  // A Locale the run did not resolve (kept, or on the drive in update) has the languages its subpaths hold; a
  // removed one none (its subpaths are gone with it).
  const languages = e.languages ?? (e.action !== 'remove' ? localeLanguages(e.ref, e.subpaths) : undefined);
  return {
    collectionId: e.collectionId,
    ref: e.ref,
    commit: e.commit ?? (e.previous as string),
    previous: e.previous,
    reason: e.reason ?? 'on-drive',
    subpaths: e.subpaths,
    partial: e.subpaths !== null,
    ...(languages !== undefined ? { languages } : {}),
    change: CHANGE[e.action],
    ...(e.downgrade ? { downgrade: true } : {}),
  };
}

/** A run on one drive: where it is, what it holds, and its warnings (create, update and remove share it). */
export interface Run {
  readonly loc: DriveLocation;
  readonly state: DriveState;
  /** The run's warnings: --allow-partial quiets the partial ones, --strict fails at the first (before any write). */
  readonly warner: Warner;
  /** The run first finished a publish an interrupted run had left pending. */
  readonly resumedPublish: boolean;
  /** Copy workers started while the run plans (createDriveFrom), for the staging area to take. */
  readonly pool?: CopyWorkerPool;
}

export async function startRun(opts: CreateOptions): Promise<Run> {
  // A SOURCE_DATE_EPOCH the publish could not write is refused now, before anything is copied (dry runs too).
  if (!opts.now) sourceDateEpoch();
  if (opts.compressionLevel !== undefined) checkCompressionLevel(opts.compressionLevel);
  const warner = new Warner({
    ...(opts.strict ? { strict: true } : {}),
    ...(opts.allowPartial ? { ignore: ['partial-ref', 'partial-locale'] as const } : {}),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
  });
  const loc = await locateDrive(opts.drive, opts.destinationRepo);
  let state = await readDriveState(loc.repo);
  const resumedPublish = state.pendingPublish && !opts.dryRun;
  if (resumedPublish) {
    // An interrupted run's publish is finished first, so this run plans from the drive it meant to leave (planned
    // from before, the run published everything a second time, with a second ostree-metadata commit).
    await replayUnderLock(loc.repo, opts.fsync ?? true);
    state = await readDriveState(loc.repo);
  }
  // A repo another tool made (ostree init, a plain commit): its refs/heads vanish from the summary this run writes.
  const heads = state.exists ? await listRefFiles(path.join(loc.repo, 'refs/heads'), { lenient: true }) : [];
  if (heads.length)
    warner.warn(
      'drive-head-refs',
      `the drive repo ${loc.repo} has refs/heads (${heads.map(([n]) => n).join(', ')}) that the summary sideload ` +
        'writes does not list (refs/mirrors/<collection>/ only): clients will no longer see them',
      { repo: loc.repo, refs: heads.map(([n]) => n) },
    );
  return { loc, state, warner, resumedPublish };
}

export function resolveOptions(opts: CreateOptions): ResolveOptions {
  return {
    ...(opts.kinds ? { kinds: opts.kinds } : {}),
    ...(opts.arches ? { arches: opts.arches } : {}),
    ...(opts.locales ? { locales: opts.locales } : {}),
    ...(opts.extensions ? { extensions: opts.extensions } : {}),
    ...(opts.includeSdk ? { includeSdk: true } : {}),
    ...(opts.remoteFixHint ? { remoteFixHint: opts.remoteFixHint } : {}),
    ...(opts.commits ? { commits: opts.commits } : {}),
  };
}

/** The plan of a create or update run: the refs it wants against what the drive holds. */
export function planRun(run: Run, wanted: readonly WantedRef[], opts: CreateOptions): DrivePlan {
  return planDrive({ state: run.state, wanted, ...(opts.allowDowngrade ? { allowDowngrade: true } : {}) });
}

export async function finish(
  run: Run,
  opts: CreateOptions,
  plan: DrivePlan,
  sources: readonly Source[],
  resolved: Awaited<ReturnType<typeof resolveRun>> | null,
  upstreamPins?: ReadonlyMap<string, UpstreamPin>,
  refreshSignatures = false,
): Promise<CreateResult> {
  const applied = await applyPlan(
    {
      ...(refreshSignatures ? { refreshSignatures } : {}),
      loc: run.loc,
      state: run.state,
      plan,
      sources,
      commits: resolved?.commits ?? new Map(),
      upstreamFrom: resolved?.collections ?? new Map(),
      ...(upstreamPins?.size ? { upstreamPins } : {}),
      warner: run.warner,
      ...(run.pool ? { pool: run.pool } : {}),
    },
    opts,
  );
  // The publish leaves a carried copy alone when the source has none (as update --no-upstream-summary does).
  const upstreamKept: string[] = [];
  for (const [cid, up] of Object.entries(applied.upstream))
    if (up === null && (await isDirectory(path.join(run.loc.repo, UPSTREAM_DIR, cid)))) upstreamKept.push(cid);
  return {
    ...applied,
    ...(run.resumedPublish ? { changed: true, resumedPublish: true as const } : {}),
    upstreamKept,
    drive: run.loc.drive,
    repo: run.loc.repo,
    dryRun: !!opts.dryRun,
    refs: plan.entries.map(toDriveRef),
    plan,
    warnings: run.warner.warnings,
  };
}

/** Builds or updates a drive from one source. See CreateOptions. */
export async function createDrive(opts: CreateOptions, source: Source): Promise<CreateResult> {
  if (!opts.refs || opts.refs.length === 0) throw new UsageError('no refs given: name at least one app or runtime');
  return createDriveFrom(opts, [
    { source, refs: opts.refs, ...(opts.collectionId ? { collectionId: opts.collectionId } : {}) },
  ]);
}

/** Builds or updates a drive from several sources (a manifest, a lockfile) in one publish step. */
export async function createDriveFrom(opts: CreateOptions, inputs: readonly RunSource[]): Promise<CreateResult> {
  const run = withEarlyWorkers(await startRun(opts), opts, inputs);
  try {
    const resolved = await resolveRun(
      inputs,
      { ...resolveOptions(opts), driveRefs: run.state.refs },
      run.warner,
      run.state.commits,
    );
    const plan = planRun(run, resolved.wanted, opts);
    // A lock's record of each collection's upstream summary, for the collections whose copy comes from its source.
    const pins = new Map<string, UpstreamPin>();
    for (const i of inputs)
      for (const [cid, from] of resolved.collections)
        if (i.pinnedUpstream && from === i.source) pins.set(cid, i.pinnedUpstream);
    return await finish(
      run,
      opts,
      plan,
      inputs.map((i) => i.source),
      resolved,
      pins,
    );
  } finally {
    await run.pool?.close(); // the staging area has closed them, or the run failed before it opened
  }
}

/**
 * A first run (a drive with no refs yet) copies all it plans: its copy workers start now, while the sources are
 * resolved and checked, not when the copy begins. A worker takes ~70 ms to start and load its modules, and the first
 * objects waited for that (0.24 -> 0.33 s into a 2.6 s run, 384 MiB installation onto fresh ext4). From HTTP alone
 * the copy uses one worker (apply.ts), and a dry run or a re-run may copy nothing: those start theirs when needed.
 */
function withEarlyWorkers(run: Run, opts: CreateOptions, inputs: readonly RunSource[]): Run {
  const sources = inputs.map((i) => i.source);
  if (opts.dryRun || run.state.refs.length > 0 || sources.length === 0 || remoteOnly(sources)) return run;
  return { ...run, pool: new CopyWorkerPool(defaultWorkers(), opts.deflate ?? 'auto') };
}

const isDirectory = (p: string) =>
  fs.lstat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
