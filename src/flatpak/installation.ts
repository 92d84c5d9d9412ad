/**
 * A flatpak installation on disk (format.md §8.7): its roots, deployed refs with their deploy data and metadata,
 * the remotes in its repo config, appstream refs and the summary caches flatpak keeps. Read-only: we never touch
 * the source installation (create-usb deletes its summary file; we don't).
 */
import path from 'node:path';
import os from 'node:os';
import fs from 'fs-extra';
import { CorruptError, NotFoundError, UsageError } from '../errors.js';
import { KeyFileSyntaxError, parseKeyFile, type KeyFile } from '../keyfile/index.js';
import { decodeDeployData, type DeployData } from './deploy.js';
import { readLocalFile, readNamedFile } from '../transport/local.js';
import { MAX_KEY_FILE_BYTES } from '../sign/key-files.js';
import { forEachLimit, mapLimit } from '../repo/for-each-limit.js';

/** A deploy file holds the deployed commit, its subpaths and some appdata: a few KiB. */
const DEPLOY_LIMIT = 16 << 20;

/**
 * A text file of an installation (its config, a remote's ref, a deployed metadata file, installations.d): bounded,
 * regular files only; a symlink an administrator made is followed. A missing one reads as ''.
 */
async function readInstallationText(file: string): Promise<string> {
  const bytes = await readNamedFile(file, 1 << 20);
  return bytes ? Buffer.from(bytes).toString('utf8') : '';
}

export interface RemoteConfig {
  readonly name: string;
  readonly url?: string;
  /** `collection-id`; an empty value counts as unset, as in flatpak. */
  readonly collectionId?: string;
  readonly gpgVerify: boolean;
  /** Every key of the `[remote "NAME"]` group. */
  readonly options: Readonly<Record<string, string>>;
}

export interface DeployedRef {
  /** `app/ID/ARCH/BRANCH` or `runtime/…`. */
  readonly ref: string;
  readonly deploy: DeployData;
  /** The deployed `metadata` keyfile text. */
  readonly metadataText: string;
}

/** Where an installation lives, what to call it in messages, and how flatpak's own commands name it. */
export interface InstallationLocation {
  readonly name: string;
  readonly root: string;
  /** user / system: `flatpak --user` / `--system`; named: `--installation=NAME`; dir: a root given by path. */
  readonly kind: 'user' | 'system' | 'named' | 'dir';
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v && v.length > 0 ? v : undefined;
}

/** `$FLATPAK_USER_DIR`, else `$XDG_DATA_HOME/flatpak`, else `~/.local/share/flatpak`. */
export function userInstallationRoot(): string {
  return (
    env('FLATPAK_USER_DIR') ?? path.join(env('XDG_DATA_HOME') ?? path.join(os.homedir(), '.local/share'), 'flatpak')
  );
}

/** `$FLATPAK_SYSTEM_DIR`, else `/var/lib/flatpak`. */
export function systemInstallationRoot(): string {
  return env('FLATPAK_SYSTEM_DIR') ?? '/var/lib/flatpak';
}

/**
 * An installation ID flatpak accepts from installations.d (flatpak-dir.c is_good_installation_id): not empty, not
 * `user`, `system` or `default` (the default system installation), ASCII, no space, `/` or newline, at most 80
 * bytes. flatpak ignores an entry with any other ID ("Bad installation ID … Ignoring"), and so does sideload.
 */
function isGoodInstallationId(id: string): boolean {
  if (id === '' || id === 'user' || id === 'system' || id === 'default') return false;
  return /^\p{ASCII}*$/u.test(id) && !/[ /\n]/.test(id) && id.length <= 80;
}

/** What installations.d holds: the installations its files name, and the files that could not be read. */
export interface InstallationsD {
  readonly installations: InstallationLocation[];
  /** A CorruptError per file skipped (malformed, too large, unreadable), naming the file. */
  readonly unreadable: readonly CorruptError[];
}

/**
 * Extra installations from `$FLATPAK_CONFIG_DIR/installations.d/*.conf` (default /etc/flatpak), as flatpak reads
 * them: an entry with a bad ID (isGoodInstallationId) or an ID seen already is ignored, as is one without `Path`.
 * A file that cannot be read or parsed is skipped and reported in `unreadable`. flatpak 1.14 stops reading
 * installations.d at such a file (in directory order, so which entries it kept is a matter of chance) and then
 * fails every command that needs the list (`--installation=NAME`, `list` over all installations; `flatpak --user`
 * never reads it); sideload reads the other files, and the callers say which file was skipped.
 */
