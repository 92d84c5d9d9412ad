/**
 * The drive explains itself (drive.md §7): the files `create` puts at the drive's root, beside the repo. Per
 * collection a `.flatpakrepo` from which `flatpak remote-add` makes a remote that sideloads from the drive, and one
 * plain-text README with the exact commands to install this drive's refs offline. Pure: facts in, file texts out.
 *
 * flatpak (1.14, flatpak_parse_repofile) takes a remote's collection ID from the first non-empty of
 * `DeploySideloadCollectionID` (read since 1.12.8), `DeployCollectionID` (since 1.0.6) and `CollectionID`, and
 * refuses a collection ID without a `GPGKey` in the same file ("Collection ID requires GPG key to be provided"). We
 * write the first two (so clients from 1.0.6 on get the collection ID sideloading needs), and no collection ID at
 * all when the upstream's GPG key is unknown: such a file would be refused.
 */
import { printKeyFile } from '../keyfile/index.js';
import { readFlatpakrepo, type FlatpakrepoFields } from '../flatpak/flatpakrepo.js';

/** What is known about one collection on the drive. */
export interface GuideCollection extends FlatpakrepoFields {
  readonly collectionId: string;
  /** Full refs of the collection on the drive (`app/…`, `runtime/…`, `appstream2/…`, `ostree-metadata` …). */
  readonly refs: readonly string[];
  /** The remote's name at the source (an installation's remote, a `--remote`, a `--from` file's name). */
  readonly remoteName?: string;
  /** The upstream's URL; unknown for a local repo source. */
  readonly url?: string;
  /** The URL the source was read from when `url` is where the upstream's signed summary redirects (xa.redirect-url). */
  readonly redirectedFrom?: string;
  /** The upstream's OpenPGP public key(s): binary packets or ASCII-armored blocks, one or more. */
  readonly gpgKeys?: readonly Uint8Array[];
  /**
   * false: this run knows nothing about the collection (it came from an earlier run with another source, and that
   * run's `.flatpakrepo` is gone or unusable): no `.flatpakrepo` is written for it, the README still lists it.
   */
  readonly known?: boolean;
  /** On a drive with several repos: the ones (drive-relative) that hold this collection's refs. */
  readonly repos?: readonly string[];
}

export interface GuideInput {
  /** The drive repo's path relative to the drive root (`.ostree/repo`, `flatpak/repo` …). */
  readonly repoRel: string;
  /**
   * Every sideload repo on the drive (drive-relative), this one included, when there are several (a second
   * `--destination-repo`): the README describes them all, whichever run wrote it last.
   */
  readonly repoRels?: readonly string[];
  /** The collections of every repo on the drive (one entry per collection ID, its refs from all of them). */
  readonly collections: readonly GuideCollection[];
}

export interface GuideFile {
  /** File name at the drive root. */
  readonly name: string;
  readonly text: string;
}

export const GUIDE_README = 'README-sideload.txt';
/** The placeholder URL of a collection whose upstream URL is unknown: `.invalid` never resolves (RFC 2606). */
export const UNKNOWN_URL = 'https://upstream-url-unknown.invalid/';

/** The `.flatpakrepo` file name of a collection: its collection ID, stable across runs and sources. */
export function flatpakrepoName(collectionId: string): string {
  return `${collectionId}.flatpakrepo`;
}

/** A remote name the README can suggest as it is (no shell quoting, as flatpak accepts it). */
const REMOTE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * The remote name an earlier run's README told to add for each collection (`flatpak remote-add … NAME …` under the
 * collection's heading): kept by a run whose source knows no name (a local repo, `remove`), as the URL is.
 */
export function readmeRemoteNames(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let cid: string | null = null;
  for (const line of text.split('\n')) {
    // (On a drive with several repos the heading names the ones that hold the collection: `… in flatpak/repo/`.)
    const heading = /^== (?:.*\(collection (\S+)(?: in [^)]*)?\)|Collection (\S+)(?: in .*)?) ==$/.exec(line);
    if (line.startsWith('== ')) cid = heading ? ((heading[1] ?? heading[2]) as string) : null;
    const add =
      /^ {3}flatpak remote-add --user --if-not-exists (?:--gpg-import=KEYFILE --collection-id=\S+ )?(\S+) /.exec(line);
    if (cid && add && REMOTE_NAME.test(add[1] as string) && !out.has(cid)) out.set(cid, add[1] as string);
  }
  return out;
}

