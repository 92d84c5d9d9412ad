/**
 * The drive commands as library calls, each a short orchestration of the same three steps: resolve (what the
 * sources offer, resolve-run.ts), plan (pure, plan.ts, against what the drive holds, drive-state.ts), apply
 * (apply.ts: preflight, copy, publish). `createDrive` adds and updates refs, `updateDrive` moves every ref on the
 * drive to its source's newest commit, `removeFromDrive` takes refs off. Never writes to the console.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, UsageError } from '../errors.js';
import { Warner, type Warning } from '../warnings.js';
import { lookup } from '../gvariant/index.js';
import { KEY } from '../ostree/formats.js';
import { splitRef } from '../flatpak/ref.js';
import { localeLanguages, subpathLanguages } from '../flatpak/plan-builder.js';
import { checkCompressionLevel, listRefFiles } from '../repo/index.js';
import { applyPlan, replayUnderLock, type ApplyOptions, type ApplyResult } from './apply.js';
import { sourceDateEpoch } from './source-date.js';
import { locateDrive, type DriveLocation } from './drive.js';
import { readDriveState, type DriveState } from './drive-state.js';
import { planDrive, type DrivePlan, type PlanEntry } from './plan.js';
import { unneededRefs } from './unneeded.js';
import { hostArch, listHint, resolveRun, type LockedRef, type ResolveOptions, type RunSource } from './resolve-run.js';
import type { Source } from './source.js';
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
  return {
    collectionId: e.collectionId,
    ref: e.ref,
    commit: e.commit ?? (e.previous as string),
    previous: e.previous,
    reason: e.reason ?? 'on-drive',
    subpaths: e.subpaths,
    partial: e.subpaths !== null,
    // A Locale the run did not resolve (kept, or on the drive in update) has the languages its subpaths hold; a
    // removed one none (its subpaths are gone with it).
    ...(e.languages !== undefined
      ? { languages: e.languages }
      : e.action !== 'remove' && localeLanguages(e.ref, e.subpaths) !== undefined
        ? { languages: localeLanguages(e.ref, e.subpaths) }
        : {}),
    change: CHANGE[e.action],
    ...(e.downgrade ? { downgrade: true } : {}),
  };
}

interface Run {
  readonly loc: DriveLocation;
  readonly state: DriveState;
  /** The run's warnings: --allow-partial quiets the partial ones, --strict fails at the first (before any write). */
  readonly warner: Warner;
  /** The run first finished a publish an interrupted run had left pending. */
  readonly resumedPublish: boolean;
}