export async function readInstallationsD(): Promise<InstallationsD> {
  const dir = path.join(env('FLATPAK_CONFIG_DIR') ?? '/etc/flatpak', 'installations.d');
  const out: InstallationLocation[] = [];
  const unreadable: CorruptError[] = [];
  let files: string[] = [];
  try {
    files = (await fs.readdir(dir)).filter((f) => f.endsWith('.conf')).sort();
  } catch {
    return { installations: out, unreadable };
  }
  for (const f of files) {
    const file = path.join(dir, f);
    let kf: KeyFile;
    try {
      kf = parseKeyFile(await readInstallationText(file));
    } catch (e) {
      const why = e instanceof KeyFileSyntaxError ? `is malformed: ${e.message}` : `cannot be read: ${errorText(e)}`;
      unreadable.push(
        new CorruptError(`installations.d file ${file} ${why}`, {
          path: file,
          ...(e instanceof KeyFileSyntaxError ? { line: e.line } : {}),
        }),
      );
      continue;
    }
    for (const g of kf.groups()) {
      const m = /^Installation "(.+)"$/.exec(g);
      const p = kf.get(g, 'Path');
      const id = m?.[1];
      if (id === undefined || !p || !isGoodInstallationId(id) || out.some((l) => l.name === id)) continue;
      out.push({ name: id, root: p, kind: 'named' });
    }
  }
  return { installations: out, unreadable };
}

