/**
 * `verifyDrive`: checks a drive without trusting it (drive.md §6): repo layout, every object re-hashed, every ref
 * complete (partial ones within their recorded subpaths), summary ↔ refs ↔ ostree-metadata in agreement, drive
 * signatures against given keys, and the upstream copy against upstream keys and against the drive. Reports each
 * problem with the path at fault; never throws for a bad drive, only for a drive it cannot find.
 */
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import fs from 'fs-extra';
import { SideloadError } from '../errors.js';
import { lookup } from '../gvariant/index.js';
import { parseKeyFile } from '../keyfile/index.js';
import { decodeCommit, type Commit } from '../ostree/commit.js';
import { KEY, METADATA_REF } from '../ostree/formats.js';
import { openObjectSource, listObjects, verifyObject, walkCommit, type ObjectSource } from '../repo/index.js';
import { lockHolder } from '../repo/writer.js';
import { Ed25519Verifier, encodeDetached, readSignatures } from '../sign/index.js';
import { checkMetadataCommit, SIDELOAD_REFS_KEY, SIDELOAD_SUBPATHS_KEY } from '../summary/metadata-commit.js';
import { decodeSummary, summaryCollections, type DecodedSummary } from '../summary/summary.js';
import type { ProgressCallback } from './events.js';
import { findDriveRepos } from './find-repos.js';
import { hasPendingPublish, JOURNAL, listLeftovers, replay } from './publish.js';
import { listRefFiles } from './sources.js';
import { checkUpstream, indexedNames, UPSTREAM_ROOT_FILES } from './upstream.js';
import { UPSTREAM_DIR } from './upstream-copy.js';

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
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
}

export interface Finding {
  readonly severity: 'error' | 'warning';
  readonly code: string;
  readonly message: string;
  /** The file or object at fault, relative to the repo. */
  readonly path?: string;
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
    if (opts.repair) {
      const pid = await lockHolder(r);
      if (pid !== null) throw new SideloadError('ELOCKED', `another sideload process (pid ${pid}) is writing to ${r}; let it finish before --repair`, { path: r, pid });
      await replay(r);
    }
    reports.push(await verifyRepo(r, opts));
  }
  return { ok: reports.every((r) => r.ok), repos: reports };
}

