/**
 * The resolving half of a run: what each source offers and the ref arguments (or a lockfile's exact commits) →
 * `WantedRef`s with their commits' timestamps, the commits read on the way, and warnings. Reads sources; never a
 * drive. `create`, `lock` and `update` start here; the planner (plan.ts) takes it from there.
 */
import { expectFailure, NotFoundError, restate, type ErrorData } from '../errors.js';
import type { Warn, Warner } from '../warnings.js';
import { lookup, type VarDict } from '../gvariant/index.js';
import { parseRefArg, splitRef, type RefKind } from '../flatpak/ref.js';
import type { InstallationLocation } from '../flatpak/installation.js';
import { collectionBindingError, refBindingError, resolveRefs } from '../flatpak/resolve.js';
import type { ExtensionPolicy, PlannedRef } from '../flatpak/resolve-types.js';
import { mergeLanguages, sortedSubpaths, subpathLanguages } from '../flatpak/plan-builder.js';
import { commitBindings, commitRebase, commitVersion, type Commit, type CommitBindings } from '../ostree/commit.js';
import { decodeDirTree } from '../ostree/dirtree.js';
import { KEY } from '../ostree/formats.js';
import type { WantedRef } from './plan.js';
import { shellWord } from './drive-guide.js';
import { mirrorRefPath } from './publication.js';
import type { ListHint, Source } from './source.js';
import type { UpstreamPin } from './upstream-copy.js';

/** A ref pinned by a lockfile: exactly this commit, with these subpaths. */
export interface LockedRef {
  readonly collectionId: string;
  readonly ref: string;
  readonly commit: string;
  readonly subpaths: readonly string[] | null;
  readonly reason: PlannedRef['reason'];
  readonly languages?: readonly string[] | 'all';
}

/** One source of a run and what to take from it. */
export interface RunSource {
  readonly source: Source;
  /** Ref arguments as flatpak takes them, resolved with their runtime and extensions. */
  readonly refs?: readonly string[];
  /** Exact refs from a lockfile (no resolution: the lock already lists every dependency). */
  readonly locked?: readonly LockedRef[];
  /** What the lockfile recorded of this source's upstream summaries: a run that carries others warns. */
  readonly pinnedUpstream?: UpstreamPin;
  /** Collection ID for this source's refs when it names none. */
  readonly collectionId?: string;
}

/** How ref arguments are resolved (create and lock take the same options). */
export interface ResolveOptions {
  /** Match partial refs against these kinds only (`--app`, `--runtime`); default both. */
  readonly kinds?: readonly RefKind[];
  /** Arches for refs that name none; default the host arch. */
  readonly arches?: readonly string[];
  /** Languages of locale extensions; default: installation → the installed ones, repo/remote → all. */
  readonly locales?: readonly string[];
  /** Which related extensions to take. Default 'auto'. */
  readonly extensions?: ExtensionPolicy;
  /** Which related extensions refs new to the drive (not in `driveRefs`) bring; default `extensions`. */
  readonly newRefExtensions?: ExtensionPolicy;
  /**
   * The drive's refs with their subpaths: a Locale subset of a commit the drive holds in part joins the languages
   * there (plan.ts merges the subpaths), and its warning names them all; a runtime not among them is new to the drive.
   */
  readonly driveRefs?: ReadonlyArray<{
    readonly collectionId: string;
    readonly ref: string;
    readonly commit: string;
    readonly subpaths: readonly string[] | null;
  }>;
  readonly includeSdk?: boolean;
  /** How to tell users to give a remote a collection ID. */
  readonly remoteFixHint?: (remote: string, collectionId?: string, installation?: InstallationLocation) => string;
  /**
   * Copy these commits instead of the source's current ones: full ref or ref argument → checksum (`--commit`; the
   * same pinning a lockfile does, per ref).
   */
  readonly commits?: Readonly<Record<string, string>>;
}

export interface ResolvedRun {
  readonly wanted: readonly WantedRef[];
  readonly commits: Map<string, { commit: Commit; bytes: Uint8Array }>;
  /** Collection → the (first) source offering refs of it. */
  readonly collections: ReadonlyMap<string, Source>;
}

