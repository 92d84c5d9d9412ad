/**
 * `verifyDrive`: checks a drive without trusting it (drive.md §6): repo layout, every object re-hashed, every ref
 * complete (partial ones within their recorded subpaths), summary ↔ refs ↔ ostree-metadata in agreement, drive
 * signatures against given keys, the upstream copy against upstream keys and against the drive, and the
 * `.flatpakrepo` files the drive hands clients. Reports each problem with the path at fault; never throws for a bad
 * drive, only for a drive it cannot find.
 *
 * One check per concern: each `check…` function looks at one thing and returns its findings, one module per
 * family (verify-layout, -objects, -summary, -signatures, -net, -upstream, -hostile, -guide); `verifyRepo` runs
 * them in order over a shared, read-once view of the repo (`RepoView`, verify-view.ts).
 */
import path from 'node:path';
import fs from 'fs-extra';
import { expectFailure, FailureError, UsageError } from '../errors.js';
import { METADATA_REF } from '../ostree/formats.js';
import { openObjectSource, openRepo, type ObjectSource, type Repo } from '../repo/index.js';
import { lockHolder, lockHolderName } from '../repo/writer.js';
import { driveRootOf, findDriveRepos } from './find-repos.js';
import { replay } from './publish.js';
import { error, type Finding } from './findings.js';
import { checkUpstreamCopies, type UpstreamKeys } from './verify-upstream.js';
import { checkCollectionBindings, checkStrayFiles } from './verify-net.js';
import { leftoverFindings } from './verify-hostile.js';
import { checkHeadRefs, checkLayout } from './verify-layout.js';
import { checkCompleteness, checkObjects, checkUnreferencedCommits, type ObjectScanOptions } from './verify-objects.js';
import { checkDriveSignature, checkCopiedCommitSignatures } from './verify-signatures.js';
import { checkFlatpakrepos } from './verify-guide.js';
import { checkMetadataCommits, checkSummaryRefs, readSummaryFile } from './verify-summary.js';
import { checkAbort, makeView, readMirrorRefs } from './verify-view.js';
import { UPSTREAM_DIR } from './upstream-copy.js';

export type { Finding, FindingCode } from './findings.js';

/** `quick`, `signal`, `onProgress`: see ObjectScanOptions; the upstream keys: see UpstreamKeys. */
export interface VerifyOptions extends ObjectScanOptions, UpstreamKeys {
  /** ed25519 public keys the drive's summary and ostree-metadata commits must be signed with. */
  readonly trustedKeys?: readonly Uint8Array[];
  /**
   * First finish an update that was interrupted while publishing (replay its journal), as the next `create` would.
   * Default false: verify only reads.
   */
  readonly repair?: boolean;
  /** A warning finding fails the repo too (`verify --strict`): `ok` only when there are no findings at all. */
  readonly strict?: boolean;
}

export interface RepoReport {
  readonly repo: string;
  readonly ok: boolean;
  /** Every ref mirrored in the repo, each collection's `ostree-metadata` included. */
  readonly refs: number;
  /** The refs apps and runtimes are installed from (and appstream): `refs` without the `ostree-metadata` ones. */
  readonly flatpakRefs: number;
  readonly objects: number;
  readonly collections: readonly string[];
  readonly findings: readonly Finding[];
  /** `verify --repair` first finished the publish an interrupted run had left pending in this repo. */
  readonly resumedPublish?: true;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly repos: readonly RepoReport[];
  /** `verify --repair` finished a pending publish in one of the repos (as create/update's `resumedPublish`). */
  readonly resumedPublish?: true;
}

/** Verifies every sideload repo on a drive. */
export async function verifyDrive(drive: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const repos = await findDriveRepos(drive);
  const driveRoot = await driveRootOf(drive);
  await checkKeyedCollections(repos, opts);
  const reports: RepoReport[] = [];
  for (const r of repos) {
    checkAbort(opts.signal);
    // A repo half way through another run's copy or publish reads as broken (incomplete refs, a pending journal,
    // refs the summary does not list yet): that is no verdict on the drive, so verify waits for the writer.
    const pid = await lockHolder(r);
    if (pid !== null)
      throw new FailureError(
        `${lockHolderName(pid)} is writing to ${r}; let it finish, then ` + (opts.repair ? 'run --repair' : 'verify'),
        { path: r, pid },
        'ELOCKED',
      );
    const resumed = opts.repair ? await replay(r) : false;
    const report = await verifyRepo(r, opts, driveRoot);
    reports.push(resumed ? { ...report, resumedPublish: true } : report);
  }
  return {
    ok: reports.every((r) => r.ok),
    repos: reports,
    ...(reports.some((r) => r.resumedPublish) ? { resumedPublish: true as const } : {}),
  };
}