export async function verifyRepo(repo: string, opts: VerifyOptions = {}): Promise<RepoReport> {
  const findings: Finding[] = [];
  const error = (code: string, message: string, p?: string) => findings.push({ severity: 'error', code, message, ...(p ? { path: p } : {}) });
  const warning = (code: string, message: string, p?: string) => findings.push({ severity: 'warning', code, message, ...(p ? { path: p } : {}) });
  let objectCount = 0;
  let refCount = 0;
  const collections: string[] = [];
  const done = (): RepoReport => ({ repo, ok: !findings.some((f) => f.severity === 'error'), refs: refCount, objects: objectCount, collections, findings });

  // --- layout ---
  const configText = await fs.readFile(path.join(repo, 'config'), 'utf8').catch(() => null);
  if (configText === null) {
    error('no-config', 'the repo has no config file', 'config');
    return done();
  }
  let config;
  try {
    config = parseKeyFile(configText);
  } catch (e) {
    error('bad-config', `config cannot be parsed: ${(e as Error).message}`, 'config');
    return done();
  }
  const mode = config.get('core', 'mode');
  if (mode !== 'archive-z2' && mode !== 'archive') error('not-archive', `repo mode is '${mode ?? '(none)'}', not archive`, 'config');
  if (config.get('core', 'collection-id')) warning('collection-id-set', 'core.collection-id is set: offline clients list only the collection-map, so refs/heads would be invisible', 'config');
  for (const d of ['objects', 'tmp', 'refs/heads', 'refs/mirrors', 'state'])
    if (!(await fs.pathExists(path.join(repo, d)))) error('missing-dir', `directory '${d}' is missing (a read-only drive cannot be opened without it)`, d);
  if (await hasPendingPublish(repo)) error('pending-publish', 'an interrupted update left its publish journal; run `sideload verify --repair` (or the same `sideload create` again) to finish it', JOURNAL);

  let objects: ObjectSource;
  try {
    objects = await openObjectSource(repo);
  } catch (e) {
    error('open-failed', (e as Error).message);
    return done();
  }
  try {
    // --- objects: every one re-hashed ---
    const present = new Set<string>();
    for await (const o of listObjects(repo)) {
      objectCount++;
      present.add(`${o.checksum}.${o.type}`);
      if (opts.quick) continue;
      if (opts.signal?.aborted) throw new SideloadError('EINTERRUPTED', 'interrupted');
      try {
        await verifyObject(objects, o.checksum, o.type);
      } catch (e) {
        error('corrupt-object', (e as Error).message, o.path);
      }
      if (objectCount % 256 === 0) opts.onProgress?.({ phase: 'verify', objectsDone: objectCount, bytesDone: 0 });
    }

    // --- refs ---
    const refs = new Map<string, Map<string, string>>();
    for (const [name, checksum] of await listRefFiles(path.join(repo, 'refs', 'mirrors'))) {
      const slash = name.indexOf('/');
      const cid = name.slice(0, slash);
      refs.set(cid, (refs.get(cid) ?? new Map<string, string>()).set(name.slice(slash + 1), checksum));
      refCount++;
    }
    for (const [name] of await listRefFiles(path.join(repo, 'refs', 'heads'))) warning('head-ref', `refs/heads/${name} is not visible to offline clients (only refs/mirrors are listed)`, `refs/heads/${name}`);
    collections.push(...[...refs.keys()].sort());

    // --- summary ---
    let summary: DecodedSummary | null = null;
    const summaryBytes = await fs.readFile(path.join(repo, 'summary')).catch(() => null);
    if (!summaryBytes) error('no-summary', 'the repo has no summary: clients ignore it', 'summary');
    else {
      try {
        summary = decodeSummary(new Uint8Array(summaryBytes), 'summary');
      } catch (e) {
        error('bad-summary', (e as Error).message, 'summary');
      }
    }
    const commits = new Map<string, { commit: Commit; size: number } | null>();
    const commitErrors = new Map<string, string>();
    const loadCommit = async (c: string) => {
      if (!commits.has(c)) {
        try {
          const bytes = await objects.readMetadata(c, 'commit');
          commits.set(c, { commit: decodeCommit(bytes, c), size: bytes.length });
        } catch (e) {
          commits.set(c, null);
          commitErrors.set(c, (e as Error).message);
        }
      }
      return commits.get(c) ?? null;
    };

    if (summary) {
      const listed = summaryCollections(summary);
      if (summary.refs.length) warning('main-refs', `the summary's main ref list has ${summary.refs.length} refs; offline clients only read the collection-map`, 'summary');
      for (const [cid, entries] of listed) {
        const onDisk = refs.get(cid) ?? new Map<string, string>();
        for (const e of entries) {
          const p = `refs/mirrors/${cid}/${e.ref}`;
          const disk = onDisk.get(e.ref);
          if (disk === undefined) error('summary-ref-missing', `the summary lists '${e.ref}' of '${cid}' but ${p} does not exist`, p);
          else if (disk !== e.checksum) error('summary-ref-mismatch', `'${e.ref}' of '${cid}' is ${e.checksum.slice(0, 12)}… in the summary but ${disk.slice(0, 12)}… in ${p}`, p);
          const c = await loadCommit(e.checksum);
          const commitPath = `objects/${e.checksum.slice(0, 2)}/${e.checksum.slice(2)}.commit`;
          if (!c && !present.has(`${e.checksum}.commit`)) error('missing-commit', `commit ${e.checksum} of '${e.ref}' is missing: ${commitPath} does not exist`, commitPath);
          else if (!c) error('corrupt-commit', `commit ${e.checksum} of '${e.ref}' cannot be read from ${commitPath}: ${commitErrors.get(e.checksum) ?? 'corrupt'}`, commitPath);
          else {
            if (c.size !== e.commitSize) error('summary-size', `the summary gives '${e.ref}' a commit size of ${e.commitSize}, the commit has ${c.size} bytes`, 'summary');
            if (c.commit.timestamp !== e.timestamp) error('summary-timestamp', `the summary's timestamp for '${e.ref}' differs from its commit's`, 'summary');
          }
        }
        for (const [ref] of onDisk)
          if (!entries.some((e) => e.ref === ref)) error('ref-not-in-summary', `refs/mirrors/${cid}/${ref} is not in the summary: clients cannot see it`, `refs/mirrors/${cid}/${ref}`);
      }
      for (const cid of refs.keys()) if (!listed.has(cid)) error('collection-not-in-summary', `collection '${cid}' has refs but is not in the summary`, `refs/mirrors/${cid}`);

      // --- ostree-metadata per collection ---
      for (const [cid, entries] of listed) {
        const meta = entries.find((e) => e.ref === METADATA_REF);
        if (!meta) {
          warning('no-ostree-metadata', `collection '${cid}' has no ostree-metadata commit`, `refs/mirrors/${cid}/${METADATA_REF}`);
          continue;
        }
        const c = await loadCommit(meta.checksum);
        if (!c) continue;
        for (const p of checkMetadataCommit(c.commit, cid, entries, summary.lastModified)) error('metadata-mismatch', `ostree-metadata of '${cid}': ${p}`, `refs/mirrors/${cid}/${METADATA_REF}`);
        if (opts.trustedKeys?.length) {
          const cm = await objects.readCommitMeta(meta.checksum);
          const sigs = cm ? readSignatures(cm, KEY.ed25519Sigs) : [];
          const bytes = await objects.readMetadata(meta.checksum, 'commit');
          const r = sigs.length ? await new Ed25519Verifier(opts.trustedKeys).verify(bytes, sigs) : { valid: false, reason: 'not signed' };
          if (!r.valid) error('bad-metadata-signature', `ostree-metadata of '${cid}' is not signed by a trusted key (${r.reason ?? 'invalid'})`, `objects/${meta.checksum.slice(0, 2)}/${meta.checksum.slice(2)}.commitmeta`);
        }
      }

      // --- completeness: every object reachable from each listed commit is present ---
      const subpathsOf = new Map<string, readonly string[]>();
      const recordsSubpaths = new Set<string>();
      for (const [cid, entries] of listed) {
        const meta = entries.find((e) => e.ref === METADATA_REF);
        const c = meta ? await loadCommit(meta.checksum) : null;
        const sp = c ? lookup(c.commit.metadata, SIDELOAD_SUBPATHS_KEY) : undefined;
        if (sp?.type === 'a{sas}') for (const [ref, paths] of sp.value as Array<[string, string[]]>) subpathsOf.set(`${cid}\0${ref}`, paths);
        // An ostree-metadata commit written by sideload records every partial ref: then a ref it leaves out is
        // complete, whatever marker is on the drive (`ostree fsck` marks a commit with missing objects partial).
        if (c && lookup(c.commit.metadata, SIDELOAD_REFS_KEY) !== undefined) recordsSubpaths.add(cid);
      }
      for (const [cid, entries] of listed) {
        for (const e of entries) {
          if (!(await loadCommit(e.checksum))) continue;
          const partial = await fs.pathExists(path.join(repo, 'state', `${e.checksum}.commitpartial`));
          const subpaths = subpathsOf.get(`${cid}\0${e.ref}`) ?? null;
          const recorded = recordsSubpaths.has(cid);
          if (partial && !subpaths && recorded)
            error('unexpected-partial', `'${e.ref}' is marked partial but the ostree-metadata commit records it as complete (was an object lost?)`, `state/${e.checksum}.commitpartial`);
          else if (partial && !subpaths) warning('partial-unknown-subpaths', `'${e.ref}' is partial and its subpaths are not recorded; checked what is reachable`, `state/${e.checksum}.commitpartial`);
          if (!partial && subpaths) error('partial-marker-missing', `'${e.ref}' is a subset (${subpaths.join(', ')}) but has no commitpartial marker: online clients would treat it as complete`, `state/${e.checksum}.commitpartial`);
          let missing = 0;
          let first = '';
          const objectPath = (checksum: string, type: string) => `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${type === 'file' ? 'filez' : type}`;
          try {
            for await (const o of walkCommit(objects, e.checksum, { subpaths, tolerateMissing: partial && !subpaths && !recorded })) {
              if (!present.has(`${o.checksum}.${o.type}`)) {
                missing++;
                first ||= `${objectPath(o.checksum, o.type)}${o.path ? ` (${o.path})` : ''}`;
              }
            }
          } catch (err) {
            // A dirtree or dirmeta that is missing or does not decode: the walk cannot go past it.
            const d = err instanceof SideloadError ? err.data : {};
            const at = typeof d['checksum'] === 'string' && typeof d['type'] === 'string' ? objectPath(d['checksum'], d['type']) : (err as Error).message;
            missing++;
            first ||= `${at} (the walk stops there)`;
          }
          if (missing) error('incomplete-ref', `'${e.ref}' of '${cid}' is incomplete: ${missing} objects missing, first ${first}`, `refs/mirrors/${cid}/${e.ref}`);
        }
      }
    }

    // --- drive signature ---
    const sigBytes = await fs.readFile(path.join(repo, 'summary.sig')).catch(() => null);
    if (opts.trustedKeys?.length) {
      if (!sigBytes) error('unsigned-summary', 'the summary is not signed (no summary.sig)', 'summary.sig');
      else if (summaryBytes) {
        const r = await new Ed25519Verifier(opts.trustedKeys).verify(new Uint8Array(summaryBytes), readSignatures(new Uint8Array(sigBytes), KEY.ed25519Sigs));
        if (!r.valid) error('bad-summary-signature', `summary.sig does not verify with the trusted keys (${r.reason ?? 'invalid'})`, 'summary.sig');
      }
    } else if (sigBytes) warning('signature-not-checked', 'the summary is signed; pass --trusted-key to check the signature', 'summary.sig');

    // --- upstream copies ---
    const upRoot = path.join(repo, UPSTREAM_DIR);
    for (const cid of (await fs.readdir(upRoot).catch(() => [] as string[])).sort()) {
      const dir = path.join(upRoot, cid);
      const rel = `${UPSTREAM_DIR}/${cid}`;
      if (OLD_UPSTREAM_COPY.test(cid)) continue; // an interrupted run's old copy: see leftoverFindings
      const stray = await upstreamStrayFindings(dir, rel);
      findings.push(...stray.filter((f) => f.code !== 'upstream-extra-file'));
      if (stray.some((f) => f.code === 'upstream-not-directory')) continue;
      // Files the index does not account for count only while the index itself checks (else that is the finding).
      const extra = stray.filter((f) => f.code === 'upstream-extra-file');
      const files = new Map<string, Uint8Array>();
      for (const f of await listFiles(dir)) if (f !== 'sideload.json') files.set(f, new Uint8Array(await fs.readFile(path.join(dir, f))));
      const keys = { gpg: opts.upstreamGpg ?? [], ed25519: opts.upstreamEd25519 ?? [] };
      try {
        // Signatures of a kind no key was given for cannot be checked: leave them out (the digest chain is still
        // checked), or a good drive would fail for want of keys.
        const checkable = withoutUncheckableSignatures(files, { gpg: keys.gpg.length > 0, ed25519: keys.ed25519.length > 0 });
        const check = await checkUpstream(cid, { origin: rel, files: checkable }, keys, 'allow-unsigned', (b) => new Uint8Array(gunzipSync(b)));
        if (check.signedBy.length === 0) {
          if (keys.gpg.length || keys.ed25519.length) error('upstream-unverified', `the upstream summary of '${cid}' is not signed by the given upstream keys`, rel);
          else warning('upstream-not-checked', `the upstream summary of '${cid}' was not checked: pass --upstream-gpg or --upstream-key`, rel);
        }
        const up = files.get('summary');
        if (up && summary) {
          const upstreamRefs = summaryCollections(decodeSummary(up, `${rel}/summary`));
          const known = new Set([...(upstreamRefs.get(cid) ?? []), ...(decodeSummary(up).refs ?? [])].map((r) => r.ref));
          for (const e of summaryCollections(summary).get(cid) ?? [])
            if (e.ref !== METADATA_REF && !known.has(e.ref) && !e.ref.startsWith('appstream'))
              warning('unknown-upstream', `'${e.ref}' on the drive is not in the upstream summary of '${cid}'`, `refs/mirrors/${cid}/${e.ref}`);
        }
      } catch (e) {
        error('upstream-tampered', `upstream summary of '${cid}': ${(e as Error).message}`, rel);
      }
      if (!findings.some((f) => f.code === 'upstream-tampered' && f.path === rel)) findings.push(...extra);
    }
    findings.push(...(await leftoverFindings(repo)));
  } finally {
    await objects.close?.();
  }
  return done();
}

