/**
 * `createDrive`: applies a plan. Resolves the refs (flatpak/resolve.ts), copies their objects into a staging area
 * inside the drive repo, checks and stages the upstream summaries, builds the ostree-metadata commits and the
 * summary, and publishes it all in one journaled step (publish.ts). An interrupted or failed run leaves the drive
 * as it was (apart from staged objects kept for a later resume under tmp/). Never writes to the console.
 */
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import fs from 'fs-extra';
import { InterruptedError, SideloadError, UsageError, type Warning } from '../errors.js';
import { lookup, type VarDict } from '../gvariant/index.js';
import { resolveRefs, splitRef, type ExtensionPolicy, type PlannedRef, type RefKind } from '../flatpak/resolve.js';
import { encodeDetached } from '../sign/index.js';
import { decodeCommit, commitVersion, type Commit } from '../ostree/commit.js';
import { decodeDirTree } from '../ostree/dirtree.js';
import { KEY, METADATA_REF } from '../ostree/formats.js';
import { openOrCreateArchiveRepo, openStaging, copyCommit, refPath, type ArchiveRepo, type Staging } from '../repo/index.js';
import { buildSummary, type SummaryRef } from '../summary/summary.js';
import { buildMetadataCommit, EMPTY_DIRTREE_BYTES, ROOT_DIRMETA_BYTES, SIDELOAD_SUBPATHS_KEY } from '../summary/metadata-commit.js';
import { EMPTY_DIRTREE, ROOT_DIRMETA } from '../ostree/formats.js';
import { Ed25519Signer } from '../sign/index.js';
import { checkWritable, ensureReposDLink, locateDrive, probeSymlinks, type DriveLocation } from './drive.js';
import type { ProgressCallback } from './events.js';
import { publish, replay, type PublishOp } from './publish.js';
import { checkRepoTree } from './drive-fs.js';
import type { Source } from './source.js';
import { checkUpstream, type UpstreamPolicy } from './upstream.js';

export const UPSTREAM_DIR = 'extensions/sideload/upstream';

export interface CreateOptions {
  /** The drive (mount) directory. */
  readonly drive: string;
  /** Ref arguments as flatpak takes them (`org.example.App`, `app/org.example.App/x86_64/stable` …). */
  readonly refs: readonly string[];
  /** Repo path relative to the drive; default `.ostree/repo`. */
  readonly destinationRepo?: string;
  readonly kinds?: readonly RefKind[];
  /** Arches for refs that name none; default the host arch. */
  readonly arches?: readonly string[];
  /** Languages of locale extensions; default: installation → the installed ones, repo/remote → all. */
  readonly locales?: readonly string[];
  /** Which related extensions to take. Default 'auto'. */
  readonly extensions?: ExtensionPolicy;
  readonly includeSdk?: boolean;
  /** Collection ID for source refs that have none. */
  readonly collectionId?: string;
  /** Allow replacing a ref on the drive by an older commit. Default false. */
  readonly allowDowngrade?: boolean;
  /** Treat partial-install warnings as expected (flatpak's --allow-partial). */
  readonly allowPartial?: boolean;
  /** Turn every warning into an error. */
  readonly strict?: boolean;
  /** What to do with upstream summaries. Default 'require-signature'. */
  readonly upstream?: UpstreamPolicy;
  /** ed25519 secret key (64 bytes) to sign the summary and the ostree-metadata commits. */
  readonly signKey?: Uint8Array;
  /** Only plan; copy nothing. */
  readonly dryRun?: boolean;
  /** fsync files and directories (default true). false is for throwaway targets, like ostree's --disable-fsync. */
  readonly fsync?: boolean;
  /** zlib level for content recompressed from bare sources (default 6, as ostree). */
  readonly compressionLevel?: number;
  /** The clock for `ostree.summary.last-modified` (default: SOURCE_DATE_EPOCH or now). */
  readonly now?: () => bigint;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
  readonly onWarning?: (w: Warning) => void;
  /** How to tell users to give a remote a collection ID. */
  readonly remoteFixHint?: (remote: string) => string;
}

export interface DriveRef {
  readonly collectionId: string;
  readonly ref: string;
  readonly commit: string;
  readonly reason: string;
  readonly subpaths: readonly string[] | null;
  readonly partial: boolean;
  readonly languages?: readonly string[] | 'all';
  /** 'added' | 'updated' | 'unchanged' */
  readonly change: 'added' | 'updated' | 'unchanged' | 'planned';
}

