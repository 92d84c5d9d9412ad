/**
 * `updateDrive`: every ref on the drive to its source's newest commit (create.ts runs the shared steps). Never writes
 * to the console.
 */
import { NotFoundError } from '../errors.js';
import { splitRef } from '../flatpak/ref.js';
import { localeLanguages, sortedLanguages, subpathLanguages } from '../flatpak/plan-builder.js';
import { finish, planRun, resolveOptions, startRun, type CreateOptions, type CreateResult } from './create.js';
import { otherReposHolding } from './drive-state.js';
import { listHint, resolveRun, type LockedRef } from './resolve-run.js';
import type { Source } from './source.js';

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
    // A drive of several repos: the run reads one (.ostree/repo unless told); the source's refs may be in another.
    const elsewhere = unlabelled
      ? []
      : await otherReposHolding(run.loc.drive, run.loc.repo, (cid, ref) => offered.has(`${cid}\0${ref}`));
    throw new NotFoundError(
      `${source.description} offers none of the ${run.state.refs.length} refs on '${run.loc.drive}' (the drive ` +
        `holds collection ${has}; the source offers ${gives || 'no refs'}): ` +
        (unlabelled
          ? `its refs have no collection ID; pass --collection-id ${run.state.refs[0]?.collectionId ?? 'ID'} as create had`
          : elsewhere[0] !== undefined
            ? `those are in the repo ${run.loc.repoRel}; the drive's repo ${elsewhere[0]} holds refs this source ` +
              `offers: pass --destination-repo ${elsewhere[0]}`
            : 'update from the source the drive was made from'),
      { path: run.loc.drive, ...(elsewhere.length ? { repos: elsewhere } : {}) },
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
      ? sortedLanguages(driveLocales.flatMap((r) => subpathLanguages(r.subpaths) as readonly string[]))
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
          driveRefs: run.state.refs,
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
  const plan = planRun(run, resolved.wanted, opts);
  return finish(run, opts, plan, [source], resolved, undefined, true);
}

/** A Locale extension (`runtime/ID.Locale/…`), whose pull subpaths are its languages. */
const isLocale = (ref: string) => localeLanguages(ref, null) !== undefined;