/** The installations installations.d names (readInstallationsD), without a word of the files that were skipped. */
export async function namedInstallations(): Promise<InstallationLocation[]> {
  return (await readInstallationsD()).installations;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export interface InstallationScope {
  readonly user?: boolean;
  readonly system?: boolean;
  /** A name from installations.d. */
  readonly installation?: string;
  /** Any installation root directory (tests and pipelines need no system state). */
  readonly installationDir?: string;
}

const USER = (): InstallationLocation => ({ name: 'user', root: userInstallationRoot(), kind: 'user' });
const SYSTEM = (): InstallationLocation => ({ name: 'system', root: systemInstallationRoot(), kind: 'system' });

/** The installations in scope, as flatpak picks them (all of user + system when none is named). */
export async function installationsInScope(scope: InstallationScope): Promise<InstallationLocation[]> {
  const out: InstallationLocation[] = [];
  if (scope.installationDir)
    out.push({ name: scope.installationDir, root: path.resolve(scope.installationDir), kind: 'dir' });
  if (scope.user) out.push(USER());
  if (scope.system) out.push(SYSTEM());
  if (scope.installation) {
    const d = await readInstallationsD();
    const named = d.installations.find((i) => i.name === scope.installation);
    // A name not found may be in a file that could not be read: that file is the fault.
    const skipped = d.unreadable[0];
    if (!named && skipped)
      throw new CorruptError(
        `no flatpak installation named '${scope.installation}' in installations.d: ${skipped.message}` +
          (d.unreadable.length > 1 ? ` (and ${d.unreadable.length - 1} more)` : ''),
        { installation: scope.installation, ...skipped.data },
      );
    if (!named)
      throw new NotFoundError(`no flatpak installation named '${scope.installation}' in installations.d`, {
        installation: scope.installation,
      });
    out.push(named);
  }
  if (out.length === 0) return existing([USER(), SYSTEM()]);
  return out;
}

/**
 * The system-wide installations (the default one and those of installations.d) that exist: what flatpak takes a
 * user installation's runtimes from when it lacks them (`flatpak --user install` of an app whose runtime is
 * installed system-wide installs only the app; flatpak_transaction_add_default_dependency_sources). `unreadable`:
 * the installations.d files skipped (readInstallationsD), for the caller's warnings.
 */
export async function systemInstallations(): Promise<{
  locations: InstallationLocation[];
  unreadable: readonly CorruptError[];
}> {
  const d = await readInstallationsD();
  return { locations: await existing([SYSTEM(), ...d.installations]), unreadable: d.unreadable };
}

async function existing(locations: readonly InstallationLocation[]): Promise<InstallationLocation[]> {
  const found = await Promise.all(locations.map((l) => fs.pathExists(path.join(l.root, 'repo', 'config'))));
  return locations.filter((_, i) => found[i]);
}

export class Installation {
  private constructor(
    readonly location: InstallationLocation,
    readonly config: KeyFile,
  ) {}

  get root(): string {
    return this.location.root;
  }
  get repoPath(): string {
    return path.join(this.location.root, 'repo');
  }

  /** Opens an installation root. @throws NotFoundError when it has no repo. */
  static async open(location: InstallationLocation): Promise<Installation> {
    const configPath = path.join(location.root, 'repo', 'config');
    const bytes = await readNamedFile(configPath, 1 << 20).catch((e: unknown) => {
      if (e instanceof CorruptError) throw e; // too large, not a regular file: named
      return null;
    });
    if (!bytes)
      throw new NotFoundError(`'${location.root}' is not a flatpak installation (no repo/config)`, {
        path: location.root,
      });
    const text = Buffer.from(bytes).toString('utf8');
    try {
      return new Installation(location, parseKeyFile(text));
    } catch (e) {
      if (!(e instanceof KeyFileSyntaxError)) throw e;
      throw new CorruptError(`the '${location.name}' installation's ${configPath} is malformed: ${e.message}`, {
        path: configPath,
        line: e.line,
      });
    }
  }

  /** The remotes configured in the installation's repo. */
  remotes(): Map<string, RemoteConfig> {
    const out = new Map<string, RemoteConfig>();
    for (const g of this.config.groups()) {
      const m = /^remote "(.+)"$/.exec(g);
      if (!m) continue;
      const name = m[1] as string;
      const options: Record<string, string> = {};
      for (const k of this.config.keys(g)) options[k] = this.config.get(g, k) ?? '';
      const cid = options['collection-id'];
      out.set(name, {
        name,
        ...(options['url'] ? { url: options['url'] } : {}),
        ...(cid ? { collectionId: cid } : {}),
        gpgVerify: (options['gpg-verify'] ?? 'true') !== 'false',
        options,
      });
    }
    return out;
  }

  remote(name: string): RemoteConfig {
    const r = this.remotes().get(name);
    if (!r)
      throw new NotFoundError(
        `remote '${name}' is not configured in the ${this.location.name} installation (${this.root})`,
        { remote: name },
      );
    return r;
  }

  /** The binary GPG keyring flatpak imported for a remote, if any. */
  async trustedKeys(remote: string): Promise<Uint8Array | null> {
    const p = path.join(this.repoPath, `${remote}.trustedkeys.gpg`);
    try {
      return await readNamedFile(p, MAX_KEY_FILE_BYTES);
    } catch {
      return null;
    }
  }

  /** Every deployed ref, sorted; read once per Installation (choosing the installation and listing both use it). */
  deployed(): Promise<DeployedRef[]> {
    this.deployedOnce ??= this.readAllDeployed();
    return this.deployedOnce;
  }
  private deployedOnce: Promise<DeployedRef[]> | null = null;

  private async readAllDeployed(): Promise<DeployedRef[]> {
    // The ref directories (KIND/ID/ARCH/BRANCH) level by level, then their deploy files: a few at a time.
    let level = ['app', 'runtime'];
    for (let depth = 0; depth < 3; depth++) {
      const next: string[] = [];
      await forEachLimit(level, 4, async (rel) => {
        for (const name of await safeReaddir(path.join(this.root, rel))) next.push(`${rel}/${name}`);
      });
      level = next;
    }
    // Read a few at a time; a damaged deploy file fails the listing with the error of the first in ref order.
    const refs = level.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const read = await mapLimit(refs, 4, (ref) =>
      this.readDeploy(ref, path.join(this.root, ...ref.split('/'), 'active')),
    );
    return read.filter((d): d is DeployedRef => d !== null);
  }

  /** The deployed ref, or null when not deployed. */
  async findDeployed(ref: string): Promise<DeployedRef | null> {
    const parts = ref.split('/');
    if (parts.length !== 4 || parts.some((p) => p === '' || p === '.' || p === '..'))
      throw new UsageError(`invalid ref '${ref}'`, { ref });
    return this.readDeploy(ref, path.join(this.root, ...parts, 'active'));
  }

  private async readDeploy(ref: string, active: string): Promise<DeployedRef | null> {
    const [deployBytes, metadataText] = await Promise.all([
      readNamedFile(path.join(active, 'deploy'), DEPLOY_LIMIT).catch(() => null),
      readInstallationText(path.join(active, 'metadata')).catch(() => ''),
    ]);
    if (!deployBytes) return null;
    return { ref, deploy: decodeDeployData(deployBytes, path.join(active, 'deploy')), metadataText };
  }

  /** `refs/remotes/<remote>/<ref>` in the installation repo, or null. */
  async remoteRef(remote: string, ref: string): Promise<string | null> {
    try {
      const text = await readInstallationText(path.join(this.repoPath, 'refs', 'remotes', remote, ...ref.split('/')));
      const c = text.trim();
      return /^[0-9a-f]{64}$/.test(c) ? c : null;
    } catch {
      return null;
    }
  }

  /**
   * The summary files flatpak/ostree cached for a remote (format.md §8.6): the index with its signature and
   * uncompressed subsummaries, or the plain summary with its signature.
   */
  async cachedSummaryFiles(remote: string): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const dirs = [
      path.join(this.repoPath, 'tmp', 'cache', 'summaries'),
      path.join(env('XDG_CACHE_HOME') ?? path.join(os.homedir(), '.cache'), 'flatpak', 'system-cache', 'summaries'),
    ];
    for (const dir of dirs) {
      for (const f of await safeReaddir(dir)) {
        if (f === remote || f.startsWith(`${remote}.`) || f.startsWith(`${remote}-`)) {
          if (out.has(f)) continue;
          const b = await readLocalFile(path.join(dir, f)); // a regular file, no symlink followed, size-limited
          if (b) out.set(f, b);
        }
      }
    }
    return out;
  }
}

async function safeReaddir(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}
