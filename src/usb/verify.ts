/**
 * `verifyDrive`: checks a drive without trusting it (drive.md §6): repo layout, every object re-hashed, every ref
 * complete (partial ones within their recorded subpaths), summary ↔ refs ↔ ostree-metadata in agreement, drive
 * signatures against given keys, and the upstream copy against upstream keys and against the drive. Reports each
 * problem with the path at fault; never throws for a bad drive, only for a drive it cannot find.
 *
 * One check per concern: each `check…` function below looks at one thing and returns its findings; `verifyRepo`
 * runs them in order over a shared, read-once view of the repo (`RepoView`).
 */
import path from 'node:path';
import fs from 'fs-extra';
import { expectFailure, expectOnly, FailureError, InterruptedError, SideloadError } from '../errors.js';
import { KeyFileSyntaxError, parseKeyFile } from '../keyfile/index.js';
import { decodeCommit, type Commit } from '../ostree/commit.js';
import { KEY, METADATA_REF } from '../ostree/formats.js';
import {
  openObjectSource,
  openRepo,
  listObjects,
  listRefFiles,
  verifyObject,
  walkCommit,
  type ObjectSource,
  type Repo,
} from '../repo/index.js';
import { lockHolder } from '../repo/writer.js';
import { Ed25519Verifier, readSignatures } from '../sign/index.js';
import { checkMetadataCommit, recordedSubpaths, recordsRefs } from '../summary/metadata-commit.js';
import { decodeSummary, summaryCollections, type DecodedSummary, type DecodedRef } from '../summary/summary.js';
import type { ProgressCallback } from './events.js';
import { findDriveRepos } from './find-repos.js';
import { hasPendingPublish, JOURNAL, replay } from './publish.js';
import { CommitVerifier } from './commit-signatures.js';
import { error, warning, type Finding } from './findings.js';
import { checkUpstreamCopies } from './verify-upstream.js';
import { checkCollectionBindings, checkStrayFiles } from './verify-net.js';
import { leftoverFindings } from './verify-hostile.js';

export type { Finding, FindingCode } from './findings.js';

export interface VerifyOptions {
  /** ed25519 public keys the drive's summary and ostree-metadata commits must be signed with. */
  readonly trustedKeys?: readonly Uint8Array[];
  /** Keys to check the carried upstream summaries with (GPG keyrings, ed25519 keys). */
  readonly upstreamGpg?: readonly Uint8Array[];
  readonly upstreamEd25519?: readonly Uint8Array[];
  /**
   * First finish an update that was interrupted while publishing (replay its journal), as the next `create` would.
   * Default false: verify only reads.
   */
  readonly repair?: boolean;
  /** Skip re-hashing every object (structure only). Default false. */
  readonly quick?: boolean;
  /** A warning finding fails the repo too (`verify --strict`): `ok` only when there are no findings at all. */
  readonly strict?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
}

export interface RepoReport {
  readonly repo: string;
  readonly ok: boolean;
  readonly refs: number;
  readonly objects: number;
  readonly collections: readonly string[];
  readonly findings: readonly Finding[];
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly repos: readonly RepoReport[];
}

/** Verifies every sideload repo on a drive. */
export async function verifyDrive(drive: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const repos = await findDriveRepos(drive);
  const reports: RepoReport[] = [];
  for (const r of repos) {
    checkAbort(opts.signal);
    if (opts.repair) {
      const pid = await lockHolder(r);
      if (pid !== null)
        throw new FailureError(
          `another sideload process (pid ${pid}) is writing to ${r}; let it finish before --repair`,
          { path: r, pid },
          'ELOCKED',
        );
      await replay(r);
    }
    reports.push(await verifyRepo(r, opts));
  }
  return { ok: reports.every((r) => r.ok), repos: reports };
}

/** What the checks share, read once: the objects on disk, the refs, the summary and a commit cache. */
interface RepoView {
  readonly repo: string;
  readonly store: Repo;
  readonly objects: ObjectSource;
  /** `checksum.type` of every object file present. */
  readonly present: ReadonlySet<string>;
  /** collection id → ref → checksum, from refs/mirrors. */
  readonly refs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly summaryBytes: Uint8Array | null;
  readonly summary: DecodedSummary | null;
  /** The summary's collection-map (empty without a summary). */
  readonly listed: ReadonlyMap<string, readonly DecodedRef[]>;
  loadCommit(checksum: string): Promise<LoadedCommit | null>;
  commitError(checksum: string): string | undefined;
}

