/**
 * Opening a source by spec: a flatpak installation (deployed commits), a local ostree repo (newest commit of each
 * ref), or an HTTP(S) remote (see remote-source.ts). Each becomes a `Source` the planner and the copier share.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { isErrnoError, NotFoundError, SideloadError, UsageError } from '../errors.js';
import { type VarDict } from '../gvariant/index.js';
import { parseKeyFile } from '../keyfile/index.js';
import {
  Installation,
  installationsInScope,
  type InstallationScope,
  type DeployedRef,
} from '../flatpak/installation.js';
import { decodeCommit } from '../ostree/commit.js';
import { isValidRemoteName, listRefFiles, openObjectSource, type ObjectSource } from '../repo/index.js';
import { KEY } from '../ostree/formats.js';
import { readLocalFile } from '../transport/local.js';
import { indexedNames, signedUpstreamFiles, UPSTREAM_ROOT_FILES } from './upstream.js';
import { summaryMetadataEntries } from '../summary/summary.js';
import { parseRefArg } from '../flatpak/ref.js';
import { loadExtraKeys as readExtraKeys, publicKeysFromText } from '../sign/key-files.js';
import type { Source, SourceRef, TrustedKeys, UpstreamFiles } from './source.js';
import { RemoteFetcher, type RemoteFetchOptions } from './remote-upstream.js';
import type { RemoteConfig } from '../flatpak/installation.js';

/** Keys given on the command line, used in addition to what the source knows. */
export interface ExtraKeys {
  /** OpenPGP keyring files (binary or armored). */
  readonly gpgKeyrings?: readonly string[];
  /** ed25519 public key files (base64, one per line). */
  readonly ed25519Keys?: readonly string[];
}

/** The key files given for a source (src/sign/key-files.ts reads and types them). */
export async function loadExtraKeys(extra: ExtraKeys | undefined): Promise<TrustedKeys> {
  return readExtraKeys(extra);
}

function merge(a: TrustedKeys, b: TrustedKeys): TrustedKeys {
  return { gpg: [...a.gpg, ...b.gpg], ed25519: [...a.ed25519, ...b.ed25519] };
}

/** Commit reading shared by every source: read the `.commit` (re-hashed by the object source) and decode it. */
async function readCommitFrom(objects: ObjectSource, checksum: string) {
  const bytes = await objects.readMetadata(checksum, 'commit');
  return { commit: decodeCommit(bytes, checksum), bytes };
}

// ---------------------------------------------------------------------------------------------------------------

/** Reading the remotes a local source names (see remote-upstream.ts). */
export type RemoteReadOptions = Omit<RemoteFetchOptions, 'where'>;