/** Node's arch names → flatpak's. */
export function hostArch(): string {
  const map: Record<string, string> = {
    x64: 'x86_64',
    arm64: 'aarch64',
    ia32: 'i386',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    loong64: 'loongarch64',
    riscv64: 'riscv64',
  };
  return map[process.arch] ?? process.arch;
}

/**
 * The arches a run plans for (a remote then fetches only their subsummaries): `arches` and the arch each of `refs`
 * names (a full ref, `appstream/ARCH`, a ref argument `ID/ARCH/…`); no hint (read everything) when one of them is a
 * ref of no arch (an OS ref), so that nothing it may need is left unread.
 */
export function listHint(refs: readonly string[], arches: readonly string[] = []): ListHint {
  const out = new Set(arches);
  for (const ref of refs) {
    const arch = splitRef(ref)?.arch ?? /^appstream2?\/([^/]+)$/.exec(ref)?.[1] ?? argArch(ref);
    if (arch === null) return {};
    if (arch !== undefined) out.add(arch);
  }
  return { arches: [...out] };
}

/** The arch a ref argument names (undefined: none, the run's arches), or null when it is no ref argument. */
function argArch(arg: string): string | undefined | null {
  try {
    return parseRefArg(arg).arch;
  } catch {
    return null;
  }
}

function stringMeta(meta: VarDict, key: string): string {
  const v = lookup(meta, key);
  return v?.type === 's' ? (v.value as string) : '';
}

/** What a run needs of a commit; the drive's own commits come with these facts (drive-state.ts). */
export interface KnownCommit {
  readonly timestamp: bigint;
  readonly version?: string;
  readonly bindings: CommitBindings;
  /** On the drive: only some subpaths of it are there. */
  readonly partial?: boolean;
}

/**
 * Resolves every source of a run. `known`: commits the drive already holds (their facts need no read from the
 * source: over HTTP an unchanged ref costs no request).
 */
