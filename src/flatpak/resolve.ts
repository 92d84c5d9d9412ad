/**
 * The planner's first half (drive.md §3, format.md §8.2): requested ref arguments + what a source offers →
 * the refs to put on the drive (runtime, related extensions, locales, appstream), with a reason for each and typed
 * warnings for what was left out. Pure: facts come in through the catalog and two lookups; no IO of its own.
 *
 * resolveRefs walks the arguments; the steps it takes live beside it: the run's state and shared lookups
 * (plan-builder.ts), `--commit` pins (commit-overrides.ts), non-flatpak refs (plain-ref.ts), and what a ref pulls
 * in with it (dependencies.ts). The input and output types are in resolve-types.ts.
 */
import { NotFoundError, UnsupportedError, UsageError } from '../errors.js';
import type { SourceRef } from './catalog.js';
import { commitOverrides, pinnedRef, type CommitOverrides } from './commit-overrides.js';
import { pullSubpathsFromDeploy } from './deploy.js';
import { addAppDependencies, addRelated } from './dependencies.js';
import { METADATA_REF_NAME, plainRef } from './plain-ref.js';
import { planned, PlanBuilder } from './plan-builder.js';
import { didYouMean, parseRefArg, refMatchesArg, splitRef, type ParsedRefArg, type RefParts } from './ref.js';
import type { PlannedRef, RefPlan, ResolveInput } from './resolve-types.js';

/**
 * A commit bound (`ostree.collection-binding`) to another collection than the one it would be listed under on the
 * drive: ostree's pull refuses it, so it is never relabelled (by --collection-id or otherwise).
 */
export function collectionBindingError(ref: string, commit: string, collectionId: string, bound: string): UsageError {
  return new UsageError(
    `'${ref}' would go on the drive under collection '${collectionId}' (--collection-id or the source's), ` +
      `but its commit ${commit.slice(0, 12)}… is bound to collection '${bound}' (ostree.collection-binding) ` +
      `and clients would refuse it: use --collection-id ${bound}, or leave it off`,
    { ref, collectionId, binding: bound },
  );
}

/** A commit bound (`ostree.ref-binding`) to refs that do not include the one it would be listed as. */
export function refBindingError(ref: string, commit: string, bound: readonly string[]): UsageError {
  return new UsageError(
    `'${ref}' would point at commit ${commit.slice(0, 12)}…, which is bound to ${bound.map((b) => `'${b}'`).join(', ') || 'no ref'} ` +
      '(ostree.ref-binding): clients would refuse it. Is the commit (in the lock, or --commit) the right one for this ref?',
    { ref, commit, binding: [...bound] },
  );
}

/** Resolves the refs to copy. @throws NotFoundError / UsageError / UnsupportedError naming the ref at fault. */
export async function resolveRefs(input: ResolveInput): Promise<RefPlan> {
  const overrides = commitOverrides(input);
  const plan = new PlanBuilder({ ...input, catalog: overrides.catalog });
  const arches = input.arches && input.arches.length ? input.arches : [input.hostArch];

  for (const arg of input.requested) {
    // A full ref that is not a flatpak ref (an OS commit `os/eos/amd64/master`, ostree's `test-1`): copied as it is.
    const plain = plainRef(arg, plan.input, plan.entries(arg), arches);
    if (plain) {
      if (plain.ref === METADATA_REF_NAME)
        throw new UsageError(`'${arg}' is written by sideload itself and cannot be copied`, { ref: arg });
      const cid = (await plan.collectionOf(plain, true)) as string;
      plan.add(planned(plain, cid, 'requested', { commit: overrides.forArg(arg) ?? plain.commit }));
      continue;
    }
    const parsed = parseRefArg(arg, input.kinds);
    for (const arch of parsed.arch ? [parsed.arch] : arches) {
      const main = findRequested(plan, arg, parsed, arch, overrides);
      await addRequested(plan, main);
      if ((splitRef(main.ref) as RefParts).kind === 'app') await addAppDependencies(plan, main);
      await addRelated(plan, main);
    }
  }
  await addRebaseTargets(plan);
  if (input.appstream ?? true) {
    // As flatpak create-usb: for every collection and arch of the drive's flatpak refs, the runtimes' (another
    // installation's remote) too.
    const appstreamFor = new Set<string>(); // `${cid}\0${arch}`
    for (const p of plan.refs()) {
      const parts = splitRef(p.ref);
      if (parts) appstreamFor.add(`${p.collectionId}\0${parts.arch}`);
    }
    addAppstream(plan, appstreamFor);
  }

  const refs = plan.refs();
  overrides.checkUsed(refs);
  return { refs, warnings: plan.warnings };
}

/**
 * The one catalog entry a flatpak ref argument names for `arch` (moved to its pinned commit, if any).
 * @throws NotFoundError (with what the source has, or IDs close to a misspelt one), UsageError when the argument
 * names several refs.
 */
