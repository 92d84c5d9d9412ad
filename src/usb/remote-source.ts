/**
 * An HTTP(S) flatpak/ostree remote as a source (issue: straight from the remote). Reads the remote as flatpak
 * does: `summary.idx` and the per-arch subsummaries where published, otherwise the compat `summary`, each
 * signature checked before anything in it is trusted. Refs, commits and metadata come from the summary data
 * (xa.cache / xa.data) and the commits; objects are fetched through the archive object source over HTTP.
 */
import path from 'node:path';
import { CorruptError, NotFoundError, SignatureError, UsageError } from '../errors.js';
import { lookup, type VarDict } from '../gvariant/index.js';
import { FLATPAKREPO_LIMIT, readFlatpakrepo } from '../flatpak/flatpakrepo.js';
import { Installation, installationsInScope, type InstallationScope } from '../flatpak/installation.js';
import { sha256Hex } from '../ostree/checksum.js';
import { KEY } from '../ostree/formats.js';
import { openArchiveSource } from '../repo/index.js';
import { readXaCache } from '../summary/metadata-commit.js';
import { decodeSummary, summaryCollections, type DecodedRef } from '../summary/summary.js';
import { decodeSummaryIndex } from '../summary/summary-index.js';
import { openTransport, type TransportLike } from '../transport/index.js';
import { readNamedFile } from '../transport/local.js';
import { decorateSource, readCommitObject, type ObjectSource } from '../repo/source.js';
import type { ListHint, Source, SourceRef, TrustedKeys, UpstreamFiles } from './source.js';
import { checkUpstream, gunzipSubsummary, MAX_SUMMARY_BYTES, verifyOne } from './upstream.js';
import { loadExtraKeys, type ExtraKeys } from '../sign/key-files.js';

export interface RemoteSpec {
  readonly url?: string;
  /** A `.flatpakrepo` file: URL, collection ID and key from it. */
  readonly flatpakrepo?: string;
  /** A remote configured in a flatpak installation. */
  readonly remote?: string;
  readonly scope?: InstallationScope;
  readonly collectionId?: string;
  /** Key files given for the remote. */
  readonly keys?: ExtraKeys;
  /** Accept an unsigned summary (default: refuse unless keys say the remote is unsigned by design). */
  readonly allowUnsigned?: boolean;
  readonly signal?: AbortSignal;
  /** Transport options (retries, concurrency, timeouts) for tests and tuning. */
  readonly transport?: Record<string, unknown>;
  /** With `url`: keys known already (a remote's keyring read by the caller), and whether signatures are required. */
  readonly trusted?: TrustedKeys;
  readonly gpgVerify?: boolean;
}

interface RemoteFacts {
  url: string;
  name: string;
  collectionId?: string;
  keys: TrustedKeys;
  gpgVerify: boolean;
}