export async function resolveRun(
  inputs: readonly RunSource[],
  opts: ResolveOptions,
  warner: Warner,
  known: ReadonlyMap<string, KnownCommit> = new Map(),
): Promise<ResolvedRun> {
  const commits = new Map<string, { commit: Commit; bytes: Uint8Array }>();
  const wanted: WantedRef[] = [];
  const collections = new Map<string, Source>();
  // An app of one source may run on a runtime another source of the run puts on the drive (a manifest's): a source
  // whose app lacks its runtime is resolved again once the others are, taking the runtime from them.
  const deferred: Array<[number, RunSource]> = [];
  /** Locale subsets to warn about once every source is resolved: not where another source plans the commit whole. */
  const partialLocales: Array<() => Promise<void>> = [];
  const onDrive = opts.driveRefs ? new Set(opts.driveRefs.map((r) => r.ref)) : undefined;
  for (const [index, input] of inputs.entries())
    await resolveOne(index, input).catch((e: unknown) => {
      if (inputs.length < 2 || !(e instanceof NotFoundError) || typeof e.data['requestedBy'] !== 'string') throw e;
      deferred.push([index, input]);
    });
  const plannedRefs = new Set(wanted.map((w) => w.ref));
  for (const [index, input] of deferred) await resolveOne(index, input, (ref) => plannedRefs.has(ref));
  for (const warnPartial of partialLocales) await warnPartial();
  return { wanted, commits, collections };

  async function resolveOne(index: number, input: RunSource, plannedElsewhere?: (ref: string) => boolean) {
    const { source } = input;
    const readCommit = async (c: string) => {
      let hit = commits.get(c);
      if (!hit) commits.set(c, (hit = await source.readCommit(c)));
      return hit;
    };
    let planned: readonly PlannedRef[];
    if (input.locked) {
      // Listing first tells a source where each commit is read: an installation's appstream may be the remote's
      // newer one, which its own repo does not have.
      await source.listRefs(listHint(input.locked.map((l) => l.ref)));
      planned = input.locked;
      for (const l of input.locked)
        if (!known.has(l.commit))
          await readCommit(l.commit).catch((e: unknown) => {
            if (e instanceof NotFoundError)
              throw new NotFoundError(
                `the lock pins '${l.ref}' at ${l.commit}, which ${source.description} no longer has; ` +
                  'lock again to move forward',
                { ref: l.ref, commit: l.commit },
                'ELOCKEDCOMMIT',
                { cause: e },
              );
            throw e;
          });
    } else {
      const plan = await resolveRefs({
        requested: input.refs ?? [],
        ...(opts.kinds ? { kinds: opts.kinds } : {}),
        ...(opts.arches ? { arches: opts.arches } : {}),
        hostArch: hostArch(),
        sourceKind: source.kind,
        catalog: await source.listRefs(
          listHint([...(input.refs ?? []), ...Object.keys(opts.commits ?? {})], opts.arches ?? [hostArch()]),
        ),
        metadataOf: async (r) =>
          r.metadataText ?? stringMeta((await readCommit(r.commit)).commit.metadata, KEY.xaMetadata),
        isExtraData: async (r) => {
          const eds = lookup((await readCommit(r.commit)).commit.metadata, KEY.xaExtraDataSources);
          return !!eds && Array.isArray(eds.value) && eds.value.length > 0;
        },
        ...(opts.locales ? { locales: opts.locales } : {}),
        ...(opts.extensions ? { extensions: opts.extensions } : {}),
        ...(opts.newRefExtensions ? { newRefExtensions: opts.newRefExtensions } : {}),
        ...(onDrive ? { onDrive } : {}),
        ...(opts.includeSdk ? { includeSdk: true } : {}),
        ...(input.collectionId ? { collectionId: input.collectionId } : {}),
        ...(opts.remoteFixHint ? { remoteFixHint: opts.remoteFixHint } : {}),
        bindingOf: async (r) => commitBindings((await readCommit(r.commit)).commit).collection || null,
        rebaseOf: async (r) => commitRebase((await readCommit(r.commit)).commit) ?? null,
        ...(opts.commits ? { commits: opts.commits } : {}),
        ...(plannedElsewhere ? { plannedElsewhere } : {}),
      }).catch((e: unknown) => outsideScope(e, source));
      for (const w of plan.warnings) warner.add(w);
      for (const w of source.takeWarnings?.() ?? []) warner.add(w);
      planned = plan.refs;
      for (const p of planned)
        // Not for a commit the drive holds whole, nor one another source of the run plans whole: the run keeps it
        // whole (plan.ts merges the subsets).
        if (p.languages !== undefined && p.subpaths && known.get(p.commit)?.partial !== false)
          partialLocales.push(async () => {
            const whole = wanted.some(
              (w) => w.collectionId === p.collectionId && w.ref === p.ref && w.commit === p.commit && !w.subpaths,
            );
            const there = opts.driveRefs?.find(
              (r) => r.collectionId === p.collectionId && r.ref === p.ref && r.commit === p.commit && r.subpaths,
            );
            const languages = there ? mergeLanguages(p.languages, subpathLanguages(there.subpaths), false) : undefined;
            if (!whole) await localeWarning(languages ? { ...p, languages } : p, readCommit, source, warner.warn);
          });
    }
    for (const p of planned) {
      // Every (collection, ref) becomes a path on the drive: refuse a hostile name before anything is written.
      mirrorRefPath(p.collectionId, p.ref);
      let facts = known.get(p.commit);
      if (!facts) {
        const { commit } = await readCommit(p.commit);
        const v = commitVersion(commit);
        facts = {
          timestamp: commit.timestamp,
          ...(v !== undefined ? { version: v } : {}),
          bindings: commitBindings(commit),
        };
      }
      // What clients check before they take a commit (format.md §8.4), refused here for every ref of the run, from a
      // lock, a --commit pin, a relabelling collection ID or a commit the drive already holds.
      const { collection, refs } = facts.bindings;
      if (collection !== undefined && collection !== p.collectionId)
        throw collectionBindingError(p.ref, p.commit, p.collectionId, collection);
      if (refs !== undefined && !refs.includes(p.ref)) throw refBindingError(p.ref, p.commit, refs);
      const version = facts.version;
      wanted.push({
        collectionId: p.collectionId,
        ref: p.ref,
        commit: p.commit,
        // Where subpaths enter the run's plan (from a source's resolution or a lockfile): in the one order.
        subpaths: sortedSubpaths(p.subpaths),
        reason: p.reason,
        timestamp: facts.timestamp,
        source: index,
        ...(p.requestedBy ? { requestedBy: p.requestedBy } : {}),
        ...(p.languages !== undefined ? { languages: p.languages } : {}),
        ...(version !== undefined ? { version } : {}),
      });
      if (!collections.has(p.collectionId)) collections.set(p.collectionId, source);
    }
  }
}