function findRequested(
  plan: PlanBuilder,
  arg: string,
  parsed: ParsedRefArg,
  arch: string,
  overrides: CommitOverrides,
): SourceRef {
  const catalog = plan.input.catalog;
  const matches = catalog.filter((r) => refMatchesArg(r.ref, parsed, [arch]));
  const distinct = [...new Set(matches.map((m) => m.ref))];
  if (distinct.length === 0) {
    const where = plan.input.sourceKind === 'installation' ? 'is not installed in' : 'was not found in';
    const others = catalog.filter((r) => splitRef(r.ref)?.id === parsed.id).map((r) => r.ref);
    const similar = others.length
      ? []
      : didYouMean(
          parsed.id,
          catalog.map((r) => splitRef(r.ref)?.id).filter((x): x is string => !!x),
        );
    throw new NotFoundError(
      `ref '${arg}'${parsed.arch ? '' : ` (arch ${arch})`} ${where} the source` +
        (others.length ? `; available: ${[...new Set(others)].join(', ')}` : '') +
        (similar.length ? `; did you mean ${similar.join(' or ')}?` : ''),
      { ref: arg, arch, ...(similar.length ? { suggestions: similar } : {}) },
    );
  }
  if (distinct.length > 1)
    throw new UsageError(`ref '${arg}' is ambiguous: ${distinct.join(', ')}; name one of them in full`, {
      ref: arg,
      candidates: distinct,
    });
  const found = plan.one(distinct[0] as string) as SourceRef;
  const pinned = overrides.forArg(arg);
  return pinned ? pinnedRef(found, pinned) : found;
}

/**
 * Plans a requested flatpak ref: whole, or a Locale's languages, or (from an installation) the part installed.
 * Returns its collection. @throws UnsupportedError for an extra-data ref.
 */
async function addRequested(
  plan: PlanBuilder,
  main: SourceRef,
  as: { readonly reason: 'requested' | 'rebase'; readonly requestedBy?: string } = { reason: 'requested' },
): Promise<string> {
  if (await plan.input.isExtraData(main))
    throw new UnsupportedError(
      `'${main.ref}' is extra-data, and cannot be distributed offline`,
      { ref: main.ref },
      'EEXTRADATA',
    );
  const cid = (await plan.collectionOf(main, true)) as string;
  let subpaths: readonly string[] | null = null;
  let languages: PlannedRef['languages'];
  if ((splitRef(main.ref) as RefParts).id.endsWith('.Locale')) ({ subpaths, languages } = plan.localeSubpaths(main));
  else if (plan.input.sourceKind === 'installation' && main.deploySubpaths?.length) {
    // flatpak create-usb would pull the whole commit and fail on the objects it doesn't have.
    subpaths = pullSubpathsFromDeploy(main.deploySubpaths);
    plan.warn(
      'partial-ref',
      `'${main.ref}' is only partially installed (${main.deploySubpaths.join(', ')}); copying that part`,
      { ref: main.ref },
    );
  }
  plan.add(
    planned(main, cid, as.reason, {
      subpaths,
      ...(languages ? { languages } : {}),
      ...(as.requestedBy ? { requestedBy: as.requestedBy } : {}),
    }),
  );
  return cid;
}

/**
 * The replacements of end-of-life refs (`ostree.endoflife-rebase`), with what they need: flatpak installing or
 * updating such a ref from the drive moves to its replacement ("Updating to rebased version") and fails offline
 * without it. A replacement the source lacks is a warning; a chain of replacements is followed.
 */
async function addRebaseTargets(plan: PlanBuilder): Promise<void> {
  const rebaseOf = plan.input.rebaseOf;
  if (!rebaseOf) return;
  const policy = plan.input.newRefExtensions ?? plan.input.extensions ?? 'auto';
  const seen = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const p of plan.refs()) {
      if (seen.has(p.ref) || p.reason === 'appstream') continue;
      seen.add(p.ref);
      const entry = plan.entries(p.ref).find((r) => r.commit === p.commit) ?? plan.one(p.ref);
      const target = entry ? await rebaseOf({ ...entry, commit: p.commit }) : null;
      if (!target || plan.refs().some((q) => q.ref === target)) continue;
      const found = plan.entries(target).find((r) => (r.collectionId ?? plan.input.collectionId) === p.collectionId);
      if (!found) {
        plan.warn(
          'eol-rebase-missing',
          `'${p.ref}' is end-of-life, replaced by '${target}', which the source does not have: flatpak installs ` +
            'and updates of it from this drive will fail offline',
          { ref: p.ref, rebase: target },
        );
        continue;
      }
      await addRequested(plan, found, { reason: 'rebase', requestedBy: p.ref });
      if ((splitRef(found.ref) as RefParts | null)?.kind === 'app') await addAppDependencies(plan, found, policy);
      await addRelated(plan, found, policy);
      changed = true;
    }
  }
}

/** appstream/ARCH and appstream2/ARCH of each collection and arch a requested ref went under. */
function addAppstream(plan: PlanBuilder, appstreamFor: ReadonlySet<string>): void {
  for (const key of appstreamFor) {
    const [cid, arch] = key.split('\0') as [string, string];
    let found = false;
    for (const name of [`appstream/${arch}`, `appstream2/${arch}`]) {
      const hit = plan.entries(name).find((r) => (r.collectionId ?? plan.input.collectionId) === cid);
      if (hit) {
        found = true;
        plan.add(planned(hit, cid, 'appstream'));
      }
    }
    if (!found)
      plan.warn(
        'no-appstream',
        `no appstream data for collection '${cid}' (${arch}) in the source; ` +
          'offline clients will not show app details',
        { collectionId: cid, arch },
      );
  }
}
