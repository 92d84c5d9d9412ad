/**
 * One resolveRefs run's state (resolve.ts): the catalog by ref, the refs planned so far and the warnings, with the
 * lookups every step of the resolution shares: the one catalog entry of a ref, a ref's collection, a locale
 * extension's subpaths, and adding a ref to the plan (merging it with one planned already).
 */
import { UsageError } from '../errors.js';
import { compareBytewise } from '../ostree/dirtree.js';
import { Warner, type Warn, type Warning } from '../warnings.js';
import type { SourceRef } from './catalog.js';
import { pullSubpathsFromDeploy } from './deploy.js';
import { splitRef } from './ref.js';
import type { PlannedRef, PlanReason, ResolveInput } from './resolve-types.js';

export class PlanBuilder {
  private readonly byRef = new Map<string, SourceRef[]>();
  private readonly planned = new Map<string, PlannedRef>();
  private readonly warner = new Warner(); // the run's Warner takes them (resolve-run.ts)
  readonly warn: Warn = this.warner.warn;

  /** `input.catalog` with the `--commit` overrides applied (commit-overrides.ts). */
  constructor(readonly input: ResolveInput) {
    for (const r of input.catalog) this.byRef.set(r.ref, [...(this.byRef.get(r.ref) ?? []), r]);
  }

  /** Every catalog entry of a full ref (one per collection that offers it). */
  entries(ref: string): readonly SourceRef[] {
    return this.byRef.get(ref) ?? [];
  }

  /** The catalog entry of a full ref, or undefined. @throws UsageError when several collections offer it. */
  one(ref: string): SourceRef | undefined {
    return onlyEntry(this.entries(ref), ref);
  }

  /**
   * The collection a ref goes under on the drive: the source's, else `--collection-id`. Without one, a mandatory
   * ref is a UsageError saying how to fix it; any other is left out with a warning (null).
   */
  async collectionOf(r: SourceRef, mandatory: boolean): Promise<string | null> {
    const input = this.input;
    const cid = r.collectionId ?? input.collectionId ?? null;
    if (cid) return cid;
    // Only for the message: reading every candidate's commit would fetch commits a drive update does not need (a
    // binding that contradicts the collection is refused for every planned ref in resolve-run.ts).
    const bound = input.bindingOf ? await input.bindingOf(r) : null;
    const hint =
      r.remote && input.remoteFixHint
        ? ` Fix it with: ${input.remoteFixHint(r.remote, bound ?? undefined, r.installation)}`
        : bound
          ? ` Pass --collection-id ${bound} (the collection its commit is bound to).`
          : ' Pass --collection-id.';
    const what = r.remote
      ? `remote '${r.remote}' does not have a collection ID set, which is required to put '${r.ref}' on a drive.`
      : `no collection ID is known for '${r.ref}'.`;
    if (mandatory) throw new UsageError(what + hint, { ref: r.ref, ...(r.remote ? { remote: r.remote } : {}) });
    this.warn('no-collection-id', `omitting '${r.ref}': ${what}${hint}`, { ref: r.ref });
    return null;
  }