/**
 * The remote name the README suggests: the source's remote name when known, else the collection ID's
 * middle part (`org.flathub.Stable` → `flathub`, `com.example.Apps` → `example`), else the collection ID.
 */
export function remoteNameFor(c: Pick<GuideCollection, 'collectionId' | 'remoteName'>): string {
  if (c.remoteName && REMOTE_NAME.test(c.remoteName)) return c.remoteName;
  const parts = c.collectionId.split('.');
  const mid = parts.length >= 3 ? parts[parts.length - 2] : undefined;
  return mid && /^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(mid) ? mid.toLowerCase() : c.collectionId;
}

/**
 * The remote name the README gives each collection, distinct across the drive: `flatpak remote-add
 * --if-not-exists` does nothing for a name that exists, so two collections under one name (`org.example.Stable` and
 * `org.example.Beta` both gave `example`) left the second one's install going to the first one's remote, where it
 * fails. A name given by a source or an earlier README is kept (first come, in collection ID order); a derived one
 * that is taken gets the collection ID's last part (`example-beta`), else is the collection ID itself.
 */
export function remoteNames(
  cols: ReadonlyArray<Pick<GuideCollection, 'collectionId' | 'remoteName'>>,
): Map<string, string> {
  const sorted = [...cols].sort((a, b) =>
    a.collectionId < b.collectionId ? -1 : a.collectionId > b.collectionId ? 1 : 0,
  );
  const out = new Map<string, string>();
  const taken = new Set<string>();
  const give = (cid: string, name: string) => (out.set(cid, name), taken.add(name));
  for (const c of sorted)
    if (c.remoteName && REMOTE_NAME.test(c.remoteName) && !taken.has(c.remoteName)) give(c.collectionId, c.remoteName);
  for (const c of sorted) {
    if (out.has(c.collectionId)) continue;
    const base = remoteNameFor({ collectionId: c.collectionId });
    const last = (c.collectionId.split('.').at(-1) ?? '').toLowerCase();
    const candidates = [base, ...(/^[a-z0-9_-]+$/.test(last) && base !== c.collectionId ? [`${base}-${last}`] : [])];
    give(c.collectionId, candidates.find((n) => !taken.has(n)) ?? c.collectionId);
  }
  return out;
}

/** ASCII-armored OpenPGP text → its binary packets; binary input is returned as it is. */
export function dearmor(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  if (!text.includes('-----BEGIN PGP')) return bytes;
  const blocks: Buffer[] = [];
  const re = /-----BEGIN PGP [A-Z ]+-----\r?\n([\s\S]*?)-----END PGP [A-Z ]+-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    // Armor headers (`Version: …`) end at the first blank line; the `=XXXX` line is the CRC24 checksum.
    const body = (m[1] as string).split(/\r?\n/);
    const blank = body.findIndex((l) => l.trim() === '');
    const lines = (
      blank >= 0 && body.slice(0, blank).every((l) => l.includes(':')) ? body.slice(blank + 1) : body
    ).filter((l) => l.trim() !== '' && !l.startsWith('='));
    blocks.push(Buffer.from(lines.join(''), 'base64'));
  }
  return new Uint8Array(Buffer.concat(blocks));
}

/** The `.flatpakrepo` text of a collection (keyfile printed by src/keyfile). */
export function flatpakrepoText(c: GuideCollection): string {
  const key = c.gpgKeys?.length ? Buffer.concat(c.gpgKeys.map((k) => dearmor(k))).toString('base64') : undefined;
  const kv: Array<[string, string]> = [
    ['Title', c.title || c.collectionId],
    ['Url', c.url || UNKNOWN_URL],
  ];
  if (c.comment) kv.push(['Comment', c.comment]);
  if (c.description) kv.push(['Description', c.description]);
  if (c.homepage) kv.push(['Homepage', c.homepage]);
  if (c.icon) kv.push(['Icon', c.icon]);
  if (c.defaultBranch) kv.push(['DefaultBranch', c.defaultBranch]);
  if (key) {
    kv.push(['DeploySideloadCollectionID', c.collectionId], ['DeployCollectionID', c.collectionId]);
    kv.push(['GPGKey', key]);
  }
  return printKeyFile([['Flatpak Repo', kv]]);
}