/** A flatpak installation: its deployed commits, origin remotes' collection IDs and caches. */
export async function openInstallationSource(
  scope: InstallationScope,
  extra?: ExtraKeys,
  requested?: readonly string[],
  remoteRead: RemoteReadOptions = {},
): Promise<Source> {
  const locations = await installationsInScope(scope);
  if (locations.length === 0)
    throw new NotFoundError('no flatpak installation found (tried the user and system installations)');
  const installations = await Promise.all(locations.map((l) => Installation.open(l)));
  const inst = await pickInstallation(installations, requested ?? []);
  const extraKeys = await loadExtraKeys(extra);
  const objects = await openObjectSource(inst.repoPath);
  const remotes = inst.remotes();
  const cidRemotes = (cid: string) => [...remotes.values()].filter((r) => r.collectionId === cid);
  // The origin remotes are read at their URLs for what the installation lacks: the current appstream (as flatpak
  // create-usb fetches it) and the upstream summary when none is cached.
  const fetcher = new RemoteFetcher({ ...remoteRead, where: `the ${inst.location.name} installation` });
  const remoteKeys = async (r: RemoteConfig): Promise<TrustedKeys> => {
    const gpg: Uint8Array[] = [];
    const k = await inst.trustedKeys(r.name);
    if (k) gpg.push(k);
    const ed = r.options['verification-ed25519-key'];
    return { gpg, ed25519: ed ? publicKeysFromText(ed, `remote '${r.name}' verification-ed25519-key`) : [] };
  };
  const openRemote = async (r: RemoteConfig) =>
    r.url
      ? fetcher.open({
          name: r.name,
          url: r.url,
          ...(r.collectionId ? { collectionId: r.collectionId } : {}),
          keys: await remoteKeys(r),
          gpgVerify: r.gpgVerify,
        })
      : null;
  /** Commits taken from a remote (appstream newer than the installation's) → that remote. */
  const viaRemote = new Map<string, Source>();
  const wanted = await requestedOrigins(inst, requested ?? []);
  return {
    kind: 'installation',
    description: `flatpak installation '${inst.location.name}' (${inst.root})`,
    objects,
    localRepoPath: inst.repoPath,
    async listRefs() {
      const out: SourceRef[] = [];
      const deployed: DeployedRef[] = await inst.deployed();
      for (const d of deployed) {
        const remote = remotes.get(d.deploy.origin);
        out.push({
          ref: d.ref,
          collectionId: remote?.collectionId ?? null,
          commit: d.deploy.commit,
          remote: d.deploy.origin,
          deploySubpaths: d.deploy.subpaths,
          metadataText: d.metadataText,
        });
      }
      const arches = new Set(deployed.map((d) => d.ref.split('/')[2] as string));
      for (const remote of remotes.values()) {
        if (!remote.collectionId) continue;
        const rs = wanted === null || wanted.has(remote.name) ? await openRemote(remote) : null;
        const current = rs ? await rs.listRefs() : [];
        for (const arch of arches) {
          const atRemote = (name: string) =>
            current.find((r) => r.ref === name && (r.collectionId ?? remote.collectionId) === remote.collectionId)
              ?.commit;
          for (const name of [`appstream/${arch}`, `appstream2/${arch}`]) {
            const local = await inst.remoteRef(remote.name, name);
            // As flatpak updates appstream: appstream2 where the remote has it, the old appstream only when it has
            // not (or when the installation holds it already).
            const fetch = name.startsWith('appstream2/') || local !== null || !atRemote(`appstream2/${arch}`);
            const upstream = fetch ? atRemote(name) : undefined;
            const c = upstream ?? local;
            if (upstream && rs && !(await objects.hasObject(upstream, 'commit'))) viaRemote.set(upstream, rs);
            if (c) out.push({ ref: name, collectionId: remote.collectionId, commit: c, remote: remote.name });
          }
        }
      }
      return out;
    },
    readCommit: (c) => readCommitFrom(viaRemote.get(c)?.objects ?? objects, c),
    objectsFor: (c) => viaRemote.get(c)?.objects,
    takeWarnings: () => fetcher.takeWarnings(),
    async upstreamSummary(cid): Promise<UpstreamFiles | null> {
      for (const remote of cidRemotes(cid)) {
        const cached = await inst.cachedSummaryFiles(remote.name);
        const files = new Map<string, Uint8Array>();
        for (const [name, bytes] of cached) {
          if (name === remote.name) files.set('summary', bytes);
          else if (name === `${remote.name}.sig`) files.set('summary.sig', bytes);
          else if (name === `${remote.name}.idx`) files.set('summary.idx', bytes);
          else if (name === `${remote.name}.idx.sig`) files.set('summary.idx.sig', bytes);
          else {
            const m = new RegExp(`^${escapeRe(remote.name)}-[^-]+-([0-9a-f]{64})\\.sub$`).exec(name);
            if (m) files.set(`summaries/${m[1]}`, bytes);
          }
        }
        if (files.has('summary') || files.has('summary.idx'))
          return {
            origin: `the ${inst.location.name} installation's cache of remote '${remote.name}'`,
            files: signedUpstreamFiles(files),
          };
      }
      // No cache (always so for a file:// remote): the remote's published files, read at its URL.
      for (const remote of cidRemotes(cid)) {
        const fresh = await (await openRemote(remote))?.upstreamSummary(cid);
        if (fresh) return { origin: `remote '${remote.name}' (${remote.url})`, files: fresh.files };
      }
      return null;
    },
    async trustedKeys(cid) {
      const gpg: Uint8Array[] = [];
      const ed25519: Uint8Array[] = [];
      for (const remote of cidRemotes(cid)) {
        const k = await inst.trustedKeys(remote.name);
        if (k) gpg.push(k);
        const edKey = remote.options['verification-ed25519-key'];
        if (edKey) ed25519.push(...publicKeysFromText(edKey, `remote '${remote.name}' verification-ed25519-key`));
      }
      return merge({ gpg, ed25519 }, extraKeys);
    },
    async upstreamMetadata(cid) {
      const remote = cidRemotes(cid)[0];
      if (!remote) return undefined;
      const meta: VarDict = [];
      const { Variant } = await import('../gvariant/index.js');
      for (const key of ['xa.title', 'xa.comment', 'xa.description', 'xa.homepage', 'xa.icon', 'xa.default-branch']) {
        const v = remote.options[key];
        if (v) meta.push([key, new Variant('s', v)]);
      }
      return meta.length ? meta : undefined;
    },
    async upstreamRemote(cid) {
      const remote = cidRemotes(cid)[0];
      return remote ? { name: remote.name, ...(remote.url ? { url: remote.url } : {}) } : undefined;
    },
    close: async () => {
      await fetcher.close();
      await objects.close?.();
    },
  };
}