/**
 * A locale extension copied as a subset: name the languages a client cannot get from this drive (flatpak clients
 * that want another language silently skip the extension offline).
 */
async function localeWarning(
  p: PlannedRef,
  readCommit: (c: string) => Promise<{ commit: Commit; bytes: Uint8Array }>,
  source: Source,
  warn: Warn,
): Promise<void> {
  let warning: [string, ErrorData] | undefined;
  try {
    const { commit } = await readCommit(p.commit);
    const objects = source.objectsFor?.(p.commit) ?? source.objects; // a runtime's locale from another installation
    const root = decodeDirTree(await objects.readMetadata(commit.rootTree, 'dirtree'));
    const files = root.dirs.find((d) => d.name === 'files');
    if (!files) return;
    const all = decodeDirTree(await objects.readMetadata(files.tree, 'dirtree')).dirs.map((d) => d.name);
    const asked = Array.isArray(p.languages) ? p.languages : [];
    const absent = asked.filter((l) => !all.includes(l));
    const have = asked.filter((l) => all.includes(l));
    const missing = all.filter((l) => !have.includes(l));
    if (!missing.length && !absent.length) return;
    const lacks = absent.length
      ? `the source has no ${absent.join(', ')} for '${p.ref}' (it has ${all.join(', ') || 'no languages'}); `
      : '';
    const gets = have.length ? `with languages ${have.join(', ')} only` : 'without any language (its metadata only)';
    const skip = missing.length ? `; clients set to ${missing.join(', ')} will skip it offline` : '';
    warning = [
      `${lacks}'${p.ref}' goes on the drive ${gets}${skip}`,
      { ref: p.ref, languages: have, missing, ...(absent.length ? { notInSource: absent } : {}) },
    ];
  } catch (e) {
    // The subset itself is still copied; the warning is best-effort (a bug of ours is not hidden, though).
    expectFailure(e);
  }
  if (warning) warn('partial-locale', ...warning);
}

/**
 * A ref the source installation lacks may be deployed in another one that sideload does not read for it: a
 * requested ref in one not in scope (an installations.d one is read only when named), a runtime in the user's for
 * a system-wide installation (any, for --installation-dir). The error says where.
 */
async function outsideScope(e: unknown, source: Source): Promise<never> {
  const ref = e instanceof NotFoundError ? e.data['ref'] : undefined;
  const arch = e instanceof NotFoundError ? e.data['arch'] : undefined;
  const where =
    typeof ref === 'string' && e instanceof NotFoundError
      ? await source.deployedElsewhere?.(ref, typeof arch === 'string' ? arch : undefined)
      : null;
  if (!where || !(e instanceof NotFoundError)) throw e;
  const data = { ...e.data, installedIn: where.name };
  if (typeof e.data['requestedBy'] !== 'string')
    throw restate(e, `${e.message}; it is installed in the '${where.name}' installation: ${nameIt(where)}`, data);
  throw restate(
    e,
    `${e.message}; it is installed in the '${where.name}' installation, which sideload does not read for this one ` +
      '(as flatpak, it takes missing runtimes from the system-wide installations only; --installation-dir reads ' +
      'its root alone)',
    data,
  );
}

/** The option that names an installation to read, shell-quoted to paste (a name or root with spaces or quotes). */
export function nameIt(l: InstallationLocation): string {
  switch (l.kind) {
    case 'user':
      return 'name it with --user';
    case 'system':
      return 'name it with --system';
    case 'named':
      return `name it with --installation=${shellWord(l.name)}`;
    default:
      return `name it with --installation-dir ${shellWord(l.root)}`;
  }
}