interface LoadedCommit {
  readonly commit: Commit;
  readonly size: number;
}

export async function verifyRepo(repo: string, opts: VerifyOptions = {}): Promise<RepoReport> {
  const findings: Finding[] = [];
  let objectCount = 0;
  let refCount = 0;
  const collections: string[] = [];
  const done = (): RepoReport => ({
    repo,
    ok: !findings.some((f) => f.severity === 'error' || opts.strict),
    refs: refCount,
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
            () => checkCommitSignatures(view, opts),
            () => checkMetadataCommits(view, opts),
            () => checkCompleteness(view),
          ]
        : []),
      () => checkDriveSignature(view, opts),
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

function makeView(
  store: Repo,
  objects: ObjectSource,
  present: ReadonlySet<string>,
  refs: RepoView['refs'],
  summaryBytes: Uint8Array | null,
  summary: DecodedSummary | null,
): RepoView {
  const commits = new Map<string, LoadedCommit | null>();
  const commitErrors = new Map<string, string>();
  return {
    repo: store.path,
    store,
    objects,
    present,
    refs,
    summaryBytes,
    summary,
    listed: summary ? summaryCollections(summary) : new Map(),
    async loadCommit(c) {
      if (!commits.has(c)) {
        try {
          const bytes = await objects.readMetadata(c, 'commit');
          commits.set(c, { commit: decodeCommit(bytes, c), size: bytes.length });
        } catch (e) {
          commitErrors.set(c, expectFailure(e).message);
          commits.set(c, null);
        }
      }
      return commits.get(c) ?? null;
    },
    commitError: (c) => commitErrors.get(c),
  };
}

/** Config, mode, the directories a read-only open needs, a pending publish. `usable` false: nothing more to check. */
async function checkLayout(repo: string): Promise<{ findings: Finding[]; usable: boolean }> {
  const findings: Finding[] = [];
  const configText = await fs.readFile(path.join(repo, 'config'), 'utf8').catch(() => null);
  if (configText === null)
    return { findings: [error('no-config', 'the repo has no config file', 'config')], usable: false };
  let config;
  try {
    config = parseKeyFile(configText);
  } catch (e) {
    return {
      findings: [
        error('bad-config', `config cannot be parsed: ${expectOnly(e, KeyFileSyntaxError).message}`, 'config'),
      ],
      usable: false,
    };
  }
  const mode = config.get('core', 'mode');
  if (mode !== 'archive-z2' && mode !== 'archive')
    findings.push(error('not-archive', `repo mode is '${mode ?? '(none)'}', not archive`, 'config'));
  if (config.get('core', 'collection-id'))
    findings.push(
      warning(
        'collection-id-set',
        'core.collection-id is set: offline clients list only the collection-map, so refs/heads would be invisible',
        'config',
      ),
    );
  for (const d of ['objects', 'tmp', 'refs/heads', 'refs/mirrors', 'state'])
    if (!(await fs.pathExists(path.join(repo, d))))
      findings.push(
        error('missing-dir', `directory '${d}' is missing (a read-only drive cannot be opened without it)`, d),
      );
  if (await hasPendingPublish(repo))
    findings.push(
      error(
        'pending-publish',
        'an interrupted update left its publish journal; run `sideload verify --repair` (or the same `sideload create` again) to finish it',
        JOURNAL,
      ),
    );
  return { findings, usable: true };
}

/** @throws InterruptedError (exit 130) once `signal` is aborted. */
function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError('interrupted; verify stopped before it finished');
}