/** The origin remotes of the deployed refs the arguments name (null: no arguments, every remote). */
async function requestedOrigins(inst: Installation, requested: readonly string[]): Promise<Set<string> | null> {
  if (requested.length === 0) return null;
  const out = new Set<string>();
  for (const d of await inst.deployed()) {
    const [kind, id, arch, branch] = d.ref.split('/');
    for (const arg of requested) {
      let p: ReturnType<typeof parseRefArg>;
      try {
        p = parseRefArg(arg);
      } catch {
        continue;
      }
      if (
        p.kinds.includes(kind as 'app' | 'runtime') &&
        id === p.id &&
        (!p.arch || arch === p.arch) &&
        (!p.branch || branch === p.branch)
      )
        out.add(d.deploy.origin);
    }
  }
  return out;
}

/**
 * All refs must come from one installation, as in flatpak create-usb: with several in scope, the one that has the
 * requested refs deployed. A ref deployed in more than one, or refs spread over several, is a usage error that
 * names the installations and the options that choose one. With no match anywhere, the first installation is
 * used and the planner reports the missing ref with what is there.
 */
async function pickInstallation(
  installations: readonly Installation[],
  requested: readonly string[],
): Promise<Installation> {
  const first = installations[0] as Installation;
  if (installations.length === 1 || requested.length === 0) return first;
  const deployed = await Promise.all(installations.map((i) => i.deployed()));
  const holdersOf = (arg: string): Installation[] => {
    let p: ReturnType<typeof parseRefArg>;
    try {
      p = parseRefArg(arg);
    } catch {
      return []; // the planner reports the bad argument
    }
    return installations.filter((_, n) =>
      (deployed[n] ?? []).some((d) => {
        const [kind, id, arch, branch] = d.ref.split('/');
        return (
          p.kinds.includes(kind as 'app' | 'runtime') &&
          id === p.id &&
          (!p.arch || arch === p.arch) &&
          (!p.branch || branch === p.branch)
        );
      }),
    );
  };
  const names = (l: readonly Installation[]) => l.map((i) => `'${i.location.name}'`).join(', ');
  let chosen: Installation | null = null;
  for (const arg of requested) {
    const holders = holdersOf(arg);
    if (holders.length > 1)
      throw new UsageError(
        `'${arg}' is installed in several installations (${names(holders)}); choose one with --user, --system or --installation=NAME`,
        { ref: arg },
      );
    const h = holders[0];
    if (!h) continue;
    if (chosen && chosen !== h)
      throw new UsageError(
        `the refs are spread over installations ${names([chosen, h])}; all refs of one drive must come from one installation (run sideload once per installation)`,
        { ref: arg },
      );
    chosen = h;
  }
  return chosen ?? first;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------------------------

export interface RepoSourceOptions {
  /** Collection ID for refs/heads when the repo config has none. */
  readonly collectionId?: string;
  readonly keys?: ExtraKeys;
  /** How the repo's remotes are read at their URLs for upstream summaries (file:// always; http(s) unless offline). */
  readonly remoteRead?: RemoteReadOptions;
}

/** A local ostree repo (archive or bare): the newest commit of each ref. */
export async function openRepoSource(repoPath: string, opts: RepoSourceOptions = {}): Promise<Source> {
  const root = path.resolve(repoPath);
  // A missing config (or a path that is no directory) is no repo; a config that cannot be read says why.
  const b = await readLocalFile(path.join(root, 'config'), 1 << 20).catch((e: unknown) => {
    if (e instanceof SideloadError || !isErrnoError(e)) throw e;
    return null;
  });
  if (!b) throw new NotFoundError(`'${repoPath}' is not an ostree repo (no config file)`, { path: root });
  const configText = Buffer.from(b).toString('utf8');
  const config = parseKeyFile(configText);
  const repoCid = config.get('core', 'collection-id') || undefined;
  if (opts.collectionId && repoCid && opts.collectionId !== repoCid)
    throw new UsageError(
      `--collection-id '${opts.collectionId}' differs from the repo's own collection ID '${repoCid}'`,
      { path: root },
    );
  const headsCid = repoCid ?? opts.collectionId ?? null;
  const objects = await openObjectSource(root);
  const extraKeys = await loadExtraKeys(opts.keys);
  const remoteCid = (name: string) => config.get(`remote "${name}"`, 'collection-id') || null;
  const remoteNames = () =>
    config
      .groups()
      .map((g) => /^remote "(.+)"$/.exec(g)?.[1])
      .filter((n): n is string => !!n && isValidRemoteName(n));
  const cidRemotes = (cid: string) => remoteNames().filter((n) => remoteCid(n) === cid);
  const remoteKeyring = async (name: string): Promise<Uint8Array[]> => {
    const k = await fs.readFile(path.join(root, `${name}.trustedkeys.gpg`)).catch(() => null);
    return k ? [new Uint8Array(k)] : [];
  };
  const fetcher = new RemoteFetcher({ ...(opts.remoteRead ?? {}), where: `ostree repo '${root}'` });
  const openRemote = async (name: string) => {
    const url = config.get(`remote "${name}"`, 'url');
    if (!url) return null;
    const cid = remoteCid(name);
    return fetcher.open({
      name,
      url,
      ...(cid ? { collectionId: cid } : {}),
      keys: { gpg: await remoteKeyring(name), ed25519: [] },
      gpgVerify: (config.get(`remote "${name}"`, 'gpg-verify') ?? 'true') !== 'false',
    });
  };

  // Only the files the summary.idx names, each a regular file read without following a symlink, size-limited.
  const readSummaryFiles = async (): Promise<Map<string, Uint8Array>> => {
    const files = new Map<string, Uint8Array>();
    for (const name of UPSTREAM_ROOT_FILES) {
      const b = await readLocalFile(path.join(root, name));
      if (b) files.set(name, b);
    }
    const idx = files.get('summary.idx');
    for (const name of idx ? indexedNames(idx) : []) {
      if (!name.endsWith('.gz') && files.has(`${name}.gz`)) continue;
      const b = await readLocalFile(path.join(root, name));
      if (b) files.set(name, b);
    }
    return files;
  };

  return {
    kind: 'repo',
    description: `ostree repo '${root}'`,
    objects,
    localRepoPath: root,
    async listRefs() {
      const out: SourceRef[] = [];
      for (const [ref, commit] of await listRefFiles(path.join(root, 'refs', 'heads'), LENIENT))
        out.push({ ref, collectionId: headsCid, commit });
      for (const remote of await safeReaddir(path.join(root, 'refs', 'remotes'))) {
        for (const [ref, commit] of await listRefFiles(path.join(root, 'refs', 'remotes', remote), LENIENT))
          out.push({ ref, collectionId: remoteCid(remote), commit, remote });
      }
      for (const cid of await safeReaddir(path.join(root, 'refs', 'mirrors'))) {
        for (const [ref, commit] of await listRefFiles(path.join(root, 'refs', 'mirrors', cid), LENIENT))
          out.push({ ref, collectionId: cid, commit });
      }
      return out;
    },
    readCommit: (c) => readCommitFrom(objects, c),
    async upstreamSummary(cid) {
      if (cid !== headsCid) {
        // Refs pulled from a remote: that remote's published summary, read at its URL.
        for (const name of cidRemotes(cid)) {
          const fresh = await (await openRemote(name))?.upstreamSummary(cid);
          if (fresh)
            return { origin: `remote '${name}' (${config.get(`remote "${name}"`, 'url')})`, files: fresh.files };
        }
        return null;
      }
      const files = await readSummaryFiles();
      if (!files.has('summary') && !files.has('summary.idx')) return null;
      return { origin: `ostree repo '${root}'`, files };
    },
    async trustedKeys(cid) {
      // The keyrings `ostree remote add --gpg-import` stored for the remotes of this collection, and the given keys.
      const gpg: Uint8Array[] = [];
      for (const name of cidRemotes(cid)) gpg.push(...(await remoteKeyring(name)));
      return merge({ gpg, ed25519: [] }, extraKeys);
    },
    takeWarnings: () => fetcher.takeWarnings(),
    async upstreamMetadata(cid) {
      if (cid !== headsCid) return undefined;
      const s = await readLocalFile(path.join(root, 'summary'));
      if (!s) return undefined;
      // Only the descriptive keys: a Flathub-size xa.cache and ref map are skipped, not decoded.
      const keep = (k: string) => k.startsWith('xa.') && k !== KEY.xaCache && k !== KEY.xaSparseCache;
      return summaryMetadataEntries(new Uint8Array(s), keep, path.join(root, 'summary'));
    },
    close: async () => {
      await fetcher.close();
      await objects.close?.();
    },
  };
}

/** A source repo's ref files are listed as ostree lists them, a file that holds no checksum skipped. */
const LENIENT = { lenient: true } as const;

async function safeReaddir(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}
