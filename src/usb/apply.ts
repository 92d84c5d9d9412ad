/**
 * Applies a DrivePlan (the one place that writes a drive for create, update and remove): preflight checks that need
 * no write (upstream signatures, writability, symlinks, free space against the copy estimate), then — unless this
 * is a dry run or there is nothing to change — copy into the staging area, stage the upstream copies and the
 * publication, and publish them in one journaled step. An interrupted or failed run leaves the drive as it was.
 */
import path from 'node:path';
import fs from 'fs-extra';
import {
  FailureError,
  InternalError,
  InterruptedError,
  NetworkError,
  UnsupportedError,
  UsageError,
} from '../errors.js';
import type { Warner } from '../warnings.js';
import type { VarDict } from '../gvariant/index.js';
import { lookup } from '../gvariant/index.js';
import type { Commit } from '../ostree/commit.js';
import { EMPTY_DIRTREE, METADATA_REF, ROOT_DIRMETA } from '../ostree/formats.js';
import { objectPath } from '../ostree/object.js';
import { MAX_METADATA_SIZE } from '../repo/archive-source.js';
import { readLocalFile } from '../transport/local.js';
import { copyCommit, createArchiveRepo, openStaging, Repo, syncIfFuse } from '../repo/index.js';
import { mapLimit } from '../repo/for-each-limit.js';
import { EMPTY_DIRTREE_BYTES, ROOT_DIRMETA_BYTES, UPSTREAM_KEYS } from '../summary/metadata-commit.js';
import { Ed25519Signer, publicKeyOf } from '../sign/index.js';
import {
  checkCanWrite,
  checkCaseCollisions,
  checkWritable,
  ensureReposDLink,
  fullDriveError,
  probeSymlinks,
  type DriveLocation,
} from './drive.js';
import {
  driveChanged,
  readDriveState,
  repoIntact,
  summaryAgrees,
  summarySignatureOf,
  summarySignedWith,
  type DriveState,
} from './drive-state.js';
import { driveSpace, estimateCopy, type CopyEstimate } from './estimate.js';
import { CopyFraction } from './copy-progress.js';
import { commitSize } from '../flatpak/metadata.js';
import type { ProgressCallback } from './events.js';
import { entriesToCopy, type DrivePlan, type PlanEntry } from './plan.js';
import { buildPublication, mirrorRefPath } from './publication.js';
import { listLeftovers, publish, replay, type PublishOp } from './publish.js';
import { checkRepoTree } from './drive-fs.js';
import { existingAncestor, outermostMissing, samePath } from './path-facts.js';
import { driveGuideCurrent, driveGuideWrites, stageDriveGuide, type GuideWrites } from './drive-guide-stage.js';
import { remoteOnly, type Source } from './source.js';
import type { DeflateEngine } from '../repo/libdeflate.js';
import type { CopyWorkerPool } from '../repo/worker-pool.js';
import { damagedRefs } from './repair.js';
import type { UpstreamPolicy } from './upstream.js';
import { checkCommitSignatures } from './commit-signatures.js';
import { sourceDateEpoch } from './source-date.js';
import {
  checkUpstreamPins,
  prepareUpstreams,
  upstreamOnDrive,
  UPSTREAM_DIR,
  type UpstreamPin,
  type UpstreamSet,
} from './upstream-copy.js';

export interface ApplyOptions {
  readonly dryRun?: boolean;
  /** fsync files and directories (default true). */
  readonly fsync?: boolean;
  readonly compressionLevel?: number;
  /** The copy workers' deflate (default 'auto': libdeflate when the system has it, else zlib; repo/libdeflate.ts). */
  readonly deflate?: DeflateEngine;
  /** ed25519 secret key (64 bytes) for the summary and the ostree-metadata commits. */
  readonly signKey?: Uint8Array;
  /**
   * Publish unsigned although the drive's summary is signed. Without it (and without `signKey`), a run that has to
   * publish on a signed drive refuses, before writing: dropping the drive's signature is never a side effect.
   */
  readonly unsigned?: boolean;
  /** What to do with upstream summaries. Default 'require-signature'. */
  readonly upstream?: UpstreamPolicy;
  /** Turn every warning into an error: the run's Warner throws at the first (all come before anything is written). */
  readonly strict?: boolean;
  /** The clock for `ostree.summary.last-modified` (default: SOURCE_DATE_EPOCH or now). */
  readonly now?: () => bigint;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
  /** Copy commits that are unsigned or signed by an untrusted key although the source's keys are known. */
  readonly allowUnsignedCommits?: boolean;
  /**
   * Walk every ref the drive keeps (unchanged and kept ones too) and re-hash each object it reaches: a ref with a
   * missing or corrupt object is copied again from a source that holds its commit, corrupt objects replaced. A drive
   * with nothing to mend is only read.
   */
  readonly repair?: boolean;
}