/** Lists every object file and (unless quick) re-hashes it. */
async function checkObjects(
  repo: string,
  objects: ObjectSource,
  opts: VerifyOptions,
): Promise<{ findings: Finding[]; present: Set<string>; count: number }> {
  const findings: Finding[] = [];
  const present = new Set<string>();
  let count = 0;
  for await (const o of listObjects(repo)) {
    count++;
    present.add(`${o.checksum}.${o.type}`);
    if (opts.quick) continue;
    checkAbort(opts.signal);
    try {
      await verifyObject(objects, o.checksum, o.type, opts.signal);
    } catch (e) {
      checkAbort(opts.signal); // an object cut short by Ctrl-C is not a corrupt one
      findings.push(error('corrupt-object', expectFailure(e).message, o.path));
    }
    if (count % 256 === 0) opts.onProgress?.({ phase: 'verify', objectsDone: count, bytesDone: 0 });
  }
  return { findings, present, count };
}

async function readMirrorRefs(repo: string): Promise<Map<string, Map<string, string>>> {
  const refs = new Map<string, Map<string, string>>();
  for (const [name, checksum] of await listRefFiles(path.join(repo, 'refs', 'mirrors'), { lenient: true })) {
    const slash = name.indexOf('/');
    const cid = name.slice(0, slash);
    refs.set(cid, (refs.get(cid) ?? new Map<string, string>()).set(name.slice(slash + 1), checksum));
  }
  return refs;
}

/** refs/heads: invisible to offline clients. */
async function checkHeadRefs(repo: string): Promise<Finding[]> {
  return (await listRefFiles(path.join(repo, 'refs', 'heads'), { lenient: true })).map(([name]) =>
    warning(
      'head-ref',
      `refs/heads/${name} is not visible to offline clients (only refs/mirrors are listed)`,
      `refs/heads/${name}`,
    ),
  );
}

async function readSummaryFile(
  repo: string,
): Promise<{ findings: Finding[]; bytes: Uint8Array | null; summary: DecodedSummary | null }> {
  const buf = await fs.readFile(path.join(repo, 'summary')).catch(() => null);
  if (!buf)
    return {
      findings: [error('no-summary', 'the repo has no summary: clients ignore it', 'summary')],
      bytes: null,
      summary: null,
    };
  const bytes = new Uint8Array(buf);
  try {
    return { findings: [], bytes, summary: decodeSummary(bytes, 'summary') };
  } catch (e) {
    return { findings: [error('bad-summary', expectFailure(e).message, 'summary')], bytes, summary: null };
  }
}

const objectPath = (checksum: string, type: string) =>
  `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${type === 'file' ? 'filez' : type}`;

/** summary ↔ refs/mirrors ↔ commits: each listed ref exists with the same checksum, each commit matches its entry. */
async function checkSummaryRefs(v: RepoView): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (v.summary?.refs.length)
    findings.push(
      warning(
        'main-refs',
        `the summary's main ref list has ${v.summary.refs.length} refs; offline clients only read the collection-map`,
        'summary',
      ),
    );
  for (const [cid, entries] of v.listed) {
    const onDisk = v.refs.get(cid) ?? new Map<string, string>();
    for (const e of entries) {
      const p = `refs/mirrors/${cid}/${e.ref}`;
      const disk = onDisk.get(e.ref);
      if (disk === undefined)
        findings.push(
          error('summary-ref-missing', `the summary lists '${e.ref}' of '${cid}' but ${p} does not exist`, p),
        );
      else if (disk !== e.checksum)
        findings.push(
          error(
            'summary-ref-mismatch',
            `'${e.ref}' of '${cid}' is ${e.checksum.slice(0, 12)}… in the summary but ${disk.slice(0, 12)}… in ${p}`,
            p,
          ),
        );
      const c = await v.loadCommit(e.checksum);
      const commitPath = objectPath(e.checksum, 'commit');
      if (!c && !v.present.has(`${e.checksum}.commit`))
        findings.push(
          error(
            'missing-commit',
            `commit ${e.checksum} of '${e.ref}' is missing: ${commitPath} does not exist`,
            commitPath,
          ),
        );
      else if (!c)
        findings.push(
          error(
            'corrupt-commit',
            `commit ${e.checksum} of '${e.ref}' cannot be read from ${commitPath}: ${v.commitError(e.checksum) ?? 'corrupt'}`,
            commitPath,
          ),
        );
      else {
        if (c.size !== e.commitSize)
          findings.push(
            error(
              'summary-size',
              `the summary gives '${e.ref}' a commit size of ${e.commitSize}, the commit has ${c.size} bytes`,
              'summary',
            ),
          );
        if (c.commit.timestamp !== e.timestamp)
          findings.push(
            error('summary-timestamp', `the summary's timestamp for '${e.ref}' differs from its commit's`, 'summary'),
          );
      }
    }
    for (const [ref] of onDisk)
      if (!entries.some((e) => e.ref === ref))
        findings.push(
          error(
            'ref-not-in-summary',
            `refs/mirrors/${cid}/${ref} is not in the summary: clients cannot see it`,
            `refs/mirrors/${cid}/${ref}`,
          ),
        );
  }
  for (const cid of v.refs.keys())
    if (!v.listed.has(cid))
      findings.push(
        error(
          'collection-not-in-summary',
          `collection '${cid}' has refs but is not in the summary`,
          `refs/mirrors/${cid}`,
        ),
      );
  return findings;
}

