/**
 * The planner's first half (drive.md §3, format.md §8.2): requested ref arguments + what a source offers →
 * the refs to put on the drive (runtime, related extensions, locales, appstream), with a reason for each and typed
 * warnings for what was left out. Pure: facts come in through the catalog and two lookups; no IO of its own.
 */
import { NotFoundError, UnsupportedError, UsageError } from '../errors.js';
import { Warner, type Warning } from '../warnings.js';
import { parseKeyFile } from '../keyfile/index.js';
import type { SourceKind, SourceRef } from './catalog.js';
import { pullSubpathsFromDeploy } from './deploy.js';
import { extensionPoints } from './metadata.js';
import {
  didYouMean,
  isValidOstreeRef as isValidRef,
  parseRefArg,
  splitRef,
  type ParsedRefArg,
  type RefKind,
  type RefParts,
} from './ref.js';

export { didYouMean, isValidId, parseRefArg, splitRef, type ParsedRefArg, type RefKind, type RefParts } from './ref.js';
export { extensionPoints, type ExtensionPoint } from './metadata.js';

export type PlanReason = 'requested' | 'runtime' | 'related' | 'sdk' | 'appstream';

/** Which related extensions to take (`--extensions`). */
export type ExtensionPolicy =
  /** Locale and every extension a client would download by itself; of hardware-specific GL-style ones only `.default`. */
  | 'auto'
  /** Every candidate the source has (all GL drivers …). */
  | 'all'
  /** Locale extensions only. */
  | 'locale'
  /** No related refs at all. */
  | 'none';

export interface PlannedRef {
  readonly collectionId: string;
  readonly ref: string;
  readonly commit: string;
  /** Pull subdirs (`/metadata`, `/files/de`); null = the whole commit. */
  readonly subpaths: readonly string[] | null;
  readonly reason: PlanReason;
  /** The ref that pulled this one in. */
  readonly requestedBy?: string;
  readonly remote?: string;
  /** For locale extensions: the languages on the drive (`all` or a list). */
  readonly languages?: readonly string[] | 'all';
}

export interface ResolveInput {
  readonly requested: readonly string[];
  /** Restrict partial refs to these kinds (`--app`, `--runtime`); default both. */
  readonly kinds?: readonly RefKind[];
  /** Arches for refs that don't name one (`--arch`, repeatable); default the host arch. */
  readonly arches?: readonly string[];
  readonly hostArch: string;
  readonly sourceKind: SourceKind;
  readonly catalog: readonly SourceRef[];
  /** The flatpak metadata keyfile of a ref (deploy dir, xa.cache or the commit's xa.metadata). */
  metadataOf(r: SourceRef): Promise<string>;
  /** True when the ref's commit has `xa.extra-data-sources`. */
  isExtraData(r: SourceRef): Promise<boolean>;
  /** Languages for locale extensions (`--locales`); default: installation → what is installed, else all. */
  readonly locales?: readonly string[];
  readonly extensions?: ExtensionPolicy;
  /** Also copy the SDK of each app (`--include-sdk`). */
  readonly includeSdk?: boolean;
  /** Copy appstream/appstream2 of each collection and arch involved (default true). */
  readonly appstream?: boolean;
  /** A collection ID to use for refs whose source has none (`--collection-id`). */
  readonly collectionId?: string;
  /**
   * How to tell the user to fix a remote with no collection ID; `collectionId` is the one the ref's commit is bound
   * to (`ostree.collection-binding`), when it is.
   */
  remoteFixHint?(remote: string, collectionId?: string): string;
  /**
   * The collection a ref's commit is bound to (`ostree.collection-binding`), or null. With it, a ref is never put
   * under another collection (ostree's pull refuses such a commit), and a missing collection ID is suggested.
   */
  bindingOf?(r: SourceRef): Promise<string | null>;
  /**
   * Commit overrides (`--commit REF=CHECKSUM`, a lockfile): a full ref, or a ref argument exactly as requested,
   * → the commit to copy instead of the source's current one. Every key must name a ref of the plan.
   */
  readonly commits?: Readonly<Record<string, string>>;
}

export interface RefPlan {
  readonly refs: readonly PlannedRef[];
  readonly warnings: readonly Warning[];
}

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