async function remoteFacts(spec: RemoteSpec): Promise<RemoteFacts> {
  const extra = await loadExtraKeys(spec.keys);
  const gpg = [...extra.gpg];
  const ed25519 = [...extra.ed25519];
  if (spec.flatpakrepo) {
    const read = readFlatpakrepo(await fetchFlatpakrepo(spec.flatpakrepo, spec));
    if (!read.ok)
      throw new UsageError(`'${spec.flatpakrepo}' is not a .flatpakrepo file: ${read.reason}`, {
        path: spec.flatpakrepo,
      });
    const key = read.gpgKey;
    if (key) gpg.push(key);
    const cid = spec.collectionId ?? read.collectionId;
    return {
      url: read.url,
      name: path.basename(spec.flatpakrepo.replace(/[?#].*$/, '')).replace(/\.flatpakrepo$/, ''),
      ...(cid ? { collectionId: cid } : {}),
      keys: { gpg, ed25519 },
      gpgVerify: !!key || gpg.length > 0,
    };
  }
  if (spec.remote) {
    const locations = await installationsInScope(spec.scope ?? {});
    for (const l of locations) {
      const inst = await Installation.open(l);
      const r = inst.remotes().get(spec.remote);
      if (!r) continue;
      if (!r.url) throw new UsageError(`remote '${spec.remote}' has no URL`, { remote: spec.remote });
      const k = await inst.trustedKeys(spec.remote);
      if (k) gpg.push(k);
      const cid = spec.collectionId ?? r.collectionId;
      return {
        url: r.url,
        name: spec.remote,
        ...(cid ? { collectionId: cid } : {}),
        keys: { gpg, ed25519 },
        gpgVerify: r.gpgVerify,
      };
    }
    throw new NotFoundError(`remote '${spec.remote}' is not configured in any flatpak installation in scope`, {
      remote: spec.remote,
    });
  }
  if (!spec.url) throw new UsageError('a remote source needs --url, --from or --remote');
  if (!/^(https?|file):\/\//.test(spec.url))
    throw new UsageError(`'${spec.url}' is not an http(s):// or file:// URL`, { url: spec.url });
  gpg.push(...(spec.trusted?.gpg ?? []));
  ed25519.push(...(spec.trusted?.ed25519 ?? []));
  return {
    url: spec.url,
    name: new URL(spec.url).host || 'remote',
    ...(spec.collectionId ? { collectionId: spec.collectionId } : {}),
    keys: { gpg, ed25519 },
    gpgVerify: spec.gpgVerify ?? gpg.length > 0,
  };
}

/** A remote's summary must verify before its refs are trusted: only a key fixes a missing one. */
const REMOTE_GPG_FIX =
  'pass --gpg-import KEYFILE with that key (flatpak keeps it as <remote>.trustedkeys.gpg), or --from the ' +
  "remote's .flatpakrepo (its GPGKey)";

/** A `.flatpakrepo` from a file or an HTTP(S) URL (bounded, through the same transport and its retries). */
async function fetchFlatpakrepo(where: string, spec: RemoteSpec): Promise<string> {
  if (!/^https?:\/\//i.test(where)) {
    const bytes = await readNamedFile(where, FLATPAKREPO_LIMIT);
    if (!bytes) throw new NotFoundError(`'${where}' does not exist`, { path: where });
    return Buffer.from(bytes).toString('utf8');
  }
  let u: URL;
  try {
    u = new URL(where);
  } catch {
    throw new UsageError(`'${where}' is not a valid URL`, { url: where });
  }
  const file = u.pathname.split('/').pop() ?? '';
  if (!file) throw new UsageError(`--from '${where}' names a directory, not a .flatpakrepo file`, { url: where });
  const t = await openTransport(new URL('.', u).href, {
    ...(spec.transport ?? {}),
    ...(spec.signal ? { signal: spec.signal } : {}),
  });
  try {
    const b = await t.read(decodeURIComponent(file), {
      priority: 'metadata',
      maxBytes: FLATPAKREPO_LIMIT,
      ...(spec.signal ? { signal: spec.signal } : {}),
    });
    if (!b) throw new NotFoundError(`${where} does not exist (HTTP 404)`, { url: where });
    return Buffer.from(b).toString('utf8');
  } finally {
    await t.close();
  }
}

/** Opens a remote: fetches and checks its summary (or index and subsummaries) before anything else. */
export async function openRemoteSource(spec: RemoteSpec): Promise<Source> {
  const facts = await remoteFacts(spec);
  const transport: TransportLike = await openTransport(facts.url, {
    ...(spec.transport ?? {}),
    ...(spec.signal ? { signal: spec.signal } : {}),
  });
  const opt = spec.signal ? { signal: spec.signal } : {};
  /** A file's URL in messages (a base URL given with a trailing slash would say `…//summary.idx`). */
  const at = (file: string) => `${facts.url.replace(/\/+$/, '')}/${file}`;
  const files = new Map<string, Uint8Array>();
  const get = async (p: string) => {
    // Summaries and signatures are bounded as metadata objects are (a hostile server may send an endless body).
    const b = await transport.read(p, { ...opt, priority: 'metadata', maxBytes: MAX_SUMMARY_BYTES });
    if (b) files.set(p, b);
    return b;
  };
  const idx = await get('summary.idx');
  if (idx) {
    await get('summary.idx.sig');
    // The index's signature as ostree also keeps it (summaries/<sha256 of summary.idx>.idx.sig): part of the set
    // the drive carries, as from a local repo (upstream.ts indexedNames). An older server may not have it.
    await get(`summaries/${sha256Hex(idx)}.idx.sig`);
  }
  const compat = await get('summary');
  if (compat) await get('summary.sig');
  if (!idx && !compat)
    throw new NotFoundError(`${facts.url} has neither summary.idx nor summary: is it an ostree repo?`, {
      url: facts.url,
    });

  const policy = spec.allowUnsigned
    ? 'allow-unsigned'
    : facts.gpgVerify || facts.keys.ed25519.length
      ? 'require-signature'
      : 'allow-unsigned';
  // The subsummaries (one per arch) are fetched as flatpak fetches them: those of the arches a run plans for
  // (listRefs' hint; all without one), and every one only for the copy the drive carries (upstreamSummary).
  const fetched = new Set<string>(); // the subsummaries (by name: the arch) fetched and checked so far
  let listed: ReadonlyArray<{ name: string; digest: string }> = [];
  let indexMeta: VarDict = [];
  let indexCid: string | undefined;
  if (idx) {
    // The index's signature first: nothing in it (not even its framing) is read before it verifies.
    const sig = await verifyOne(idx, files.get('summary.idx.sig'), facts.keys, at('summary.idx'), REMOTE_GPG_FIX);
    if (policy === 'require-signature' && sig.signedBy.length === 0)
      throw new SignatureError(`${at('summary.idx')} is not signed by a trusted key`, { url: facts.url });
    const index = decodeSummaryIndex(idx, at('summary.idx'));
    indexMeta = index.metadata;
    listed = index.subsummaries;
    const c = lookup(indexMeta, KEY.summaryCollectionId);
    if (c?.type === 's' && c.value) indexCid = c.value as string;
  }
  const decodedSubs: Array<ReturnType<typeof decodeSummary>> = [];
  /** Fetches the listed subsummaries `want` accepts that are not fetched yet; `why` ends the message of a missing one. */
  const fetchNow = async (want: (name: string) => boolean, why: (name: string) => string) => {
    for (const { name, digest: sha } of listed) {
      if (fetched.has(name) || !want(name)) continue;
      const gz = await get(`summaries/${sha}.gz`);
      if (!gz)
        throw new NotFoundError(
          `${facts.url}: subsummary ${name} (summaries/${sha}.gz) listed in summary.idx is missing${why(name)}`,
          { url: facts.url, subsummary: name },
        );
      const plain = gunzipSubsummary(gz, `${at(`summaries/${sha}.gz`)} (subsummary ${name})`);
      if (sha256Hex(plain) !== sha)
        throw new CorruptError(`${facts.url}: subsummary ${name} does not match its digest ${sha}`, { url: facts.url });
      fetched.add(name);
      decodedSubs.push(decodeSummary(plain, `${facts.url} subsummary ${name}`));
    }
  };
  // One fetch at a time: listings that overlap do not fetch (and add) a subsummary twice.
  let fetching: Promise<void> = Promise.resolve();
  const fetchSubsummaries = (want: (name: string) => boolean, why: (name: string) => string) =>
    (fetching = fetching.catch(() => {}).then(() => fetchNow(want, why)));
  const upstream: UpstreamFiles = { origin: facts.url, files };
  // Verify before trusting anything: throws on a bad signature, or on a missing one when keys are known. (The
  // subsummaries are checked against the signed index as they are fetched.)
  const check = await checkUpstream(
    facts.collectionId ?? '(remote)',
    upstream,
    facts.keys,
    policy,
    undefined,
    REMOTE_GPG_FIX,
    { subsummaries: 'fetched' },
  );
  if (policy === 'require-signature' && check.signedBy.length === 0)
    throw new SignatureError(`${facts.url}: summary is not signed by a trusted key`);

  const decodedCompat = compat ? decodeSummary(compat, at('summary')) : null;
  /** Refs and their metadata, from the subsummaries fetched so far and the compat summary. */
  const currentRefs = (): SourceRef[] => {
    const refs: SourceRef[] = [];
    const seen = new Set<string>();
    const metaText = new Map<string, string>();
    // The remote's collection ID: the one given (option, .flatpakrepo, remote config), else the one its signed
    // summaries name (`ostree.summary.collection-id`: flatpak's subsummaries leave it out while summary.idx and the
    // compat summary have it), so refs listed in a summary without it are not offered twice, once with and once
    // without a collection, and a remote that publishes no compat summary needs no --collection-id.
    const named = new Set(
      [...decodedSubs.map((s) => s.collectionId), decodedCompat?.collectionId, indexCid].filter(
        (c): c is string => !!c,
      ),
    );
    const remoteCid = facts.collectionId ?? (named.size === 1 ? ([...named][0] as string) : undefined);
    const summaryCid = (s: ReturnType<typeof decodeSummary>) => s.collectionId ?? remoteCid ?? null;
    const addRefs = (cid: string | null, entries: readonly DecodedRef[]) => {
      for (const e of entries) {
        const key = `${cid === null ? '\u0001' : cid}\0${e.ref}`; // no collection ID is never '\u0001'
        if (seen.has(key)) continue;
        seen.add(key);
        const data = lookup(e.metadata, KEY.xaData);
        if (data?.type === '(tts)') metaText.set(e.ref, (data.value as [bigint, bigint, string])[2]);
        // Only a flatpak remote (--remote) has a name `flatpak remote-modify` takes: a URL's host or a
        // .flatpakrepo's file name is none, and a ref without a collection then says "pass --collection-id", as a
        // repo's does.
        refs.push({
          ref: e.ref,
          collectionId: cid,
          commit: e.checksum,
          ...(spec.remote ? { remote: facts.name } : {}),
        });
      }
    };
    for (const s of decodedSubs) {
      addRefs(summaryCid(s), s.refs);
      for (const [cid, entries] of s.collectionMap) addRefs(cid, entries);
    }
    if (decodedCompat) {
      const s = decodedCompat;
      const cid = summaryCid(s);
      for (const [c, entries] of summaryCollections(s)) addRefs(c, entries);
      if (!s.collectionId) addRefs(cid, s.refs);
      for (const [ref, entry] of readXaCache(s.metadata)) if (!metaText.has(ref)) metaText.set(ref, entry.metadata);
    }
    return refs.map((r) => (metaText.has(r.ref) ? { ...r, metadataText: metaText.get(r.ref) as string } : r));
  };
  const listRefs = async (hint?: ListHint): Promise<readonly SourceRef[]> => {
    const arches = hint?.arches;
    await fetchSubsummaries(
      (name) => !arches || arches.includes(name),
      (name) => (arches ? ` (this run needs the refs of arch ${name})` : ''),
    );
    return currentRefs();
  };
  const objects = memoCommits(await openArchiveSource(transport));
  const descriptive = [...indexMeta, ...(decodedCompat?.metadata ?? [])].filter(
    ([k]) => k.startsWith('xa.') && k !== KEY.xaCache && k !== KEY.xaSparseCache,
  );

  return {
    kind: 'remote',
    description: `remote ${facts.url}`,
    objects,
    listRefs,
    readCommit: (c) => readCommitObject(objects, c),
    upstreamSummary: async (cid) => {
      // The copy the drive carries is the whole signed set: every subsummary, whatever arches the run plans for.
      await fetchSubsummaries(
        () => true,
        () =>
          ': the upstream summary copy the drive carries needs every file summary.idx lists ' +
          '(pass --no-upstream-summary to leave the copy off)',
      );
      return currentRefs().some((r) => r.collectionId === cid) ? upstream : null;
    },
    trustedKeys: async () => facts.keys,
    upstreamMetadata: async () => (descriptive.length ? dedupe(descriptive) : undefined),
    // A --url source's name is its host: no remote name to suggest.
    upstreamRemote: async () => ({ url: facts.url, ...(spec.flatpakrepo || spec.remote ? { name: facts.name } : {}) }),
    close: async () => {
      await objects.close?.();
      await transport.close();
    },
  };
}

/** Commits (and their detached metadata) read while planning are read again by the copy: fetch each once. */
function memoCommits(src: ObjectSource): ObjectSource {
  const commits = new Map<string, Promise<Uint8Array>>();
  // Detached metadata too: the signature check reads it before the copy does.
  const metas = new Map<string, Promise<Uint8Array | null>>();
  return decorateSource(src, {
    readCommitMeta(c, o) {
      let p = metas.get(c);
      if (!p) {
        p = src.readCommitMeta(c, o);
        metas.set(c, p);
        p.catch(() => metas.delete(c));
      }
      return p;
    },
    readMetadata(c, t, o) {
      if (t !== 'commit') return src.readMetadata(c, t, o);
      let p = commits.get(c);
      if (!p) {
        p = src.readMetadata(c, t, o);
        commits.set(c, p);
        p.catch(() => commits.delete(c));
      }
      return p;
    },
  });
}

function dedupe(d: VarDict): VarDict {
  const seen = new Set<string>();
  return d.filter(([k]) => (seen.has(k) ? false : (seen.add(k), true)));
}