/**
 * The facts an earlier run wrote into a collection's `.flatpakrepo` on the drive (flatpakrepoText's inverse), for a
 * run that has no source for the collection (`remove`, an update from another source): the README then still says
 * to add the remote from that file. Null unless the text reads, names this collection ID and has a GPG key (a
 * file without both is one the README cannot send anyone to). The remote name is not in the file.
 */
export function parseFlatpakrepo(text: string, collectionId: string): Omit<GuideCollection, 'refs'> | null {
  const r = readFlatpakrepo(text);
  if (!r.ok || r.collectionId !== collectionId || !r.gpgKey?.length) return null;
  return { collectionId, ...r.fields, ...(r.url !== UNKNOWN_URL ? { url: r.url } : {}), gpgKeys: [r.gpgKey] };
}

/** The refs a user asks for: apps, else the runtimes that are not Locale/Debug/Sources extensions. */
function installTargets(refs: readonly string[]): string[] {
  const apps = refs.filter((r) => r.startsWith('app/'));
  if (apps.length) return [...apps].sort();
  return refs.filter((r) => r.startsWith('runtime/') && !/\.(Locale|Debug|Sources)\//.test(r)).sort();
}

/**
 * A value from upstream metadata or an earlier `.flatpakrepo` as one README line: a title or URL with a line break
 * (keyfiles and GVariant strings can carry one) must not start a line that reads as a command of ours.
 */
function oneLine(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\x00-\x1f\x7f]+/g, ' ');
}