/** Each collection's ostree-metadata commit agrees with the summary and (given keys) is signed by a trusted key. */
async function checkMetadataCommits(v: RepoView, opts: VerifyOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [cid, entries] of v.listed) {
    const meta = entries.find((e) => e.ref === METADATA_REF);
    if (!meta) {
      findings.push(
        warning(
          'no-ostree-metadata',
          `collection '${cid}' has no ostree-metadata commit`,
          `refs/mirrors/${cid}/${METADATA_REF}`,
        ),
      );
      continue;
    }
    const c = await v.loadCommit(meta.checksum);
    if (!c) continue;
    for (const p of checkMetadataCommit(c.commit, cid, entries, v.summary?.lastModified))
      findings.push(
        error('metadata-mismatch', `ostree-metadata of '${cid}': ${p}`, `refs/mirrors/${cid}/${METADATA_REF}`),
      );
    if (opts.trustedKeys?.length) {
      const cm = await v.objects.readCommitMeta(meta.checksum);
      const sigs = cm ? readSignatures(cm, KEY.ed25519Sigs) : [];
      const bytes = await v.objects.readMetadata(meta.checksum, 'commit');
      const r = sigs.length
        ? await new Ed25519Verifier(opts.trustedKeys).verify(bytes, sigs)
        : { valid: false, reason: 'not signed' };
      if (!r.valid)
        findings.push(
          error(
            'bad-metadata-signature',
            `ostree-metadata of '${cid}' is not signed by a trusted key (${r.reason ?? 'invalid'})`,
            objectPath(meta.checksum, 'commitmeta'),
          ),
        );
    }
  }
  return findings;
}

/** Every object reachable from each listed commit is present (partial refs: within their recorded subpaths). */
async function checkCompleteness(v: RepoView): Promise<Finding[]> {
  const findings: Finding[] = [];
  const subpathsOf = new Map<string, readonly string[]>();
  const recordsSubpaths = new Set<string>();
  for (const [cid, entries] of v.listed) {
    const meta = entries.find((e) => e.ref === METADATA_REF);
    const c = meta ? await v.loadCommit(meta.checksum) : null;
    for (const [ref, paths] of c ? recordedSubpaths(c.commit.metadata) : []) subpathsOf.set(`${cid}\0${ref}`, paths);
    // An ostree-metadata commit written by sideload records every partial ref: then a ref it leaves out is
    // complete, whatever marker is on the drive (`ostree fsck` marks a commit with missing objects partial).
    if (c && recordsRefs(c.commit.metadata)) recordsSubpaths.add(cid);
  }
  for (const [cid, entries] of v.listed) {
    for (const e of entries) {
      if (!(await v.loadCommit(e.checksum))) continue;
      const marker = `state/${e.checksum}.commitpartial`;
      const partial = await v.store.isCommitPartial(e.checksum);
      const subpaths = subpathsOf.get(`${cid}\0${e.ref}`) ?? null;
      const recorded = recordsSubpaths.has(cid);
      if (partial && !subpaths && recorded)
        findings.push(
          error(
            'unexpected-partial',
            `'${e.ref}' is marked partial but the ostree-metadata commit records it as complete (was an object lost?)`,
            marker,
          ),
        );
      else if (partial && !subpaths)
        findings.push(
          warning(
            'partial-unknown-subpaths',
            `'${e.ref}' is partial and its subpaths are not recorded; checked what is reachable`,
            marker,
          ),
        );
      if (!partial && subpaths)
        findings.push(
          error(
            'partial-marker-missing',
            `'${e.ref}' is a subset (${subpaths.join(', ')}) but has no commitpartial marker: online clients would treat it as complete`,
            marker,
          ),
        );
      let missing = 0;
      let first = '';
      try {
        for await (const o of walkCommit(v.objects, e.checksum, {
          subpaths,
          tolerateMissing: partial && !subpaths && !recorded,
          ref: e.ref,
        })) {
          if (!v.present.has(`${o.checksum}.${o.type}`)) {
            missing++;
            first ||= `${objectPath(o.checksum, o.type)}${o.path ? ` (${o.path})` : ''}`;
          }
        }
      } catch (err) {
        const failure = expectFailure(err);
        if (failure instanceof SideloadError && failure.code === 'ETOODEEP') {
          findings.push(error('tree-too-deep', failure.message, `refs/mirrors/${cid}/${e.ref}`));
          continue;
        }
        // A dirtree or dirmeta that is missing or does not decode: the walk cannot go past it.
        const d = failure instanceof SideloadError ? failure.data : {};
        const at =
          typeof d['checksum'] === 'string' && typeof d['type'] === 'string'
            ? objectPath(d['checksum'], d['type'])
            : failure.message;
        missing++;
        first ||= `${at} (the walk stops there)`;
      }
      if (missing)
        findings.push(
          error(
            'incomplete-ref',
            `'${e.ref}' of '${cid}' is incomplete: ${missing} objects missing, first ${first}`,
            `refs/mirrors/${cid}/${e.ref}`,
          ),
        );
    }
  }
  return findings;
}

