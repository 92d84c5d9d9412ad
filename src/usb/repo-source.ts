/**
 * A local ostree repo (archive or bare) as a source: the newest commit of each ref (heads, remotes, mirrors), its
 * remotes' collection IDs and keyrings, and the upstream summary: its own for refs/heads, else the remote's, read
 * at its URL unless offline.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { isErrnoError, NotFoundError, SideloadError, UsageError } from '../errors.js';
import { parseKeyFile } from '../keyfile/index.js';
import { KEY } from '../ostree/formats.js';
import { isValidRemoteName, listRefFiles, openObjectSource, readCommitObject } from '../repo/index.js';
import { loadExtraKeys, MAX_KEY_FILE_BYTES, type ExtraKeys } from '../sign/key-files.js';
import { summaryMetadataEntries } from '../summary/summary.js';
import { readLocalFile } from '../transport/local.js';
import { RemoteFetcher, type RemoteReadOptions } from './remote-upstream.js';
import { mergeKeys, type Source, type SourceRef } from './source.js';
import { indexedNames, UPSTREAM_ROOT_FILES } from './upstream.js';

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
  if (!b) {
    // A mistyped path is not there at all: say that, not that it is no repo.
    const there = await fs.pathExists(root);
    throw new NotFoundError(
      there ? `'${repoPath}' is not an ostree repo (no config file)` : `source repo '${repoPath}' does not exist`,
      { path: root },
      'ENOREPO',
    );
  }
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
    const k = await readLocalFile(path.join(root, `${name}.trustedkeys.gpg`), MAX_KEY_FILE_BYTES).catch(() => null);
    return k ? [k] : [];
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
    readCommit: (c) => readCommitObject(objects, c),
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
      return mergeKeys({ gpg, ed25519: [] }, extraKeys);
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