  /**
   * A locale extension's subpaths and languages: `--locales` (default all), narrowed for an installation source to
   * what is installed (with a warning for the languages it lacks).
   */
  localeSubpaths(r: SourceRef): { subpaths: string[] | null; languages: string[] | 'all' } {
    const input = this.input;
    if (input.sourceKind === 'installation') {
      const installed = (r.deploySubpaths ?? []).map((s) => s.replace(/^\//, ''));
      if (installed.length === 0) return input.locales ? narrow(input.locales) : { subpaths: null, languages: 'all' };
      const langs = input.locales ? input.locales.filter((l) => installed.includes(l)) : installed;
      const missing = input.locales ? input.locales.filter((l) => !installed.includes(l)) : [];
      if (missing.length)
        this.warn(
          'locale-not-installed',
          `the source installation has no ${missing.join(', ')} for '${r.ref}' (installed: ${installed.join(', ')}); ` +
            (langs.length
              ? `the drive gets ${langs.join(', ')} only`
              : 'the drive gets it without any language (its metadata only)'),
          { ref: r.ref, missing, installed, languages: langs },
        );
      return { subpaths: pullSubpathsFromDeploy(langs.map((l) => `/${l}`)) ?? ['/metadata'], languages: langs };
    }
    return input.locales ? narrow(input.locales) : { subpaths: null, languages: 'all' };
  }

  /** The subpaths of a ref as deployed in an installation source (null: the whole commit, and for other sources). */
  deployedSubpaths(r: SourceRef): string[] | null {
    return this.input.sourceKind === 'installation' ? pullSubpathsFromDeploy(r.deploySubpaths ?? []) : null;
  }

  /** Plans a ref; planned already, the whole commit wins over a subset, two subsets merge. */
  add(p: PlannedRef): void {
    const key = `${p.collectionId}\0${p.ref}`;
    const prev = this.planned.get(key);
    if (!prev) {
      this.planned.set(key, p);
      return;
    }
    // The whole commit wins over a subset; two subsets merge.
    let subpaths: readonly string[] | null = null;
    if (prev.subpaths && p.subpaths) subpaths = sortedSubpaths([...prev.subpaths, ...p.subpaths]);
    const keep = prev.reason === 'requested' ? prev : p.reason === 'requested' ? p : prev;
    const languages = mergeLanguages(prev.languages, p.languages, subpaths === null);
    const { languages: _drop, ...rest } = keep;
    this.planned.set(key, { ...rest, subpaths, ...(languages !== undefined ? { languages } : {}) });
  }

  /** The planned refs, sorted by collection and ref (byte order, as planDrive sorts them). */
  refs(): PlannedRef[] {
    return [...this.planned.values()].sort(
      (a, b) => compareBytewise(a.collectionId, b.collectionId) || compareBytewise(a.ref, b.ref),
    );
  }

  get warnings(): readonly Warning[] {
    return this.warner.warnings;
  }
}

/**
 * The languages of one Locale commit planned twice: only where either side named them (they are a Locale
 * extension's), `all` when the whole commit wins, else both lists.
 */
export function mergeLanguages(
  a: PlannedRef['languages'],
  b: PlannedRef['languages'],
  whole: boolean,
): PlannedRef['languages'] {
  if (a === undefined && b === undefined) return undefined;
  if (whole || a === 'all' || b === 'all') return 'all';
  return sortedLanguages([...(a ?? []), ...(b ?? [])]);
}

/**
 * Languages in the one order sideload prints and records them in: each once, in byte order, the order of their
 * subpaths (sortedSubpaths), so `/files/X` and language X sort alike, ASCII or not.
 */
export function sortedLanguages(languages: Iterable<string>): string[] {
  return [...new Set(languages)].sort(compareBytewise);
}

/**
 * A partial ref's pull subpaths in the one order sideload prints and records them in: each once, in byte order
 * (strcmp, as flatpak's flatpak_subpaths_merge sorts them), so `/files/de` comes before `/metadata` whichever
 * source, lockfile or drive they came from. null (the whole commit) stays null.
 */
export function sortedSubpaths(subpaths: readonly string[] | null): readonly string[] | null {
  return subpaths && [...new Set(subpaths)].sort(compareBytewise);
}

/**
 * The languages a Locale extension's pull subpaths hold (`/files/de` → de; `/metadata` is none), sorted; the whole
 * commit (null) is every language.
 */
export function subpathLanguages(subpaths: readonly string[] | null): readonly string[] | 'all' {
  if (subpaths === null) return 'all';
  return sortedLanguages(subpaths.filter((p) => p.startsWith('/files/')).map((p) => p.slice('/files/'.length)));
}

/** A Locale extension's languages by its pull subpaths (see subpathLanguages); undefined for any other ref. */
export function localeLanguages(
  ref: string,
  subpaths: readonly string[] | null,
): readonly string[] | 'all' | undefined {
  const parts = splitRef(ref);
  return parts?.kind === 'runtime' && parts.id.endsWith('.Locale') ? subpathLanguages(subpaths) : undefined;
}

/**
 * A PlannedRef for catalog entry `r` under collection `cid` (its commit, its remote when it has one); `fields`:
 * subpaths (default the whole commit), requestedBy, languages, and the commit when another was pinned.
 */
export function planned(
  r: SourceRef,
  collectionId: string,
  reason: PlanReason,
  fields: Partial<Pick<PlannedRef, 'commit' | 'subpaths' | 'requestedBy' | 'languages'>> = {},
): PlannedRef {
  return {
    collectionId,
    ref: r.ref,
    commit: fields.commit ?? r.commit,
    subpaths: fields.subpaths ?? null,
    reason,
    ...(fields.requestedBy !== undefined ? { requestedBy: fields.requestedBy } : {}),
    ...(fields.languages !== undefined ? { languages: fields.languages } : {}),
    ...(r.remote ? { remote: r.remote } : {}),
  };
}

/** The one entry of `hits` (undefined: none). @throws UsageError when several collections offer `ref`. */
export function onlyEntry(hits: readonly SourceRef[], ref: string): SourceRef | undefined {
  if (hits.length === 0) return undefined;
  if (hits.length > 1) {
    const cids = [...new Set(hits.map((h) => h.collectionId ?? '(none)'))];
    if (cids.length > 1)
      throw new UsageError(`ref '${ref}' is offered by several collections (${cids.join(', ')}); narrow the source`, {
        ref,
      });
  }
  return hits[0];
}

function narrow(langs: readonly string[]): { subpaths: string[]; languages: string[] } {
  return { subpaths: pullSubpathsFromDeploy(langs.map((l) => `/${l}`)) ?? ['/metadata'], languages: [...langs] };
}
