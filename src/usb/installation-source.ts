/**
 * A flatpak installation as a source: its deployed commits (with the deployed subpaths), its origin remotes'
 * collection IDs, keys and cached summaries, and what the remotes offer that the installation lacks (the current
 * appstream, an upstream summary when none is cached), read at their URLs unless offline.
 */
import type { VarDict } from '../gvariant/index.js';
import { NotFoundError, UsageError } from '../errors.js';
import type { Warning } from '../warnings.js';
import {
  Installation,
  installationsInScope,
  namedInstallations,
  systemInstallations,
  type DeployedRef,
  type InstallationLocation,
  type InstallationScope,
  type RemoteConfig,
} from '../flatpak/installation.js';
import { parseRefArg, refMatchesArg, type ParsedRefArg } from '../flatpak/ref.js';
import { openObjectSource, readCommitObject } from '../repo/index.js';
import { loadExtraKeys, publicKeysFromText, type ExtraKeys } from '../sign/key-files.js';
import { pickInstallation, requestedOrigins } from './pick-installation.js';
import { RemoteFetcher, type RemoteReadOptions } from './remote-upstream.js';
import { unreadable, withRuntimesFrom } from './installation-runtimes.js';
import { mergeKeys, type Source, type SourceRef, type TrustedKeys, type UpstreamFiles } from './source.js';
import { signedUpstreamFiles } from './upstream.js';

export interface InstallationSourceOptions {
  /**
   * --collection-id: the collection of the refs whose origin remote has no collection ID configured (flatpak's
   * `remote-modify --collection-id` is the lasting fix). A requested ref whose remote has another one is refused.
   */
  readonly collectionId?: string;
}

/**
 * A flatpak installation: its deployed commits, origin remotes' collection IDs and caches. With several in scope
 * (no --user, --system …), the one with the requested refs. It also offers the runtimes the other system-wide
 * installations have and it lacks, as flatpak uses them (installation-runtimes.ts).
 */
export async function openInstallationSource(
  scope: InstallationScope,
  extra?: ExtraKeys,
  requested?: readonly string[],
  remoteRead: RemoteReadOptions = {},
  opts: InstallationSourceOptions = {},
): Promise<Source> {
  const locations = await installationsInScope(scope);
  if (locations.length === 0)
    throw new NotFoundError('no flatpak installation found (tried the user and system installations)');
  const installations = await Promise.all(locations.map((l) => Installation.open(l)));
  const inst = await pickInstallation(installations, requested ?? []);
  const extraKeys = await loadExtraKeys(extra);
  const label = opts.collectionId ?? null;
  const primary = await installationSource(inst, extraKeys, requested ?? [], remoteRead, false, label);
  // As flatpak installs: runtimes an installation lacks may come from the system-wide installations (not the
  // user's); a root given by --installation-dir is read alone, so a pipeline depends on nothing else on the host.
  const found = inst.location.kind === 'dir' ? { locations: [], unreadable: [] } : await systemInstallations();
  const systems = found.locations.filter((l) => l.root !== inst.location.root);
  const elsewhere = (ref: string, arch?: string) => deployedElsewhere(inst.location, ref, arch);
  if (systems.length === 0 && found.unreadable.length === 0) return { ...primary, deployedElsewhere: elsewhere };
  // Best effort: an installation that cannot be read (permissions, a broken deploy) offers nothing, with a warning;
  // so does an installations.d file that cannot be read.
  const others: Array<{ location: InstallationLocation; source: Source }> = [];
  const unread: Warning[] = found.unreadable.map((e) => ({
    code: 'installation-unreadable',
    message: `${e.message}: the installations it names are not read for runtimes`,
    data: e.data,
  }));
  for (const l of systems)
    try {
      const open = installations.find((i) => i.location.root === l.root) ?? (await Installation.open(l));
      others.push({ location: l, source: await installationSource(open, extraKeys, [], remoteRead, true, label) });
    } catch (e) {
      unread.push(unreadable(l, e));
    }
  return { ...withRuntimesFrom(primary, others, unread), deployedElsewhere: elsewhere };
}