/** Resolves the refs to copy. @throws NotFoundError / UsageError / UnsupportedError naming the ref at fault. */
export async function resolveRefs(input: ResolveInput): Promise<RefPlan> {
  const warner = new Warner(); // the run's Warner takes them (resolve-run.ts)
  const warn = warner.warn;
  const overrides = commitOverrides(input);
  input = { ...input, catalog: overrides.catalog };
  const byRef = new Map<string, SourceRef[]>();
  for (const r of input.catalog) byRef.set(r.ref, [...(byRef.get(r.ref) ?? []), r]);
  const planned = new Map<string, PlannedRef>();
  const policy = input.extensions ?? 'auto';
  const arches = input.arches && input.arches.length ? input.arches : [input.hostArch];
  const appstreamFor = new Set<string>(); // `${cid}\0${arch}`

  const one = (ref: string): SourceRef | undefined => {
    const hits = byRef.get(ref);
    if (!hits || hits.length === 0) return undefined;
    if (hits.length > 1) {
      const cids = [...new Set(hits.map((h) => h.collectionId ?? '(none)'))];
      if (cids.length > 1)
        throw new UsageError(`ref '${ref}' is offered by several collections (${cids.join(', ')}); narrow the source`, {
          ref,
        });
    }
    return hits[0];
  };

  const collectionOf = async (r: SourceRef, mandatory: boolean): Promise<string | null> => {
    const cid = r.collectionId ?? input.collectionId ?? null;
    if (cid) return cid;
    // Only for the message: reading every candidate's commit would fetch commits a drive update does not need (a
    // binding that contradicts the collection is refused when the commit is copied: collectionBindingError).
    const bound = input.bindingOf ? await input.bindingOf(r) : null;
    const hint =
      r.remote && input.remoteFixHint
        ? ` Fix it with: ${input.remoteFixHint(r.remote, bound ?? undefined)}`
        : bound
          ? ` Pass --collection-id ${bound} (the collection its commit is bound to).`
          : ' Pass --collection-id.';
    const what = r.remote
      ? `remote '${r.remote}' does not have a collection ID set, which is required to put '${r.ref}' on a drive.`
      : `no collection ID is known for '${r.ref}'.`;
    if (mandatory) throw new UsageError(what + hint, { ref: r.ref, ...(r.remote ? { remote: r.remote } : {}) });
    warn('no-collection-id', `omitting '${r.ref}': ${what}${hint}`, { ref: r.ref });
    return null;
  };

  const localeSubpaths = (r: SourceRef): { subpaths: string[] | null; languages: string[] | 'all' } => {
    if (input.sourceKind === 'installation') {
      const installed = (r.deploySubpaths ?? []).map((s) => s.replace(/^\//, ''));
      if (installed.length === 0) return input.locales ? narrow(input.locales) : { subpaths: null, languages: 'all' };
      const langs = input.locales ? input.locales.filter((l) => installed.includes(l)) : installed;
      const missing = input.locales ? input.locales.filter((l) => !installed.includes(l)) : [];
      if (missing.length)
        warn(
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
  };
  const narrow = (langs: readonly string[]) => ({
    subpaths: pullSubpathsFromDeploy(langs.map((l) => `/${l}`)) ?? ['/metadata'],
    languages: [...langs],
  });

  const add = (p: PlannedRef) => {
    const key = `${p.collectionId}\0${p.ref}`;
    const prev = planned.get(key);
    if (!prev) {
      planned.set(key, p);
      return;
    }
    // The whole commit wins over a subset; two subsets merge.
    let subpaths: readonly string[] | null = null;
    if (prev.subpaths && p.subpaths) subpaths = [...new Set([...prev.subpaths, ...p.subpaths])].sort();
    const keep = prev.reason === 'requested' ? prev : p.reason === 'requested' ? p : prev;
    planned.set(key, { ...keep, subpaths, ...(subpaths === null ? { languages: 'all' as const } : {}) });
  };

  const addRelated = async (owner: SourceRef, ownerCid: string) => {
    if (policy === 'none') return;
    const parts = splitRef(owner.ref);
    if (!parts) return;
    const kf = parseKeyFile(await input.metadataOf(owner));
    for (const ext of extensionPoints(kf, parts.branch)) {
      if (policy === 'locale' && !ext.isLocale) continue;
      for (const version of ext.versions) {
        const exact = `runtime/${ext.name}/${parts.arch}/${version}`;
        let candidates: SourceRef[] = [];
        const hit = one(exact);
        if (hit) candidates = [hit];
        else if (ext.subdirectories) {
          const prefix = `runtime/${ext.name}.`;
          const suffix = `/${parts.arch}/${version}`;
          candidates = input.catalog.filter(
            (c) => c.ref.startsWith(prefix) && c.ref.endsWith(suffix) && c.ref.split('/').length === 4,
          );
        }
        for (const c of candidates) {
          const cParts = splitRef(c.ref);
          if (!cParts) continue;
          if (
            policy === 'auto' &&
            input.sourceKind !== 'installation' &&
            !ext.isLocale &&
            (ext.noAutodownload || ext.conditions.length)
          ) {
            // Hardware-specific extensions (GL drivers …): take the `.default` one a client with the default driver uses.
            if (!(ext.subdirectories && cParts.id === `${ext.name}.default`)) continue;
          }
          if (await input.isExtraData(c)) {
            warn(
              'extra-data-skipped',
              `omitting related ref '${c.ref}' of '${owner.ref}': ` +
                'it is extra-data, which cannot be distributed offline',
              { ref: c.ref },
            );
            continue;
          }
          const cid = await collectionOf(c, false);
          if (!cid) continue;
          if (ext.isLocale) {
            const { subpaths, languages } = localeSubpaths(c);
            add({
              collectionId: cid,
              ref: c.ref,
              commit: c.commit,
              subpaths,
              reason: 'related',
              requestedBy: owner.ref,
              languages,
              ...(c.remote ? { remote: c.remote } : {}),
            });
          } else {
            const subpaths =
              input.sourceKind === 'installation' ? pullSubpathsFromDeploy(c.deploySubpaths ?? []) : null;
            add({
              collectionId: cid,
              ref: c.ref,
              commit: c.commit,
              subpaths,
              reason: 'related',
              requestedBy: owner.ref,
              ...(c.remote ? { remote: c.remote } : {}),
            });
          }
        }
      }
    }
    void ownerCid;
  };

  for (const arg of input.requested) {
    // A full ref that is not a flatpak ref (an OS commit `os/eos/amd64/master`, ostree's `test-1`): copied as it is.
    const plain = plainRef(arg, input, byRef, arches);
    if (plain) {
      if (plain.ref === METADATA_REF_NAME)
        throw new UsageError(`'${arg}' is written by sideload itself and cannot be copied`, { ref: arg });
      const cid = (await collectionOf(plain, true)) as string;
      add({
        collectionId: cid,
        ref: plain.ref,
        commit: overrides.forArg(arg) ?? plain.commit,
        subpaths: null,
        reason: 'requested',
        ...(plain.remote ? { remote: plain.remote } : {}),
      });
      continue;
    }
    const parsed = parseRefArg(arg, input.kinds);
    const wantArches = parsed.arch ? [parsed.arch] : arches;
    for (const arch of wantArches) {
      const matches = input.catalog.filter((r) => {
        const p = splitRef(r.ref);
        return (
          p !== null &&
          parsed.kinds.includes(p.kind) &&
          p.id === parsed.id &&
          p.arch === arch &&
          (parsed.branch === undefined || p.branch === parsed.branch)
        );
      });
      const distinct = [...new Set(matches.map((m) => m.ref))];
      if (distinct.length === 0) {
        const where = input.sourceKind === 'installation' ? 'is not installed in' : 'was not found in';
        const others = input.catalog.filter((r) => splitRef(r.ref)?.id === parsed.id).map((r) => r.ref);
        const similar = others.length
          ? []
          : didYouMean(
              parsed.id,
              input.catalog.map((r) => splitRef(r.ref)?.id).filter((x): x is string => !!x),
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
      const found = one(distinct[0] as string) as SourceRef;
      const pinned = overrides.forArg(arg);
      const main: SourceRef = pinned ? pinnedRef(found, pinned) : found;
      if (await input.isExtraData(main))
        throw new UnsupportedError(
          `'${main.ref}' is extra-data, and cannot be distributed offline`,
          { ref: main.ref },
          'EEXTRADATA',
        );
      const cid = (await collectionOf(main, true)) as string;
      const mainParts = splitRef(main.ref) as RefParts;
      let subpaths: readonly string[] | null = null;
      let languages: readonly string[] | 'all' | undefined;
      if (mainParts.id.endsWith('.Locale')) ({ subpaths, languages } = localeSubpaths(main));
      else if (input.sourceKind === 'installation' && main.deploySubpaths?.length) {
        // flatpak create-usb would pull the whole commit and fail on the objects it doesn't have.
        subpaths = pullSubpathsFromDeploy(main.deploySubpaths);
        warn(
          'partial-ref',
          `'${main.ref}' is only partially installed (${main.deploySubpaths.join(', ')}); copying that part`,
          { ref: main.ref },
        );
      }
      add({
        collectionId: cid,
        ref: main.ref,
        commit: main.commit,
        subpaths,
        reason: 'requested',
        ...(languages ? { languages } : {}),
        ...(main.remote ? { remote: main.remote } : {}),
      });
      appstreamFor.add(`${cid}\0${arch}`);

      if (mainParts.kind === 'app') {
        const kf = parseKeyFile(await input.metadataOf(main));
        const runtime = kf.get('Application', 'runtime');
        if (!runtime) throw new UnsupportedError(`'${main.ref}' has no runtime in its metadata`, { ref: main.ref });
        const runtimeRef = `runtime/${runtime}`;
        const rt = one(runtimeRef);
        if (!rt) {
          const where =
            input.sourceKind === 'installation'
              ? 'is not installed in the source installation'
              : 'is not in the source';
          throw new NotFoundError(`runtime '${runtimeRef}' needed by '${main.ref}' ${where}`, {
            ref: runtimeRef,
            requestedBy: main.ref,
          });
        }
        if (await input.isExtraData(rt)) {
          warn(
            'extra-data-skipped',
            `omitting runtime '${rt.ref}' of '${main.ref}' and its related refs: it is extra-data`,
            { ref: rt.ref },
          );
        } else {
          const rtCid = (await collectionOf(rt, true)) as string;
          const rtSub = input.sourceKind === 'installation' ? pullSubpathsFromDeploy(rt.deploySubpaths ?? []) : null;
          add({
            collectionId: rtCid,
            ref: rt.ref,
            commit: rt.commit,
            subpaths: rtSub,
            reason: 'runtime',
            requestedBy: main.ref,
            ...(rt.remote ? { remote: rt.remote } : {}),
          });
          await addRelated(rt, rtCid);
        }
        const sdk = kf.get('Application', 'sdk');
        if (input.includeSdk && sdk) {
          const sdkRef = one(`runtime/${sdk}`);
          if (!sdkRef)
            warn('sdk-missing', `SDK 'runtime/${sdk}' of '${main.ref}' is not in the source`, {
              ref: `runtime/${sdk}`,
            });
          else {
            const sdkCid = await collectionOf(sdkRef, false);
            if (sdkCid)
              add({
                collectionId: sdkCid,
                ref: sdkRef.ref,
                commit: sdkRef.commit,
                subpaths: null,
                reason: 'sdk',
                requestedBy: main.ref,
              });
          }
        }
      }
      await addRelated(main, cid);
    }
  }

  if (input.appstream ?? true) {
    for (const key of appstreamFor) {
      const [cid, arch] = key.split('\0') as [string, string];
      let found = false;
      for (const name of [`appstream/${arch}`, `appstream2/${arch}`]) {
        const hit = (byRef.get(name) ?? []).find((r) => (r.collectionId ?? input.collectionId) === cid);
        if (hit) {
          found = true;
          add({
            collectionId: cid,
            ref: name,
            commit: hit.commit,
            subpaths: null,
            reason: 'appstream',
            ...(hit.remote ? { remote: hit.remote } : {}),
          });
        }
      }
      if (!found)
        warn(
          'no-appstream',
          `no appstream data for collection '${cid}' (${arch}) in the source; ` +
            'offline clients will not show app details',
          { collectionId: cid, arch },
        );
    }
  }

  const refs = [...planned.values()].sort((a, b) =>
    a.collectionId + '\0' + a.ref < b.collectionId + '\0' + b.ref ? -1 : 1,
  );
  overrides.checkUsed(refs);
  return { refs, warnings: warner.warnings };
}

const METADATA_REF_NAME = 'ostree-metadata';
const CHECKSUM = /^[0-9a-f]{64}$/;

/** A catalog entry moved to another commit: what the deploy dir says about the old commit no longer applies. */
function pinnedRef(r: SourceRef, commit: string): SourceRef {
  if (r.commit === commit) return r;
  return {
    ref: r.ref,
    collectionId: r.collectionId,
    commit,
    ...(r.remote ? { remote: r.remote } : {}),
    ...(r.deploySubpaths ? { deploySubpaths: r.deploySubpaths } : {}),
  };
}

/** `--commit` overrides: full-ref keys rewrite the catalog; argument keys apply where that argument resolves. */
function commitOverrides(input: ResolveInput) {
  const commits = input.commits ?? {};
  for (const [key, c] of Object.entries(commits))
    if (!CHECKSUM.test(c))
      throw new UsageError(`--commit '${key}=${c}': '${c}' is not a commit checksum (64 lower-case hex digits)`, {
        ref: key,
        commit: c,
      });
  const used = new Set<string>();
  const catalog = input.catalog.map((r) => {
    const c = commits[r.ref];
    if (c === undefined) return r;
    used.add(r.ref);
    return pinnedRef(r, c);
  });
  return {
    catalog,
    forArg(arg: string): string | undefined {
      const c = commits[arg];
      if (c !== undefined) used.add(arg);
      return c;
    },
    checkUsed(refs: readonly PlannedRef[]) {
      for (const key of Object.keys(commits)) {
        if (used.has(key) && (refs.some((p) => p.ref === key) || input.requested.includes(key))) continue;
        throw new NotFoundError(
          `--commit '${key}=${commits[key]}': '${key}' is not a ref of this drive ` +
            '(name a ref given on the command line, or one it pulls in, in full)',
          { ref: key },
        );
      }
    },
  };
}

/**
 * A requested argument that names a non-flatpak ref of the source in full (`test-1`, `os/eos/amd64/master`), when
 * it does not also resolve as a partial flatpak ref (which keeps its meaning). null: a flatpak ref argument.
 * @throws NotFoundError for a valid ref name the source lacks that cannot be a flatpak ref either.
 */
function plainRef(
  arg: string,
  input: ResolveInput,
  byRef: ReadonlyMap<string, readonly SourceRef[]>,
  arches: readonly string[],
): SourceRef | null {
  if (/^(app|runtime)\//.test(arg)) return null;
  let parsed: ParsedRefArg | null = null;
  try {
    parsed = parseRefArg(arg, input.kinds);
  } catch {
    parsed = null;
  }
  const hits = byRef.get(arg) ?? [];
  if (hits.length === 0) {
    if (parsed || !isValidRef(arg)) return null; // the flatpak path reports it
    throw new NotFoundError(
      `ref '${arg}' ${input.sourceKind === 'installation' ? 'is not in' : 'was not found in'} the source`,
      { ref: arg },
    );
  }
  if (parsed) {
    const p = parsed;
    const wantArches = p.arch ? [p.arch] : arches;
    const flatpakMatch = input.catalog.some((r) => {
      const s = splitRef(r.ref);
      return (
        s !== null &&
        p.kinds.includes(s.kind) &&
        s.id === p.id &&
        wantArches.includes(s.arch) &&
        (p.branch === undefined || s.branch === p.branch)
      );
    });
    if (flatpakMatch) return null;
  }
  const cids = [...new Set(hits.map((h) => h.collectionId ?? '(none)'))];
  if (cids.length > 1)
    throw new UsageError(`ref '${arg}' is offered by several collections (${cids.join(', ')}); narrow the source`, {
      ref: arg,
    });
  return hits[0] as SourceRef;
}