async function startRun(opts: CreateOptions): Promise<Run> {
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

function resolveOptions(opts: CreateOptions): ResolveOptions {
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

async function finish(
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
  const run = await startRun(opts);
  const resolved = await resolveRun(
    inputs,
    { ...resolveOptions(opts), driveRefs: run.state.refs },
    run.warner,
    run.state.commits,
  );
  const plan = planDrive({
    state: run.state,
    wanted: resolved.wanted,
    ...(opts.allowDowngrade ? { allowDowngrade: true } : {}),
  });
  // A lock's record of each collection's upstream summary, for the collections whose copy comes from its source.
  const pins = new Map<string, UpstreamPin>();
  for (const i of inputs)
    for (const [cid, from] of resolved.collections)
      if (i.pinnedUpstream && from === i.source) pins.set(cid, i.pinnedUpstream);
  return finish(
    run,
    opts,
    plan,
    inputs.map((i) => i.source),
    resolved,
    pins,
  );
}

/**
 * Moves every ref on the drive to the newest commit its source offers (an installation: the deployed one), keeping
 * partial refs' subpaths, and adds runtimes the updated apps now need. Refs the source does not offer stay, with a
 * warning.
 */
export async function updateDrive(opts: Omit<CreateOptions, 'refs'>, source: Source): Promise<CreateResult> {
  const run = await startRun(opts);
  if (run.state.refs.length === 0)
    throw new NotFoundError(
      `nothing to update: '${run.loc.repo}' holds no refs yet`,
      { path: run.loc.repo },
      'ENOTPUBLISHED',
    );
  const offered = new Map(
    (await source.listRefs(listHint(run.state.refs.map((r) => r.ref)))).map((r) => [
      `${r.collectionId ?? opts.collectionId ?? ''}\0${r.ref}`,
      r,
    ]),
  );
  // A source that offers none of the drive's refs is the wrong source (a mistyped --repo, another remote): an
  // update that keeps every ref and says "nothing new" would let a pipeline believe the drive was refreshed.
  if (!run.state.refs.some((r) => offered.has(`${r.collectionId}\0${r.ref}`))) {
    const has = [...new Set(run.state.refs.map((r) => r.collectionId))].sort().join(', ');
    const gives = [...new Set([...offered.values()].map((r) => r.collectionId ?? '(none)'))].sort().join(', ');
    // Refs without a collection ID (a repo with none configured, as `create` needed --collection-id for): say so.
    const unlabelled = !opts.collectionId && [...offered.values()].some((r) => r.collectionId === null);
    throw new NotFoundError(
      `${source.description} offers none of the ${run.state.refs.length} refs on '${run.loc.drive}' (the drive ` +
        `holds collection ${has}; the source offers ${gives || 'no refs'}): ` +
        (unlabelled
          ? `its refs have no collection ID; pass --collection-id ${run.state.refs[0]?.collectionId ?? 'ID'} as create had`
          : 'update from the source the drive was made from'),
      { path: run.loc.drive },
    );
  }
  // The collections the source serves: a ref of another one (a drive of several upstreams) is its own source's to
  // update, and stays without a word; a ref the source's own collection no longer has is worth a warning.
  const served = new Set([...offered.values()].map((r) => r.collectionId ?? opts.collectionId ?? ''));
  const requested: string[] = [];
  const onDrive: Array<Omit<LockedRef, 'reason'>> = [];
  for (const r of run.state.refs) {
    const s = offered.get(`${r.collectionId}\0${r.ref}`);
    if (!s) {
      if (served.has(r.collectionId))
        run.warner.warn(
          'not-in-source',
          `'${r.ref}' (${r.collectionId}) is not offered by ${source.description}; it stays at ${r.commit.slice(0, 12)}`,
          { ref: r.ref, collectionId: r.collectionId },
        );
      continue;
    }
    onDrive.push({ collectionId: r.collectionId, ref: r.ref, commit: s.commit, subpaths: r.subpaths });
    if (splitRef(r.ref)?.kind === 'app') requested.push(r.ref);
  }
  // A Locale new to the drive takes the languages the drive's Locales carry when every one of them is partial (the
  // union of theirs): a drive made with --locales de holds the languages its users chose, and an update that adds
  // a replacement app's or a new runtime branch's Locale with every language would quietly grow it (update has no
  // --locales to say otherwise). One whole Locale on the drive (or none at all) and it comes whole, as create's.
  const driveLocales = run.state.refs.filter((r) => isLocale(r.ref));
  const newLocales =
    opts.locales ??
    (driveLocales.length && driveLocales.every((r) => r.subpaths !== null)
      ? [...new Set(driveLocales.flatMap((r) => subpathLanguages(r.subpaths) as readonly string[]))].sort()
      : undefined);
  // The apps' runtimes at the source's newest commits: a new runtime branch an update needs comes along.
  const deps = requested.length
    ? await resolveRun(
        [{ source, refs: requested, ...(opts.collectionId ? { collectionId: opts.collectionId } : {}) }],
        // A ref new to the drive (an end-of-life app's replacement, a runtime branch an updated app moved to) brings
        // its related refs (Locale …) as create's; the drive's own refs keep what they have.
        {
          ...resolveOptions(opts),
          ...(newLocales ? { locales: newLocales } : {}),
          extensions: 'none',
          newRefExtensions: opts.extensions ?? 'auto',
          onDrive: new Set(run.state.refs.map((r) => r.ref)),
        },
        run.warner,
        run.state.commits,
      )
    : null;
  // Each ref says why it is on the drive, as `create` said: an app as requested, a runtime as the updated apps need
  // it, appstream as appstream, an extension (named under the ID it extends: `….Locale`, `….GL.default`) as related;
  // anything else was asked for by name.
  const why = new Map((deps?.wanted ?? []).map((w) => [`${w.collectionId}\0${w.ref}`, w.reason] as const));
  const ids = new Set(onDrive.map((l) => splitRef(l.ref)?.id).filter((id): id is string => !!id));
  const extends_ = (id: string | undefined) =>
    !!id && [...ids].some((base) => base !== id && id.startsWith(`${base}.`));
  const locked: LockedRef[] = onDrive.map((l) => ({
    ...l,
    reason: /^appstream2?\//.test(l.ref)
      ? 'appstream'
      : (why.get(`${l.collectionId}\0${l.ref}`) ??
        (splitRef(l.ref)?.kind === 'runtime' && extends_(splitRef(l.ref)?.id) ? 'related' : 'requested')),
  }));
  const have = new Set(locked.map((l) => `${l.collectionId}\0${l.ref}`));
  const extra = (deps?.wanted ?? []).filter((w) => !have.has(`${w.collectionId}\0${w.ref}`));
  const resolved = await resolveRun(
    [{ source, locked: [...locked, ...extra] }],
    resolveOptions(opts),
    run.warner,
    run.state.commits,
  );
  const plan = planDrive({
    state: run.state,
    wanted: resolved.wanted,
    ...(opts.allowDowngrade ? { allowDowngrade: true } : {}),
  });
  return finish(run, opts, plan, [source], resolved, undefined, true);
}

/** What `removeFromDrive` takes off and what the remaining apps no longer need. */
export interface RemoveOptions extends Omit<CreateOptions, 'refs'> {
  /** Full refs, or app/runtime IDs (every arch and branch of it on the drive). */
  readonly refs: readonly string[];
  /** Also remove runtimes and extensions that no remaining app needs. */
  readonly withDeps?: boolean;
}

export interface RemoveResult extends CreateResult {
  /** Refs no remaining app needs (removed too with `withDeps`). */
  readonly unneeded: ReadonlyArray<{ readonly collectionId: string; readonly ref: string }>;
}

/** Takes refs off a drive (summary and ostree-metadata updated in the same publish step; objects stay until prune). */
export async function removeFromDrive(opts: RemoveOptions): Promise<RemoveResult> {
  if (opts.refs.length === 0) throw new UsageError('no refs given: name the refs to remove');
  const run = await startRun(opts);
  const picked = new Map<string, { collectionId: string; ref: string }>();
  for (const arg of opts.refs) {
    const hits = run.state.refs.filter((r) => r.ref === arg || splitRef(r.ref)?.id === arg);
    if (hits.length === 0)
      throw new NotFoundError(`'${arg}' is not on the drive '${run.loc.drive}'`, { ref: arg }, 'ENOTONDRIVE');
    for (const h of hits) picked.set(`${h.collectionId}\0${h.ref}`, { collectionId: h.collectionId, ref: h.ref });
  }
  const unneeded = await unneededOnDrive(run.state, new Set(picked.keys()));
  if (opts.withDeps) for (const u of unneeded) picked.set(`${u.collectionId}\0${u.ref}`, u);
  const plan = planDrive({ state: run.state, wanted: [], remove: [...picked.values()] });
  const result = await finish(run, opts, plan, [], null);
  return { ...result, unneeded };
}

/**
 * Runtimes and extensions that no app left on the drive needs once `removed` is gone, by the apps' and runtimes'
 * metadata on the drive (per arch and branch: see `unneededRefs` in unneeded.ts); appstream of an arch with no app
 * or runtime left in its collection goes too.
 */
async function unneededOnDrive(
  state: DriveState,
  removed: ReadonlySet<string>,
): Promise<Array<{ collectionId: string; ref: string }>> {
  const { Repo } = await import('../repo/index.js');
  const repo = await Repo.open(state.repo);
  try {
    const remaining = state.refs.filter((r) => !removed.has(`${r.collectionId}\0${r.ref}`));
    const out = await unneededRefs(remaining, async (r) => {
      const c = await repo.readCommit(r.commit).catch(() => null);
      const meta = c ? lookup(c.commit.metadata, KEY.xaMetadata) : undefined;
      return meta?.type === 's' ? (meta.value as string) : null;
    });
    return out.map((r) => ({ collectionId: r.collectionId, ref: r.ref }));
  } finally {
    await repo.close();
  }
}

/** A Locale extension (`runtime/ID.Locale/…`), whose pull subpaths are its languages. */
const isLocale = (ref: string) => localeLanguages(ref, null) !== undefined;

const isDirectory = (p: string) =>
  fs.lstat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