/** summary.sig against the trusted keys (or a warning that it was not checked). */
async function checkDriveSignature(v: RepoView, opts: VerifyOptions): Promise<Finding[]> {
  const sigBytes = await fs.readFile(path.join(v.repo, 'summary.sig')).catch(() => null);
  if (!opts.trustedKeys?.length)
    return sigBytes
      ? [
          warning(
            'signature-not-checked',
            'the summary is signed; pass --trusted-key to check the signature',
            'summary.sig',
          ),
        ]
      : [];
  if (!sigBytes) return [error('unsigned-summary', 'the summary is not signed (no summary.sig)', 'summary.sig')];
  if (!v.summaryBytes) return [];
  const r = await new Ed25519Verifier(opts.trustedKeys).verify(
    v.summaryBytes,
    readSignatures(new Uint8Array(sigBytes), KEY.ed25519Sigs),
  );
  return r.valid
    ? []
    : [
        error(
          'bad-summary-signature',
          `summary.sig does not verify with the trusted keys (${r.reason ?? 'invalid'})`,
          'summary.sig',
        ),
      ];
}

/** With upstream keys given: every copied commit (not ostree-metadata) must be signed by one of them. */
async function checkCommitSignatures(v: RepoView, opts: VerifyOptions): Promise<Finding[]> {
  const verifier = new CommitVerifier({ gpg: opts.upstreamGpg ?? [], ed25519: opts.upstreamEd25519 ?? [] });
  if (verifier.empty) return [];
  const findings: Finding[] = [];
  for (const [cid, entries] of v.listed) {
    for (const e of entries) {
      if (e.ref === METADATA_REF) continue;
      let bytes: Uint8Array;
      try {
        bytes = await v.objects.readMetadata(e.checksum, 'commit');
      } catch {
        continue; // reported as missing or corrupt by checkSummaryRefs
      }
      const r = await verifier.check(bytes, await v.objects.readCommitMeta(e.checksum).catch(() => null));
      if (r.valid) continue;
      const what =
        r.problem === 'unsigned'
          ? 'is not signed'
          : `is signed by ${r.signerKeyIds.length ? `GPG key ${r.signerKeyIds.join(', ')}` : 'a key'} that is not among the given upstream keys`;
      findings.push(
        error(
          r.problem === 'unsigned' ? 'unsigned-commit' : 'untrusted-commit',
          `commit ${e.checksum} of '${e.ref}' (${cid}) ${what}`,
          `objects/${e.checksum.slice(0, 2)}/${e.checksum.slice(2)}.commitmeta`,
        ),
      );
    }
  }
  return findings;
}