export interface ApplyInput {
  readonly loc: DriveLocation;
  readonly state: DriveState;
  readonly plan: DrivePlan;
  readonly sources: readonly Source[];
  /** Commits read from the sources while resolving (checksum → decoded commit and bytes). */
  readonly commits: Map<string, { commit: Commit; bytes: Uint8Array }>;
  /**
   * `update`: take the source's detached signatures of commits the drive keeps (an upstream that re-signed them with
   * a new key) from every source, remote ones too, so the drive verifies with the keys it now hands out. Without it
   * (`create`), from local sources only: what mends a lost or damaged `.commitmeta`.
   */
  readonly refreshSignatures?: boolean;
  /** Collections whose upstream copy this run refreshes, with the source that offers each. */
  readonly upstreamFrom: ReadonlyMap<string, Source>;
  /** collection → what a lockfile recorded of its upstream summary (a run from a lock). */
  readonly upstreamPins?: ReadonlyMap<string, UpstreamPin>;
  /** The run's warnings (strict or not: see `strict`). */
  readonly warner: Warner;
  /** Copy workers started while the run planned (create.ts): the staging area takes them. */
  readonly pool?: CopyWorkerPool;
}

export interface ApplyResult {
  /** Something was written (false for a dry run and for a run with nothing new). */
  readonly changed: boolean;
  readonly objects: { readonly copied: number; readonly skipped: number; readonly bytes: number };
  readonly estimate: CopyEstimate | null;
  readonly freeBytes: number | null;
  readonly metadataCommits: Readonly<Record<string, string>>;
  readonly upstream: Readonly<Record<string, { signedBy: readonly string[]; root: string; files: number } | null>>;
  readonly summary?: { readonly lastModified: bigint; readonly signed: boolean };
  readonly reposDLink?: string | null;
  /** `repair`: the refs found damaged on the drive and copied again, and the objects that took (missing or corrupt). */
  readonly repaired?: { readonly refs: readonly string[]; readonly objects: number };
}

export function nowSeconds(): bigint {
  return sourceDateEpoch() ?? BigInt(Math.floor(Date.now() / 1000));
}

/** What deflate may add to a bare payload at worst (stored blocks: 5 bytes per 16 KiB), plus room for the header. */
function deflateBound(n: number): number {
  return n + Math.ceil(n / 16384) * 5 + 65536;
}

/** Allocation units above this (exFAT's 32 KiB+ clusters) make object counts, not bytes, decide the room a run takes. */
const LARGE_UNIT = 16 * 1024;

/** An allocation unit for a message: `128 KiB clusters` (FAT, exFAT), `64 KiB blocks`. */
function unitName(unit: number, fat: boolean): string {
  const size = unit % 1024 === 0 ? `${unit / 1024} KiB` : `${unit} bytes`;
  return `${size} ${fat ? 'clusters' : 'blocks'}`;
}