/**
 * The upstream files with, in each `*.sig`, only the signature kinds there are keys for (re-encoded in normal
 * form; a `.sig` left with no signature is dropped, so the file counts as unsigned).
 */
function withoutUncheckableSignatures(files: ReadonlyMap<string, Uint8Array>, have: { gpg: boolean; ed25519: boolean }): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, bytes] of files) {
    if (!name.endsWith('.sig') || (have.gpg && have.ed25519)) {
      out.set(name, bytes);
      continue;
    }
    const keep = ([KEY.gpgSigs, KEY.ed25519Sigs] as const)
      .filter((k) => (k === KEY.gpgSigs ? have.gpg : have.ed25519))
      .map((k) => [k, readSignatures(bytes, k)] as const)
      .filter(([, sigs]) => sigs.length > 0);
    if (keep.length) out.set(name, encodeDetached(keep));
  }
  return out;
}

/** Regular files under `dir` (never through a symlink: upstreamStrayFindings reports those). */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), `${prefix}${e.name}/`)));
    else if (e.isFile()) out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

const OLD_UPSTREAM_COPY = /\.old-\d+$/;

/**
 * Anything in an upstream copy that is not part of the signed set: a symlink or other non-regular file (never read),
 * or a file that neither the root files, `sideload.json`, nor the summary.idx (its subsummaries, and the
 * `summaries/<sha256 of summary.idx>.idx.sig` copy ostree keeps) accounts for.
 */