export interface CreateResult {
  readonly drive: string;
  readonly repo: string;
  readonly dryRun: boolean;
  readonly refs: readonly DriveRef[];
  readonly objects: { readonly copied: number; readonly skipped: number; readonly bytes: number };
  readonly metadataCommits: Readonly<Record<string, string>>;
  readonly upstream: Readonly<Record<string, { signedBy: readonly string[]; root: string; files: number } | null>>;
  readonly summary?: { readonly lastModified: bigint; readonly signed: boolean };
  readonly reposDLink?: string | null;
  readonly warnings: readonly Warning[];
}

function nowSeconds(): bigint {
  const sde = process.env['SOURCE_DATE_EPOCH'];
  if (sde && /^\d+$/.test(sde)) return BigInt(sde);
  return BigInt(Math.floor(Date.now() / 1000));
}

/** The ref file path on the drive for a collection ref. */
export function mirrorRefPath(cid: string, ref: string): string {
  // Names from a source (a remote's summary, an installation's config) become paths here: validate both.
  return refPath({ kind: 'mirrors', collectionId: cid, ref });
}

/** Builds or updates a drive. See CreateOptions. */
export async function createDrive(opts: CreateOptions, source: Source): Promise<CreateResult> {
  const warnings: Warning[] = [];
  const warn = (w: Warning) => {
    if (opts.allowPartial && (w.code === 'partial-ref' || w.code === 'partial-locale')) return;
    warnings.push(w);
    opts.onWarning?.(w);
  };
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new InterruptedError('interrupted; the drive was left as it was');
  };
  const loc = await locateDrive(opts.drive, opts.destinationRepo);
  if (opts.refs.length === 0) throw new UsageError('no refs given: name at least one app or runtime');

  // --- plan ---
  opts.onProgress?.({ phase: 'plan', objectsDone: 0, bytesDone: 0 });
  const catalog = await source.listRefs();
  const commitCache = new Map<string, { commit: Commit; bytes: Uint8Array }>();
  const readCommit = async (c: string) => {
    let hit = commitCache.get(c);
    if (!hit) {
      hit = await source.readCommit(c);
      commitCache.set(c, hit);
    }
    return hit;
  };
  const plan = await resolveRefs({
    requested: opts.refs,
    ...(opts.kinds ? { kinds: opts.kinds } : {}),
    ...(opts.arches ? { arches: opts.arches } : {}),
    hostArch: hostArch(),
    sourceKind: source.kind,
    catalog,
    metadataOf: async (r) => r.metadataText ?? stringMeta((await readCommit(r.commit)).commit.metadata, KEY.xaMetadata),
    isExtraData: async (r) => {
      const eds = lookup((await readCommit(r.commit)).commit.metadata, KEY.xaExtraDataSources);
      return !!eds && Array.isArray(eds.value) && eds.value.length > 0;
    },
    ...(opts.locales ? { locales: opts.locales } : {}),
    ...(opts.extensions ? { extensions: opts.extensions } : {}),
    ...(opts.includeSdk ? { includeSdk: true } : {}),
    ...(opts.collectionId ? { collectionId: opts.collectionId } : {}),
    ...(opts.remoteFixHint ? { remoteFixHint: opts.remoteFixHint } : {}),
  });
  // Every (collection, ref) becomes a path on the drive: refuse a hostile name before anything is written.
  for (const p of plan.refs) mirrorRefPath(p.collectionId, p.ref);
  for (const w of plan.warnings) warn(w);
  for (const p of plan.refs) if (p.languages !== undefined && p.subpaths) await localeWarning(p, readCommit, source, warn);
  if (opts.strict && warnings.length) throw new SideloadError('ESTRICT', `--strict: ${warnings[0]?.message}`, { warnings });

  if (opts.dryRun) {
    return {
      drive: loc.drive, repo: loc.repo, dryRun: true,
      refs: plan.refs.map((p) => toDriveRef(p, 'planned')),
      objects: { copied: 0, skipped: 0, bytes: 0 }, metadataCommits: {}, upstream: {}, warnings,
    };
  }

  // --- preflight: everything that can fail without touching the drive ---
  await checkWritable(loc);
  if (loc.repoRel !== path.normalize('.ostree/repo') && loc.repoRel !== path.normalize('ostree/repo')) await probeSymlinks(loc);
  if (source.localRepoPath && (await samePath(source.localRepoPath, loc.repo)))
    throw new UsageError(`the destination repo '${loc.repo}' is the source repo itself`, { path: loc.repo });
  checkAbort();

  // Remember what this run creates, so a failed first run leaves the drive as it was (no empty repo skeleton).
  await checkRepoTree(loc.repo); // no symlinked directory in the repo may redirect a write (drive-fs.ts)
  const createdDir = await outermostMissing(loc.repo, loc.drive);
  const dest = await openOrCreateArchiveRepo(loc.repo);
  // The drive's write lock comes first: a publish left pending by an interrupted run is finished under it, so two
  // processes never replay or write at once.
  const staging = await openStaging(dest, { fsync: opts.fsync ?? true, ...(opts.compressionLevel !== undefined ? { compressionLevel: opts.compressionLevel } : {}) });
  let keepStaging = false;
  let journaled = false;
  try {
    await replay(loc.repo, opts.fsync ?? true);
    const existing = await dest.listMirrorRefs(); // Map<cid, Map<ref, checksum>>

    // Refuse downgrades before copying anything.
    for (const p of plan.refs) {
      const old = existing.get(p.collectionId)?.get(p.ref);
      if (!old || old === p.commit || opts.allowDowngrade) continue;
      const oldCommit = await dest.readCommit(old).catch(() => null);
      const newCommit = (await readCommit(p.commit)).commit;
      if (oldCommit && newCommit.timestamp < oldCommit.commit.timestamp)
        throw new SideloadError(
          'EDOWNGRADE',
          `'${p.ref}' on the drive is at ${old.slice(0, 12)}… (${isoTime(oldCommit.commit.timestamp)}), newer than ${p.commit.slice(0, 12)}… (${isoTime(newCommit.timestamp)}) from the source; pass --allow-downgrade to replace it`,
          { ref: p.ref, drive: old, source: p.commit },
        );
    }

    // --- copy ---
    let copied = 0;
    let skipped = 0;
    let bytes = 0;
    let refIndex = 0;
    for (const p of plan.refs) {
      checkAbort();
      // One running count over all refs: objects and bytes of the refs already copied plus this one's.
      const [objBase, byteBase] = [copied + skipped, bytes];
      refIndex++;
      // As ostree's pull does: a commit the drive already holds in full (no commitpartial marker) is complete, so
      // an unchanged ref costs one stat, not a walk. `sideload verify` is the full check of a drive.
      if (p.subpaths === null && (await staging.inDestination(p.commit, 'commit')) && !(await fs.pathExists(path.join(loc.repo, 'state', `${p.commit}.commitpartial`)))) {
        skipped++;
        continue;
      }
      const r = await copyCommit(source.objects, staging, p.commit, {
        subpaths: p.subpaths,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (e) =>
          opts.onProgress?.({
            phase: 'copy',
            ref: p.ref,
            refIndex,
            refCount: plan.refs.length,
            objectsDone: objBase + e.objectsDone,
            ...(e.objectsTotal !== undefined ? { objectsTotal: objBase + e.objectsTotal } : {}),
            bytesDone: byteBase + e.bytesDone,
          }),
      });
      copied += r.copied;
      skipped += r.skipped;
      bytes += r.bytes;
    }

    // --- upstream summaries ---
    const upstreamResult: Record<string, { signedBy: readonly string[]; root: string; files: number } | null> = {};
    const upstreamMeta = new Map<string, VarDict>();
    const ops: PublishOp[] = [];
    const cids = [...new Set(plan.refs.map((p) => p.collectionId))].sort();
    const policy = opts.upstream ?? 'require-signature';
    for (const cid of cids) {
      checkAbort();
      const meta = await source.upstreamMetadata(cid);
      if (meta) upstreamMeta.set(cid, meta);
      if (policy === 'skip') continue;
      const up = await source.upstreamSummary(cid);
      if (!up) {
        upstreamResult[cid] = null;
        warn({ code: 'no-upstream-summary', message: `no upstream summary for '${cid}' is available from ${source.description}; the drive will not carry one`, data: { collectionId: cid } });
        continue;
      }
      const check = await checkUpstream(cid, up, await source.trustedKeys(cid), policy, (b) => new Uint8Array(gunzipSync(b)));
      if (!upstreamMeta.has(cid)) upstreamMeta.set(cid, check.metadata);
      const rel = `${UPSTREAM_DIR}/${cid}`;
      const stagedDir = await staging.stageTree(rel, up.files, {
        'sideload.json': JSON.stringify({ origin: up.origin, signedBy: check.signedBy, keys: check.keys, root: check.root, files: [...up.files.keys()].sort() }, null, 2) + '\n',
      });
      ops.push({ op: 'replace', from: stagedDir, to: rel });
      upstreamResult[cid] = { signedBy: check.signedBy, root: check.root, files: up.files.size };
    }

    // --- final ref set, ostree-metadata commits, summary ---
    const final = new Map<string, Map<string, string>>();
    for (const [cid, refs] of existing) final.set(cid, new Map([...refs].filter(([r]) => r !== METADATA_REF)));
    for (const p of plan.refs) {
      if (!final.has(p.collectionId)) final.set(p.collectionId, new Map());
      final.get(p.collectionId)?.set(p.ref, p.commit);
    }
    const lastModified = (opts.now ?? nowSeconds)();
    // Pull subpaths of the partial refs, recorded in sideload.subpaths: this run's plan, else (refs kept from an
    // earlier run, at the same commit) what the drive's previous ostree-metadata commit recorded.
    const subpathsOf = new Map<string, readonly string[] | null>();
    for (const [cid, refs] of existing) {
      const prev = refs.get(METADATA_REF);
      const sp = prev ? lookup((await dest.readCommit(prev).catch(() => null))?.commit.metadata ?? [], SIDELOAD_SUBPATHS_KEY) : undefined;
      if (sp?.type === 'a{sas}') for (const [ref, paths] of sp.value as Array<[string, string[]]>) subpathsOf.set(`${cid}\0${ref}\0${refs.get(ref) ?? ''}`, paths);
    }
    for (const p of plan.refs) subpathsOf.set(`${p.collectionId}\0${p.ref}\0${p.commit}`, p.subpaths);
    const summaryRefs = async (cid: string): Promise<Array<SummaryRef & { commitMetadata: VarDict; subpaths: readonly string[] | null }>> => {
      const out: Array<SummaryRef & { commitMetadata: VarDict; subpaths: readonly string[] | null }> = [];
      for (const [ref, checksum] of final.get(cid) ?? []) {
        const c = commitCache.get(checksum) ?? (await dest.readCommit(checksum).catch(() => null)) ?? (await staging.readCommit(checksum));
        const version = commitVersion(c.commit);
        const subpaths = subpathsOf.get(`${cid}\0${ref}\0${checksum}`) ?? null;
        out.push({ ref, checksum, commitSize: c.bytes.length, timestamp: c.commit.timestamp, ...(version !== undefined ? { version } : {}), commitMetadata: c.commit.metadata, subpaths });
      }
      return out;
    };
    const signer = opts.signKey ? new Ed25519Signer(opts.signKey) : null;
    const collections = new Map<string, SummaryRef[]>();
    const metadataCommits: Record<string, string> = {};
    for (const cid of [...final.keys()].sort()) {
      const refs = await summaryRefs(cid);
      const prev = existing.get(cid)?.get(METADATA_REF) ?? null;
      const { bytes: mbytes, commit: mcommit } = buildMetadataCommit({
        collectionId: cid, refs, parent: prev, timestamp: lastModified,
        ...(upstreamMeta.get(cid) ? { upstream: upstreamMeta.get(cid) as VarDict } : {}),
      });
      await staging.writeMetadata('dirtree', EMPTY_DIRTREE, EMPTY_DIRTREE_BYTES);
      await staging.writeMetadata('dirmeta', ROOT_DIRMETA, ROOT_DIRMETA_BYTES);
      const mcsum = await staging.writeMetadata('commit', null, mbytes);
      if (signer) await staging.writeCommitMeta(mcsum, encodeDetached([[signer.metadataKey, [await signer.sign(mbytes)]]]));
      metadataCommits[cid] = mcsum;
      collections.set(cid, [...refs, { ref: METADATA_REF, checksum: mcsum, commitSize: mbytes.length, timestamp: mcommit.timestamp }]);
    }
    const summaryBytes = buildSummary({ collections, lastModified });
    const stagedSummary = await staging.stageFile('summary', summaryBytes);
    ops.push({ op: 'replace', from: stagedSummary, to: 'summary' });
    if (signer) {
      const sig = encodeDetached([[signer.metadataKey, [await signer.sign(summaryBytes)]]]);
      ops.push({ op: 'replace', from: await staging.stageFile('summary.sig', sig), to: 'summary.sig' });
    } else ops.push({ op: 'remove', path: 'summary.sig' });

    // Ref and partial-marker changes.
    const refOps: PublishOp[] = [];
    for (const cid of [...final.keys()].sort()) {
      for (const [ref, checksum] of final.get(cid) ?? []) refOps.push({ op: 'ref', path: mirrorRefPath(cid, ref), checksum });
      refOps.push({ op: 'ref', path: mirrorRefPath(cid, METADATA_REF), checksum: metadataCommits[cid] as string });
    }
    for (const p of plan.refs) refOps.push({ op: 'partial', commit: p.commit, present: p.subpaths !== null });
    checkAbort();

    // --- publish: objects first, then the journaled step ---
    opts.onProgress?.({ phase: 'publish', objectsDone: 0, bytesDone: 0 });
    await staging.publish();
    // From here the journal names staged files (summary, upstream copy): the staging area must survive a failure,
    // so that the next run (or `verify --repair`) can finish the publish.
    journaled = true;
    await publish(loc.repo, [...refOps, ...ops], opts.fsync ?? true);
    const link = await ensureReposDLink(loc);

    const driveRefs: DriveRef[] = plan.refs.map((p) => {
      const old = existing.get(p.collectionId)?.get(p.ref);
      return toDriveRef(p, old === undefined ? 'added' : old === p.commit ? 'unchanged' : 'updated');
    });
    return {
      drive: loc.drive, repo: loc.repo, dryRun: false, refs: driveRefs,
      objects: { copied, skipped, bytes }, metadataCommits, upstream: upstreamResult,
      summary: { lastModified, signed: signer !== null }, reposDLink: link, warnings,
    };
  } catch (e) {
    // Keep staged objects for a resume after an interrupt or a network failure; drop them otherwise.
    keepStaging = journaled || e instanceof InterruptedError || (e instanceof SideloadError && e.code === 'ENETWORK');
    throw e;
  } finally {
    if (!keepStaging) await staging.discard().catch(() => {});
    else await staging.close({ keepFiles: journaled }).catch(() => {});
    // A first run that failed for good: remove the repo it created (nothing was published into it).
    if (!keepStaging && createdDir && !(await fs.pathExists(path.join(loc.repo, 'summary'))))
      await fs.rm(createdDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** The outermost directory between `stop` (excluded) and `dir` that does not exist yet, or null. */
async function outermostMissing(dir: string, stop: string): Promise<string | null> {
  let found: string | null = null;
  let d = path.resolve(dir);
  const top = path.resolve(stop);
  while (d !== top && d.startsWith(top + path.sep) && !(await fs.pathExists(d))) {
    found = d;
    d = path.dirname(d);
  }
  return found;
}

function toDriveRef(p: PlannedRef, change: DriveRef['change']): DriveRef {
  return {
    collectionId: p.collectionId, ref: p.ref, commit: p.commit, reason: p.reason, subpaths: p.subpaths,
    partial: p.subpaths !== null, ...(p.languages !== undefined ? { languages: p.languages } : {}), change,
  };
}

function stringMeta(meta: VarDict, key: string): string {
  const v = lookup(meta, key);
  return v?.type === 's' ? (v.value as string) : '';
}

/** Node's arch names → flatpak's. */
export function hostArch(): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i386', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', loong64: 'loongarch64', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

function isoTime(ts: bigint): string {
  return new Date(Number(ts) * 1000).toISOString().replace('.000Z', 'Z');
}

async function samePath(a: string, b: string): Promise<boolean> {
  try {
    return (await fs.realpath(a)) === (await fs.realpath(b));
  } catch {
    return false;
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
  warn: (w: Warning) => void,
): Promise<void> {
  try {
    const { commit } = await readCommit(p.commit);
    const root = decodeDirTree(await source.objects.readMetadata(commit.rootTree, 'dirtree'));
    const files = root.dirs.find((d) => d.name === 'files');
    if (!files) return;
    const all = decodeDirTree(await source.objects.readMetadata(files.tree, 'dirtree')).dirs.map((d) => d.name);
    const have = Array.isArray(p.languages) ? p.languages : [];
    const missing = all.filter((l) => !have.includes(l));
    if (missing.length)
      warn({
        code: 'partial-locale',
        message: `'${p.ref}' goes on the drive with languages ${have.join(', ') || '(none)'} only; clients set to ${missing.join(', ')} will skip it offline`,
        data: { ref: p.ref, languages: have, missing },
      });
  } catch {
    // The subset itself is still copied; the warning is best-effort.
  }
}

export type { DriveLocation, ArchiveRepo, Staging };
export { splitRef };