/**
 * Keys given for one collection (`--gpg-import COLLECTION_ID=FILE`) must name a collection of the drive: a typo
 * would otherwise leave the collection meant checked with the keys for every collection, or not at all.
 * @throws UsageError (exit 2) naming the collections the drive holds.
 */
async function checkKeyedCollections(repos: readonly string[], opts: UpstreamKeys): Promise<void> {
  const named = Object.keys(opts.collectionKeys ?? {});
  if (!named.length) return;
  const held = new Set<string>();
  for (const r of repos) {
    for (const cid of (await readMirrorRefs(r)).keys()) held.add(cid);
    for (const cid of await fs.readdir(path.join(r, UPSTREAM_DIR)).catch(() => [] as string[])) held.add(cid);
  }
  const unknown = named.filter((c) => !held.has(c));
  if (unknown.length)
    throw new UsageError(
      `keys were given for ${unknown.map((c) => `'${c}'`).join(', ')}, which the drive does not hold ` +
        `(its collections: ${[...held].sort().join(', ') || 'none'})`,
      { collections: unknown },
    );
}

/** Verifies one repo; with `driveRoot`, also what the drive hands clients there (its `.flatpakrepo` files). */
export async function verifyRepo(
  repo: string,
  opts: VerifyOptions = {},
  driveRoot: string | null = null,
): Promise<RepoReport> {
  const findings: Finding[] = [];
  let objectCount = 0;
  let refCount = 0;
  let flatpakRefCount = 0;
  const collections: string[] = [];
  const done = (): RepoReport => ({
    repo,
    ok: !findings.some((f) => f.severity === 'error' || opts.strict),
    refs: refCount,
    flatpakRefs: flatpakRefCount,
    objects: objectCount,
    collections,
    findings,
  });

  const layout = await checkLayout(repo);
  findings.push(...layout.findings);
  if (!layout.usable) return done();

  let store: Repo;
  let objects: ObjectSource;
  try {
    store = await openRepo(repo);
    objects = await openObjectSource(store);
  } catch (e) {
    findings.push(error('open-failed', expectFailure(e).message));
    return done();
  }
  try {
    const scan = await checkObjects(repo, objects, opts);
    objectCount = scan.count;
    findings.push(...scan.findings);

    const refs = await readMirrorRefs(repo);
    refCount = [...refs.values()].reduce((n, m) => n + m.size, 0);
    flatpakRefCount = [...refs.values()].reduce(
      (n, m) => n + [...m.keys()].filter((r) => r !== METADATA_REF).length,
      0,
    );
    findings.push(...(await checkHeadRefs(repo)));
    findings.push(...(await checkStrayFiles(repo)));
    collections.push(...[...refs.keys()].sort());

    const s = await readSummaryFile(repo);
    findings.push(...s.findings);
    const view = makeView(store, objects, scan.present, refs, s.bytes, s.summary);

    const checks: Array<() => Promise<Finding[]>> = [
      ...(view.summary
        ? [
            () => checkSummaryRefs(view),
            () => checkCollectionBindings(view.listed, (c) => view.loadCommit(c)),
            () => checkCopiedCommitSignatures(view, opts),
            () => checkMetadataCommits(view, opts.trustedKeys),
            () => checkCompleteness(view),
            () => checkUnreferencedCommits(view),
            ...(driveRoot ? [() => checkFlatpakrepos(driveRoot, view, opts)] : []),
          ]
        : []),
      () => checkDriveSignature(view, opts.trustedKeys),
      () => checkUpstreamCopies(repo, view.summary ? view.listed : null, opts),
      () => leftoverFindings(repo),
    ];
    for (const check of checks) {
      checkAbort(opts.signal); // Ctrl-C stops verify between checks as well as between objects
      findings.push(...(await check()));
    }
  } finally {
    await objects.close?.();
  }
  return done();
}