async function upstreamStrayFindings(dir: string, rel: string): Promise<Finding[]> {
  const out: Finding[] = [];
  const st = await fs.lstat(dir);
  if (!st.isDirectory()) return [{ severity: 'error', code: 'upstream-not-directory', message: `${rel} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; an upstream copy is a directory of regular files`, path: rel }];
  const all: Array<[string, fs.Dirent]> = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
      if (e.isDirectory()) await walk(path.join(d, e.name), `${prefix}${e.name}/`);
      else all.push([`${prefix}${e.name}`, e]);
    }
  };
  await walk(dir, '');
  const idxFile = path.join(dir, 'summary.idx');
  const idx = (await fs.lstat(idxFile).catch(() => null))?.isFile() ? new Uint8Array(await fs.readFile(idxFile)) : null;
  const allowed = new Set<string>(['sideload.json', ...UPSTREAM_ROOT_FILES, ...(idx ? indexedNames(idx) : [])]);
  for (const [name, e] of all) {
    if (!e.isFile()) out.push({ severity: 'error', code: 'upstream-unexpected-file', message: `${rel}/${name} is ${e.isSymbolicLink() ? 'a symlink' : 'not a regular file'}: an upstream copy holds only the signed summary files`, path: `${rel}/${name}` });
    else if (!allowed.has(name)) out.push({ severity: 'error', code: 'upstream-extra-file', message: `${rel}/${name} is not part of the signed upstream summary (not a root file, nor named by its summary.idx)`, path: `${rel}/${name}` });
  }
  return out;
}

/** Leftovers of a killed run (publish.ts listLeftovers): harmless to clients; --repair and the next create remove them. */
async function leftoverFindings(repo: string): Promise<Finding[]> {
  return (await listLeftovers(repo).catch(() => [] as string[])).map((p) => ({
    severity: 'warning' as const,
    code: 'leftover',
    message: `${p} was left by an interrupted run; \`sideload verify --repair\` (or the next \`sideload create\`) removes it`,
    path: p,
  }));
}