/** A size for a message: GiB, MiB, or KiB below 1 MiB (a nearly full drive and a small run were both "0.0 MiB"). */
function gib(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/**
 * Finishes a publish an interrupted run left pending (and sweeps its leftovers), under the drive's write lock: what
 * `verify --repair` does, for a run to plan from what that publish meant to leave.
 */
export async function replayUnderLock(repo: string, fsync: boolean): Promise<void> {
  const lock = await openStaging(await createArchiveRepo(repo), { fsync });
  try {
    await replay(repo, fsync); // sweeps (publish.ts sweepLeftovers)
  } finally {
    await lock.close();
  }
}

/**
 * The refusal of a run that would publish a drive with a summary.sig, given neither --sign-key nor --unsigned: what
 * the file holds (read, not taken from its presence) and what each option does.
 */
async function signedDriveNeedsChoice(repo: string): Promise<UsageError> {
  const sig = path.join(repo, 'summary.sig');
  const kind = await summarySignatureOf(repo);
  const holds =
    kind === 'empty'
      ? 'holds no signature (no ed25519, no GPG)'
      : kind === 'damaged'
        ? 'does not decode (damaged)'
        : null;
  return new UsageError(
    holds !== null
      ? `the drive's summary.sig ${holds} (${sig}): pass --sign-key to write a valid signature of the summary, or ` +
          '--unsigned to remove summary.sig and publish the summary without a signature'
      : `the drive's summary is signed (${sig}): pass --sign-key with its key to keep it signed, or --unsigned to ` +
          'publish it without a signature',
    { path: sig },
  );
}

/**
 * Commits the drive keeps whose detached metadata (`.commitmeta`: their signatures) differs at the source, or that
 * the drive lost: an upstream that rotated its key re-signs its commits, and a drive that kept the old signatures
 * would fail verify against the key its .flatpakrepo now hands out; a deleted or damaged one (the drive holds it
 * byte-identical to the source, drive.md §1) fails verify too. A few small files, one per ref the run keeps.
 * `localOnly`: from local sources alone (a create's re-run asks a remote nothing per ref).
 */
async function changedSignatures(
  input: ApplyInput,
  localOnly: boolean,
): Promise<Array<{ readonly entry: PlanEntry; readonly commit: string; readonly bytes: Uint8Array }>> {
  const kept = input.plan.entries.flatMap((entry) => {
    const s = entry.source === undefined ? undefined : input.sources[entry.source];
    if (entry.action !== 'unchanged' || entry.commit === null || !s || (localOnly && s.kind === 'remote')) return [];
    return [{ entry, commit: entry.commit, objects: s.objectsFor?.(entry.commit) ?? s.objects }];
  });
  // A few refs at a time, the source's file and the drive's side by side; a source that fails names the first ref.
  const changed = await mapLimit(kept, 4, async ({ entry, commit, objects }) => {
    const file = path.join(input.loc.repo, objectPath(commit, 'commitmeta', 'archive'));
    const [fresh, held] = await Promise.all([
      objects.readCommitMeta(commit),
      readLocalFile(file, MAX_METADATA_SIZE).catch(() => null),
    ]);
    if (!fresh || (held && Buffer.from(held).equals(Buffer.from(fresh)))) return [];
    return [{ entry, commit, bytes: fresh }];
  });
  return changed.flat();
}

/** Runs the plan. See ApplyOptions. */
export async function applyPlan(input: ApplyInput, opts: ApplyOptions): Promise<ApplyResult> {
  const { loc, state, plan, sources } = input;
  const fsync = opts.fsync ?? true;
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new InterruptedError('interrupted; the drive was left as it was');
  };

  // --- preflight: everything that can fail without writing ---
  // Every commit to copy, and every kept commit whose signatures the run takes anew, is checked against its source's
  // keys, where known (commit-signatures.ts), first: the error names the ref and the commit.
  const resigned = await changedSignatures(input, !input.refreshSignatures);
  const toCheck = [...entriesToCopy(plan), ...resigned.map((r) => r.entry)];
  for (const [i, s] of sources.entries())
    await checkCommitSignatures(
      s,
      toCheck.flatMap((e) => (e.source === i && e.commit !== null ? [{ ...e, commit: e.commit }] : [])),
      { allowUnsigned: !!opts.allowUnsignedCommits, warn: input.warner.warn },
    );
  const upstream = await prepareUpstreams(
    input.upstreamFrom,
    opts.upstream ?? 'require-signature',
    input.warner.warn,
    checkAbort,
  );
  if (input.upstreamPins) checkUpstreamPins(upstream, input.upstreamPins, input.warner.warn);
  // The write probe comes only where a write is due: a run with nothing new writes nothing, not even a probe.
  // A dry run fails where the real run would: an unwritable drive, or one another run is writing to.
  if (opts.dryRun) await checkCanWrite(loc);
  if (loc.repoRel !== path.normalize('.ostree/repo') && loc.repoRel !== path.normalize('ostree/repo'))
    await probeSymlinks(loc);
  await checkCaseCollisions(
    loc,
    [...plan.final].flatMap(([cid, refs]) => [...refs.keys()].map((ref) => mirrorRefPath(cid, ref))),
  );
  for (const s of sources)
    if (s.localRepoPath && (await samePath(s.localRepoPath, loc.repo)))
      throw new UsageError(`the destination repo '${loc.repo}' is the source repo itself`, { path: loc.repo });
  const toCopy = entriesToCopy(plan);
  for (const s of sources) for (const w of s.takeWarnings?.() ?? []) input.warner.add(w);
  const { free: freeBytes, unit } = await driveSpace(await existingAncestor(loc.repo));
  // The estimate walks the source commits' metadata and stats every object: from local sources, for a dry run, and
  // where the drive's room or file size limit is in question (not when free space is twice the refs' installed size).
  // Each object takes whole allocation units: on large ones (exFAT's 128 KiB clusters) many small objects need far
  // more room than their installed size says, so only the walk, which counts them, can tell.
  const local = sources.every((s) => s.kind !== 'remote');
  const ample =
    !opts.dryRun &&
    loc.maxFileSize === null &&
    freeBytes !== null &&
    unit <= LARGE_UNIT &&
    2 *
      (await installedBound(toCopy, input.commits, local, (es) =>
        estimateCopy(es, sources, loc.repo, opts.signal, unit),
      )) <
      freeBytes;
  const estimate =
    opts.dryRun || (!ample && local) ? await estimateCopy(toCopy, sources, loc.repo, opts.signal, unit) : null;
  if (estimate && freeBytes !== null && estimate.minSpace > freeBytes)
    throw new FailureError(
      `the drive has ${gib(freeBytes)} free at '${loc.drive}', and this run needs at least ` +
        `${gib(estimate.minSpace)} (${estimate.objects} objects${unit > LARGE_UNIT ? `, in ${unitName(unit, loc.fat)}` : ''}); ` +
        'free some space or use a larger drive',
      { path: loc.drive, freeBytes, neededBytes: estimate.minSpace, unit },
      'ENOSPC',
    );
  // FAT12/16/32 (not exFAT) hold files under 4 GiB; fusefat even wraps a larger write around silently. An archive
  // source's `.filez` is copied as it is (exact); a bare payload is deflated, to a size unknown until then: refuse
  // one that would not fit stored as it is. Remote sources are sized as they stream (Staging's maxFileSize).
  const limit = loc.maxFileSize;
  const tooLarge =
    `too large for the ${loc.fsType} filesystem of '${loc.drive}' ` +
    '(files must stay under 4 GiB; use exFAT or ext4 for this drive)';
  const big = estimate?.largest;
  if (limit !== null && big && big.bytes > limit)
    throw new UnsupportedError(
      `${big.name} is ${gib(big.bytes)}: ${tooLarge}`,
      { path: loc.drive, object: big.name, bytes: big.bytes, limit },
      'EFBIG',
    );
  const raw = estimate?.largestRaw;
  if (limit !== null && raw && deflateBound(raw.bytes) > limit)
    throw new UnsupportedError(
      `${raw.name} is ${gib(raw.bytes)} uncompressed (${raw.bytes} bytes), and may not compress: ${tooLarge}`,
      { path: loc.drive, object: raw.name, bytes: raw.bytes, limit },
      'EFBIG',
    );
  checkAbort();
  const base = {
    estimate,
    freeBytes,
    metadataCommits: {},
    upstream: upstreamSummary(upstream),
    objects: { copied: 0, skipped: 0, bytes: 0 },
  };
  // A signed drive and a key: is the summary signed with that key? (Asked once: idleness and the warning need it.)
  const signKeyPublic = opts.signKey !== undefined ? publicKeyOf(opts.signKey) : null;
  const signedWith =
    signKeyPublic !== null && state.summarySigPresent ? await summarySignedWith(loc.repo, signKeyPublic) : 'valid';
  const keyChanged = signedWith !== 'valid';
  const { damaged, intact } = opts.repair
    ? await damagedRefs({ plan, state, repo: loc.repo, sources }, opts.signal)
    : { damaged: [], intact: undefined };
  const idle =
    resigned.length === 0 && damaged.length === 0 && (await nothingToWrite(input, upstream, opts, keyChanged));
  if (!idle && keyChanged) {
    const key = Buffer.from(signKeyPublic as Uint8Array).toString('base64');
    input.warner.warn(
      'drive-key-changed',
      signedWith === 'damaged'
        ? `the drive's summary.sig does not decode (damaged): this run signs the summary again with ${key}`
        : signedWith === 'empty'
          ? `the drive's summary.sig holds no signature (no ed25519, no GPG): this run signs the summary with ${key}`
          : `the drive's summary is signed with another key than --sign-key's: this run signs it with ${key}, and a ` +
            'client or verify --drive-key holding the old public key will refuse the drive',
      { path: path.join(loc.repo, 'summary.sig') },
    );
  }
  if (!idle && state.summarySigPresent && opts.signKey === undefined && !opts.unsigned)
    throw await signedDriveNeedsChoice(loc.repo);
  // A dry run names the damaged refs it would repair; a run with nothing to mend, none.
  const found = opts.repair ? { repaired: { refs: damaged.map((d) => d.entry.ref), objects: 0 } } : {};
  if (opts.dryRun) return { changed: false, ...base, ...found };
  if (idle) {
    // Nothing to publish, but an interrupted run may have left temp files: remove them under the drive's lock.
    if ((await listLeftovers(loc.repo).catch(() => [])).length) await replayUnderLock(loc.repo, fsync);
    return { changed: false, ...base, ...found };
  }
  await checkWritable(loc);

  // --- write: stage, then publish ---
  await checkRepoTree(loc.repo); // no symlinked directory in the repo may redirect a write (drive-fs.ts)
  const createdDir = await outermostMissing(loc.repo, loc.drive);
  const dest = await createArchiveRepo(loc.repo);
  // The drive's write lock comes first: a publish left pending by an interrupted run is finished under it.
  const staging = await openStaging(dest, {
    fsync,
    ...(opts.compressionLevel !== undefined ? { compressionLevel: opts.compressionLevel } : {}),
    ...(opts.deflate !== undefined ? { deflate: opts.deflate } : {}),
    ...(loc.maxFileSize !== null ? { maxFileSize: loc.maxFileSize } : {}),
    // From HTTP alone, the main thread is busy receiving and the workers only check each `.filez` (inflate and
    // SHA-256) and write it: one keeps up (384 MiB real mix, bench --ab 5 pairs: wall 0.97x, CPU 0.93x, peak RSS
    // 0.90x, 118-126 against 133-140 MiB with two; each worker is a V8 isolate of its own).
    ...(remoteOnly(sources) ? { workers: 1 } : {}),
    ...(input.pool ? { pool: input.pool } : {}),
  });
  let keepStaging = false;
  let journaled = false;
  // A repo elsewhere than the default places is found through its repos.d link (made here, under the drive's lock,
  // not after the publish as flatpak does): verify and list find the repo while this run writes it, and say so
  // (they said "no ostree repo found"), as they do for a repo at .ostree/repo; and after an interrupted first run.
  const linkDirs = await outermostMissing(path.join(loc.drive, '.ostree', 'repos.d'), loc.drive);
  let link: Awaited<ReturnType<typeof ensureReposDLink>> = null;
  try {
    // The plan was made from the drive as read before this run held its lock: a run that published since (two jobs
    // adding apps to one drive at once) would lose its refs from the summary this one writes. Read again, under it.
    if (driveChanged(state, await readDriveState(loc.repo)))
      throw new FailureError(
        `another sideload run wrote to ${loc.repo} while this one planned: nothing was written; run the command again`,
        { path: loc.repo },
        'ECHANGED',
      );
    link = await ensureReposDLink(loc);
    await replay(loc.repo, fsync);
    let [copied, skipped, bytes, refIndex, repairedObjects] = [0, 0, 0, 0, 0];
    let copiedAny = false;
    // The refs to copy, then those `repair` found damaged (copied again, every object re-hashed on the way).
    const work = [
      ...toCopy.map((e) => ({ e, source: sources[e.source ?? -1], repair: false })),
      ...damaged.map((d) => ({ e: d.entry, source: d.source, repair: true })),
    ];
    const weighed = CopyFraction.of(
      work.map(({ e }) => {
        const size = e.commit ? commitSize(input.commits.get(e.commit)?.commit.metadata, 'download') : null;
        return size === null ? null : Number(size);
      }),
    );
    for (const { e, source, repair } of work) {
      checkAbort();
      if (!source || e.commit === null) throw new InternalError(`plan entry ${e.ref} has no source`, { ref: e.ref });
      const [objBase, byteBase] = [copied + skipped, bytes];
      refIndex++;
      // A ref whose commit the drive lost or cannot read (the plan copies it again): its objects are re-hashed on
      // the way, and a corrupt one is replaced, so the same command mends the ref.
      const mend = repair || (e.previous === e.commit && !state.commits.has(e.commit));
      // As ostree's pull does: a commit the drive already holds in full (no commitpartial marker) is complete; one
      // the drive records as partial (its marker lost) is not.
      const wasPartial = state.refs.some((r) => r.commit === e.commit && r.subpaths !== null);
      if (
        !mend &&
        !wasPartial &&
        e.subpaths === null &&
        (await staging.inDestination(e.commit, 'commit')) &&
        !(await dest.isCommitPartial(e.commit))
      ) {
        skipped++;
        continue;
      }
      const r = await copyCommit(source.objectsFor?.(e.commit) ?? source.objects, staging, e.commit, {
        subpaths: e.subpaths,
        ref: e.ref,
        ...(mend ? { verifyExisting: true, ...(intact ? { knownIntact: intact } : {}) } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (p) =>
          opts.onProgress?.({
            phase: 'copy',
            ref: e.ref,
            refIndex,
            refCount: work.length,
            objectsDone: objBase + p.objectsDone,
            ...(p.objectsTotal !== undefined ? { objectsTotal: objBase + p.objectsTotal } : {}),
            bytesDone: byteBase + p.bytesDone,
            ...(weighed ? { fraction: weighed.at(refIndex - 1, p.bytesDone) } : {}),
          }),
      });
      copied += r.copied;
      if (repair) repairedObjects += r.copied;
      skipped += r.skipped;
      bytes += r.bytes;
      copiedAny = true;
    }
    for (const r of resigned) if (await staging.writeCommitMeta(r.commit, r.bytes)) copied++;
    // A weighed bar ends full: the refs' shared objects and a smaller deflate leave the last ref short of its weight.
    if (copiedAny && weighed)
      opts.onProgress?.({ phase: 'copy', objectsDone: copied + skipped, bytesDone: bytes, fraction: 1 });

    const ops: PublishOp[] = [];
    for (const [cid, up] of upstream.copies) {
      if (!up) continue;
      const rel = `${UPSTREAM_DIR}/${cid}`;
      ops.push({
        op: 'replace',
        from: await staging.stageTree(rel, up.files, { 'sideload.json': up.record }),
        to: rel,
      });
    }
    for (const cid of state.metadataCommits.keys())
      if (!plan.final.has(cid)) ops.push({ op: 'remove', path: `${UPSTREAM_DIR}/${cid}` });

    // Commits of every final ref: read while resolving, else from the drive or the staging area.
    for (const refs of plan.final.values())
      for (const f of refs.values())
        if (!input.commits.has(f.commit)) input.commits.set(f.commit, await staging.readCommit(f.commit));
    const lastModified = (opts.now ?? nowSeconds)();
    const signer = opts.signKey ? new Ed25519Signer(opts.signKey) : null;
    const upstreamMeta = await upstreamMetaWithFallback(upstream, plan, state, dest);
    const pub = await buildPublication({
      plan,
      commits: input.commits,
      previousMetadata: state.metadataCommits,
      lastModified,
      signer,
      upstreamMeta,
    });
    // The drive explains itself (drive.md §7): README + one .flatpakrepo per collection at the drive root.
    ops.push(...(await stageDriveGuide(staging, await guideWrites(input, upstream, upstreamMeta))));
    const metadataCommits: Record<string, string> = {};
    if (pub.metadataCommits.length) {
      await staging.writeMetadata('dirtree', EMPTY_DIRTREE, EMPTY_DIRTREE_BYTES);
      await staging.writeMetadata('dirmeta', ROOT_DIRMETA, ROOT_DIRMETA_BYTES);
    }
    for (const m of pub.metadataCommits) {
      await staging.writeMetadata('commit', m.checksum, m.bytes);
      if (m.commitmeta) await staging.writeCommitMeta(m.checksum, m.commitmeta);
      metadataCommits[m.collectionId] = m.checksum;
    }
    ops.push({ op: 'replace', from: await staging.stageFile('summary', pub.summary), to: 'summary' });
    if (pub.summarySig)
      ops.push({ op: 'replace', from: await staging.stageFile('summary.sig', pub.summarySig), to: 'summary.sig' });
    else ops.push({ op: 'remove', path: 'summary.sig' });
    checkAbort();

    // First the sync: on a slow drive, the wait for what the copy staged faster than the drive writes. Then the
    // renames into objects/ (one per object through FUSE), counted.
    opts.onProgress?.({ phase: 'publish', objectsDone: 0, bytesDone: 0, detail: 'writing the staged objects out' });
    await staging.publish({
      onProgress: (done, total) =>
        opts.onProgress?.({ phase: 'publish', objectsDone: done, objectsTotal: total, bytesDone: 0 }),
    });
    // From here the journal names staged files: the staging area must survive a failure (resume / verify --repair).
    journaled = true;
    await publish(loc.repo, [...pub.refOps, ...ops], fsync);
    return {
      ...base,
      changed: true,
      objects: { copied, skipped, bytes },
      metadataCommits,
      summary: { lastModified, signed: signer !== null },
      reposDLink: link?.link ?? null,
      ...(opts.repair ? { repaired: { refs: damaged.map((d) => d.entry.ref), objects: repairedObjects } } : {}),
    };
  } catch (e) {
    // Keep staged objects for a resume after an interrupt or a network failure; drop them otherwise.
    keepStaging = journaled || e instanceof InterruptedError || e instanceof NetworkError;
    throw fullDriveError(e, loc);
  } finally {
    if (!keepStaging) await staging.discard().catch(() => {});
    else await staging.close({ keepFiles: journaled }).catch(() => {});
    // Through FUSE the cleanup above (the staging area, the lock) is written by the daemon after the publish's last
    // global sync: flushed too, so the drive can be unplugged once `create` exits.
    if (fsync) await syncIfFuse(loc.repo).catch(() => {});
    if (!keepStaging && createdDir && !(await fs.pathExists(path.join(loc.repo, 'summary')))) {
      await fs.rm(createdDir, { recursive: true, force: true }).catch(() => {});
      // The link this run made to the repo it made, and the directories made for it if nothing else is in them.
      if (link?.made) await fs.rm(link.link, { force: true }).catch(() => {});
      for (
        let d = path.join(loc.drive, '.ostree', 'repos.d');
        linkDirs && d.length >= linkDirs.length;
        d = path.dirname(d)
      )
        await fs.rmdir(d).catch(() => {});
    }
  }
}

/**
 * At most what the entries take on the drive: each commit's `xa.installed-size` plus 1 MiB of metadata objects.
 * Commits that do not state it (appstream, refs not built by flatpak) are estimated on their own from a local
 * source (`estimate`), and are unbounded from a remote one. Walking only those: a drive always carries appstream,
 * whose commits say nothing of their size, so the whole estimate (every dirtree read, every object stat'ed) used to
 * run before every copy from an installation: 384 MiB real mix, bench --ab 5 pairs, wall 0.69x, CPU 0.77x without.
 */
async function installedBound(
  entries: readonly PlanEntry[],
  commits: ApplyInput['commits'],
  local: boolean,
  estimate: (entries: readonly PlanEntry[]) => Promise<CopyEstimate>,
): Promise<number> {
  let n = 0;
  const unsized: PlanEntry[] = [];
  for (const e of entries) {
    const size = e.commit ? commitSize(commits.get(e.commit)?.commit.metadata, 'installed') : null;
    if (size !== null) n += Number(size) + 1024 * 1024;
    else unsized.push(e);
  }
  if (unsized.length === 0) return n;
  return local ? n + (await estimate(unsized)).bytes : Infinity;
}

/** A run whose refs, upstream copies and signing state all match the drive writes nothing (reproducible re-runs). */
async function nothingToWrite(
  input: ApplyInput,
  upstream: UpstreamSet,
  opts: ApplyOptions,
  keyChanged: boolean,
): Promise<boolean> {
  const { state, plan } = input;
  if (!state.published || state.pendingPublish || plan.refsChanged || plan.partialMarkers.length) return false;
  // Signing an unsigned drive, or dropping a signature on purpose, is a write; a signed drive and no key is not.
  if (opts.signKey !== undefined && !state.summarySigPresent) return false;
  // Signed with another key than the one given: signing it with this one is the run's work.
  if (keyChanged) return false;
  if (opts.unsigned && state.summarySigPresent) return false;
  for (const cid of plan.final.keys()) if (!state.metadataCommits.has(cid)) return false;
  // A repo directory or an ostree-metadata commit lost (a careless hand, a FAT fsck): the publish writes them again.
  if (!(await repoIntact(state))) return false;
  for (const up of upstream.copies.values()) if (up && !(await upstreamOnDrive(state.repo, up))) return false;
  const listed = new Map(
    [...plan.final].map(([cid, refs]) => [
      cid,
      new Map([
        ...[...refs].map(([ref, f]) => [ref, f.commit] as const),
        [METADATA_REF, state.metadataCommits.get(cid) as string] as const,
      ]),
    ]),
  );
  if (!(await summaryAgrees(state.repo, listed))) return false;
  // The drive guide (small files): a truncated or deleted one is written again, an intact one left as it is.
  const repo = await Repo.open(state.repo);
  let meta;
  try {
    meta = await upstreamMetaWithFallback(upstream, plan, state, repo);
  } finally {
    await repo.close();
  }
  return driveGuideCurrent(input.loc.drive, await guideWrites(input, upstream, meta));
}

/** The drive guide this run writes (drive-guide-stage.ts). */
function guideWrites(
  input: ApplyInput,
  upstream: UpstreamSet,
  upstreamMeta: ReadonlyMap<string, VarDict>,
): Promise<GuideWrites> {
  return driveGuideWrites(
    input.loc.drive,
    input.loc.repoRel,
    input.plan.final,
    upstreamMeta,
    input.upstreamFrom,
    input.state.metadataCommits.keys(),
    upstream.redirects,
  );
}

/** Descriptive keys per collection: from the source, else as the drive's previous ostree-metadata commit had them. */
async function upstreamMetaWithFallback(
  upstream: UpstreamSet,
  plan: DrivePlan,
  state: DriveState,
  dest: Repo,
): Promise<Map<string, VarDict>> {
  const out = new Map(upstream.meta);
  for (const cid of plan.final.keys()) {
    const prev = state.metadataCommits.get(cid);
    if (out.has(cid) || !prev) continue;
    const c = await dest.readCommit(prev).catch(() => null);
    if (!c) continue;
    const kept = UPSTREAM_KEYS.map((k) => [k, lookup(c.commit.metadata, k)] as const).filter(
      ([, v]) => v !== undefined,
    );
    if (kept.length) out.set(cid, kept as VarDict);
  }
  return out;
}

function upstreamSummary(u: UpstreamSet): ApplyResult['upstream'] {
  const out: Record<string, { signedBy: readonly string[]; root: string; files: number } | null> = {};
  for (const [cid, up] of u.copies)
    out[cid] = up ? { signedBy: up.signedBy, root: up.root, files: up.files.size } : null;
  return out;
}