/**
 * Another installation (user, system, installations.d) that has `ref` deployed (a full ref, or a ref argument on
 * `arch`), or null: only for a message.
 */
async function deployedElsewhere(
  here: InstallationLocation,
  ref: string,
  arch?: string,
): Promise<InstallationLocation | null> {
  let parsed: ParsedRefArg | null = null;
  try {
    parsed = parseRefArg(ref);
  } catch {
    return null;
  }
  const seen = new Set([here.root]);
  for (const l of [...(await installationsInScope({})), ...(await namedInstallations())]) {
    if (seen.has(l.root)) continue;
    seen.add(l.root);
    // An installation that cannot be read here is not named.
    const other = await Installation.open(l).catch(() => null);
    const deployed = other ? await other.deployed().catch(() => []) : [];
    if (deployed.some((d) => d.ref === ref || refMatchesArg(d.ref, parsed, arch ? [arch] : undefined))) return l;
  }
  return null;
}

/**
 * One installation as a source; `deployedOnly`: its deployed refs and the appstream it holds, not its remotes'
 * current appstream. `label`
 * (--collection-id): the collection ID of the requested refs' origin remotes that have none configured, so their
 * keys, summaries, URL and appstream serve that collection as a configured remote's would.
 */
async function installationSource(
  inst: Installation,
  extraKeys: TrustedKeys,
  requested: readonly string[],
  remoteRead: RemoteReadOptions,
  deployedOnly: boolean,
  label: string | null,
): Promise<Source> {
  const objects = await openObjectSource(inst.repoPath);
  const remotes = inst.remotes();
  const wanted = await requestedOrigins(inst, requested);
  const labelled = (r: RemoteConfig) => label !== null && (wanted === null || wanted.has(r.name));
  for (const r of remotes.values())
    if (labelled(r) && r.collectionId && r.collectionId !== label && wanted?.has(r.name))
      throw new UsageError(
        `--collection-id '${label}' differs from the collection ID '${r.collectionId}' of remote '${r.name}', ` +
          'where the refs asked for come from: leave --collection-id off',
        { collectionId: label, remote: r.name, remoteCollectionId: r.collectionId },
      );
  const remoteCid = (r: RemoteConfig): string | null => r.collectionId ?? (labelled(r) ? label : null);
  const cidRemotes = (cid: string) => [...remotes.values()].filter((r) => remoteCid(r) === cid);
  // The origin remotes are read at their URLs for what the installation lacks: the current appstream (as flatpak
  // create-usb fetches it) and the upstream summary when none is cached.
  const fetcher = new RemoteFetcher({ ...remoteRead, where: `the ${inst.location.name} installation` });
  // Read once per remote (the remote's listing, the upstream check, the commits' and the drive guide's keys).
  const keyrings = new Map<string, Promise<TrustedKeys>>();
  const remoteKeys = async (r: RemoteConfig): Promise<TrustedKeys> => {
    let keys = keyrings.get(r.name);
    if (!keys) {
      keys = (async () => {
        const k = await inst.trustedKeys(r.name);
        const ed = r.options['verification-ed25519-key'];
        return {
          gpg: k ? [k] : [],
          ed25519: ed ? publicKeysFromText(ed, `remote '${r.name}' verification-ed25519-key`) : [],
        };
      })();
      keyrings.set(r.name, keys);
    }
    const { gpg, ed25519 } = await keys;
    return { gpg: [...gpg], ed25519: [...ed25519] };
  };
  const openRemote = async (r: RemoteConfig) => {
    const cid = remoteCid(r);
    return r.url
      ? fetcher.open({
          name: r.name,
          url: r.url,
          ...(cid ? { collectionId: cid } : {}),
          keys: await remoteKeys(r),
          gpgVerify: r.gpgVerify,
        })
      : null;
  };
  /** Commits taken from a remote (appstream newer than the installation's) → that remote. */
  const viaRemote = new Map<string, Source>();
  return {
    kind: 'installation',
    description: `flatpak installation '${inst.location.name}' (${inst.root})`,
    installation: inst.location,
    objects,
    localRepoPath: inst.repoPath,
    async listRefs() {
      const out: SourceRef[] = [];
      const deployed: DeployedRef[] = await inst.deployed();
      for (const d of deployed) {
        const remote = remotes.get(d.deploy.origin);
        out.push({
          ref: d.ref,
          collectionId: remote ? remoteCid(remote) : null,
          commit: d.deploy.commit,
          remote: d.deploy.origin,
          installation: inst.location,
          deploySubpaths: d.deploy.subpaths,
          metadataText: d.metadataText,
        });
      }
      const arches = new Set(deployed.map((d) => d.ref.split('/')[2] as string));
      for (const remote of remotes.values()) {
        const cid = remoteCid(remote);
        if (!cid) continue;
        if (deployedOnly) {
          // The appstream the installation holds (its remotes are not read: most of its runtimes go unused).
          for (const arch of arches)
            for (const name of [`appstream/${arch}`, `appstream2/${arch}`]) {
              const c = await inst.remoteRef(remote.name, name);
              if (c) out.push({ ref: name, collectionId: cid, commit: c, remote: remote.name });
            }
          continue;
        }
        const rs = wanted === null || wanted.has(remote.name) ? await openRemote(remote) : null;
        const current = rs ? await rs.listRefs() : [];
        for (const arch of arches) {
          const atRemote = (name: string) =>
            current.find((r) => r.ref === name && (r.collectionId ?? cid) === cid)?.commit;
          for (const name of [`appstream/${arch}`, `appstream2/${arch}`]) {
            const local = await inst.remoteRef(remote.name, name);
            // As flatpak updates appstream: appstream2 where the remote has it, the old appstream only when it has
            // not (or when the installation holds it already).
            const fetch = name.startsWith('appstream2/') || local !== null || !atRemote(`appstream2/${arch}`);
            const upstream = fetch ? atRemote(name) : undefined;
            const c = upstream ?? local;
            if (upstream && rs && !(await objects.hasObject(upstream, 'commit'))) viaRemote.set(upstream, rs);
            if (c) out.push({ ref: name, collectionId: cid, commit: c, remote: remote.name });
          }
        }
      }
      return out;
    },
    readCommit: (c) => readCommitObject(viaRemote.get(c)?.objects ?? objects, c),
    objectsFor: (c) => viaRemote.get(c)?.objects,
    takeWarnings: () => fetcher.takeWarnings(),
    async upstreamSummary(cid): Promise<UpstreamFiles | null> {
      for (const remote of cidRemotes(cid)) {
        const cached = await inst.cachedSummaryFiles(remote.name);
        const files = cacheAsPublished(remote.name, cached);
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
      let keys: TrustedKeys = { gpg: [], ed25519: [] };
      for (const remote of cidRemotes(cid)) keys = mergeKeys(keys, await remoteKeys(remote));
      return mergeKeys(keys, extraKeys);
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

/**
 * An installation's cache of a remote's summary files (`<remote>`, `<remote>.sig`, `<remote>.idx`, … and the
 * subsummaries `<remote>-<arch>-<sha256>.sub`) under the names they are published with (`summary`,
 * `summaries/<sha256>` …).
 */
function cacheAsPublished(remote: string, cached: Iterable<[string, Uint8Array]>): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const [name, bytes] of cached) {
    if (name === remote) files.set('summary', bytes);
    else if (name === `${remote}.sig`) files.set('summary.sig', bytes);
    else if (name === `${remote}.idx`) files.set('summary.idx', bytes);
    else if (name === `${remote}.idx.sig`) files.set('summary.idx.sig', bytes);
    else {
      const m = new RegExp(`^${escapeRe(remote)}-[^-]+-([0-9a-f]{64})\\.sub$`).exec(name);
      if (m) files.set(`summaries/${m[1]}`, bytes);
    }
  }
  return files;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