/** POSIX-shell quoting for a word, only when needed (the README's commands, the CLI's fix hints). */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Every file the drive's root gets: one `.flatpakrepo` per known collection and the README. */
export function driveGuide(input: GuideInput): GuideFile[] {
  const cols = [...input.collections].sort((a, b) =>
    a.collectionId < b.collectionId ? -1 : a.collectionId > b.collectionId ? 1 : 0,
  );
  const files: GuideFile[] = [];
  const names = remoteNames(cols.filter((c) => installTargets(c.refs).length > 0));
  // A collection with no app or runtime (an OS's refs, say) is for ostree clients, not flatpak.
  const forFlatpak = cols.some((c) => installTargets(c.refs).length > 0);
  const forOstree = cols.some((c) => installTargets(c.refs).length === 0);
  const repoRels = input.repoRels && input.repoRels.length > 1 ? input.repoRels : [input.repoRel];
  const several = repoRels.length > 1;
  const theRepos = several
    ? `The ostree repos are ${repoRels
        .slice(0, -1)
        .map((r) => `${r}/`)
        .join(', ')} and ${repoRels.at(-1)}/ (written by sideload)`
    : `The ostree repo is ${input.repoRel}/ (written by sideload)`;
  // Which repos a collection is in, for its heading on a drive with several.
  const inRepos = (c: GuideCollection) =>
    several && c.repos?.length ? ` in ${c.repos.map((r) => `${r}/`).join(' and ')}` : '';
  const readme: string[] = forFlatpak
    ? [
        'This drive holds Flatpak apps and runtimes for installing without a network connection.',
        ...(several
          ? [`${theRepos}.`, 'Install from them on a machine with flatpak:']
          : [`${theRepos}. Install from it on a machine with flatpak:`]),
        '',
        'Open a terminal in the directory that holds this file (where the drive is mounted), then run the',
        'commands below. They install for your user only; to install system-wide, drop --user (you will be',
        'asked for an administrator password). Nothing is downloaded: everything comes from this drive.',
      ]
    : cols.length === 0
      ? [
          'This drive holds no apps, runtimes or other refs any more: every one was taken off.',
          `${theRepos}; 'sideload create' puts new ones on ${several ? 'them' : 'it'}.`,
        ]
      : ['This drive holds ostree refs for updating without a network connection.', `${theRepos}.`];
  for (const c of cols) {
    if (installTargets(c.refs).length === 0) {
      readme.push('', ...ostreeSection(c, inRepos(c)));
      continue;
    }
    const name = names.get(c.collectionId) ?? remoteNameFor(c);
    const repoFile = flatpakrepoName(c.collectionId);
    const signed = !!c.gpgKeys?.length;
    const known = c.known !== false;
    if (known) files.push({ name: repoFile, text: flatpakrepoText(c) });
    const heading =
      c.title && c.title !== c.collectionId
        ? `${oneLine(c.title)} (collection ${c.collectionId}${inRepos(c)})`
        : `Collection ${c.collectionId}${inRepos(c)}`;
    readme.push('', `== ${heading} ==`, '');
    const targets = installTargets(c.refs);
    if (known && signed) {
      readme.push(
        `1. Add the remote '${name}' (nothing happens if you already have it):`,
        '',
        `   flatpak remote-add --user --if-not-exists ${shellWord(name)} ${shellWord(repoFile)}`,
        '',
        `2. Install from this drive:`,
        '',
        ...targets.map((r) => `   flatpak install --user --sideload-repo=. ${shellWord(name)} ${shellWord(r)}`),
        '',
        `If you already have this remote under another name, use that name. flatpak sideloads only for a`,
        `remote with the collection ID ${c.collectionId}; 'flatpak remotes --columns=name,collection' shows`,
        `it, and 'flatpak remote-modify --user --collection-id=${c.collectionId} NAME' sets it.`,
      );
      if (c.url && c.redirectedFrom !== undefined)
        readme.push(
          `The upstream moved: its signed summary sends remotes ` +
            `${c.redirectedFrom ? `from ${oneLine(c.redirectedFrom)} ` : ''}to ${oneLine(c.url)},`,
          `so ${repoFile} gives that URL. flatpak moves a remote you already have the next time it reads`,
          'the old URL online.',
        );
      if (!c.url)
        readme.push(
          `The upstream URL of this collection was not known when the drive was written: ${repoFile}`,
          `carries the placeholder ${UNKNOWN_URL}, so the remote works with this drive only until you`,
          `set the real one: flatpak remote-modify --user --url=URL ${shellWord(name)}`,
        );
    } else {
      readme.push(
        known
          ? `The upstream's GPG key was not known when the drive was written, so ${repoFile} has no collection`
          : `This collection was written by an earlier run; its ${repoFile} (if any) is from that run.`,
        known
          ? `ID (flatpak refuses one without a key). Add the remote with its key and collection ID yourself:`
          : `The remote needs its GPG key and the collection ID:`,
        '',
        `   flatpak remote-add --user --if-not-exists --gpg-import=KEYFILE --collection-id=${c.collectionId} ` +
          `${shellWord(name)} ${c.url ? shellWord(oneLine(c.url)) : 'URL'}`,
        '',
        'Then install from this drive:',
        '',
        ...targets.map((r) => `   flatpak install --user --sideload-repo=. ${shellWord(name)} ${shellWord(r)}`),
      );
    }
    const others = c.refs.filter((r) => !targets.includes(r) && r !== 'ostree-metadata').sort();
    if (others.length)
      readme.push('', 'Also on the drive (installed with the above as needed):', ...others.map((r) => `   ${r}`));
  }
  const more = [
    ...(forFlatpak ? ['flatpak-install(1) (--sideload-repo), flatpak-remote-add(1), https://docs.flatpak.org/'] : []),
    ...(forOstree ? ['ostree-find-remotes(1)'] : []),
  ];
  if (more.length) readme.push('', `More: ${more.join(', ')}`);
  readme.push('');
  files.push({ name: GUIDE_README, text: readme.join('\n') });
  return files;
}

/**
 * The README section of a collection with no app or runtime: its refs (an OS, say) are for ostree clients, which
 * find them on a mounted drive by collection ID (`ostree find-remotes --finders=mount`, ostree's repo finder) and
 * pull them with the keyring of their own remote for it; such pulls require signed commits. No `.flatpakrepo`: a
 * flatpak remote would have nothing to install.
 */
function ostreeSection(c: GuideCollection, inRepos: string): string[] {
  const refs = c.refs.filter((r) => r !== 'ostree-metadata').sort();
  return [
    `== Collection ${c.collectionId} (ostree refs${inRepos}) ==`,
    '',
    `These are ostree refs, not Flatpak apps. An ostree client with a remote of collection ID ${c.collectionId}`,
    "finds them on the mounted drive and pulls them from it (their commits must be signed with that remote's",
    'GPG key). REPO is the repo to update, /ostree/repo on an ostree-based system:',
    '',
    `   ostree find-remotes --repo=REPO --finders=mount --pull ${refs
      .map((r) => `${shellWord(c.collectionId)} ${shellWord(r)}`)
      .join(' ')}`,
  ];
}
