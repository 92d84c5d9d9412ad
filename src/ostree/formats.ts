/**
 * Every ostree/flatpak GVariant type string we read or write, documented once (ostree-core.h, flatpak-variants.gv).
 * Fields marked BE hold byte-swapped (big-endian) integers: see `swap32`/`swap64` in endian.ts.
 */

/** Commit: (a{sv} metadata, ay parent (32 bytes or empty), a(say) related (unused, empty), s subject, s body,
 *  t timestamp BE (Unix seconds), ay root dirtree checksum (32), ay root dirmeta checksum (32)). */
export const COMMIT = '(a{sv}aya(say)sstayay)';

/** Dirtree: (a(say) files: (name, content checksum), a(sayay) dirs: (name, dirtree checksum, dirmeta checksum)),
 *  both sorted by strcmp of the name. */
export const DIRTREE = '(a(say)a(sayay))';

/** Dirmeta: (u uid BE, u gid BE, u mode BE (S_IFDIR|perms), a(ayay) xattrs). */
export const DIRMETA = '(uuua(ayay))';

/** Content-stream file header: (u uid BE, u gid BE, u mode BE, u rdev (0), s symlink target, a(ayay) xattrs). */
export const FILE_HEADER = '(uuuusa(ayay))';

/**
 * Archive (.filez) header: (t size BE (uncompressed), u uid BE, u gid BE, u mode BE, u rdev, s target, a(ayay) xattrs).
 */
export const ARCHIVE_HEADER = '(tuuuusa(ayay))';

/** bare-user `user.ostreemeta` xattr: (u uid BE, u gid BE, u mode BE, a(ayay) xattrs). */
export const BARE_USER_META = '(uuua(ayay))';

/** Detached metadata (.commitmeta) and summary.sig: a{sv}. */
export const DETACHED_METADATA = 'a{sv}';

/** One summary ref map: a(s(taya{sv})): ref name → (commit size t (host LE), commit checksum ay, metadata a{sv}). */
export const REF_MAP = 'a(s(taya{sv}))';

/** Summary: (ref map, a{sv} metadata). */
export const SUMMARY = '(a(s(taya{sv}))a{sv})';

/** ostree.summary.collection-map: collection ID → ref map. */
export const COLLECTION_MAP = 'a{sa(s(taya{sv}))}';

/** flatpak summary index (summary.idx): (a{s(ayaaya{sv})} subsummaries: name → (sha256, history, metadata), a{sv}). */
export const SUMMARY_INDEX = '(a{s(ayaaya{sv})}a{sv})';

/** flatpak xa.cache value inside its two variant wrappers: ref → (installed size BE, download size BE, metadata). */
export const XA_CACHE = 'a{s(tts)}';

/** flatpak xa.sparse-cache: ref → {eol s, eolr s, tokt i LE, eds (ut) LE}. */
export const XA_SPARSE_CACHE = 'a{sa{sv}}';

/** flatpak deploy data `deploy` file: (s origin, s commit, as subpaths, t installed size BE, a{sv} metadata). */
export const DEPLOY_DATA = '(ssasta{sv})';

/** Metadata keys. */
export const KEY = {
  summaryLastModified: 'ostree.summary.last-modified',
  summaryMode: 'ostree.summary.mode',
  summaryTombstoneCommits: 'ostree.summary.tombstone-commits',
  summaryIndexedDeltas: 'ostree.summary.indexed-deltas',
  summaryCollectionId: 'ostree.summary.collection-id',
  summaryCollectionMap: 'ostree.summary.collection-map',
  summaryExpires: 'ostree.summary.expires',
  staticDeltas: 'ostree.static-deltas',
  commitTimestamp: 'ostree.commit.timestamp',
  commitVersion: 'ostree.commit.version',
  refBinding: 'ostree.ref-binding',
  collectionBinding: 'ostree.collection-binding',
  endOfLife: 'ostree.endoflife',
  endOfLifeRebase: 'ostree.endoflife-rebase',
  version: 'version',
  gpgSigs: 'ostree.gpgsigs',
  ed25519Sigs: 'ostree.sign.ed25519',
  xaRef: 'xa.ref',
  xaMetadata: 'xa.metadata',
  xaInstalledSize: 'xa.installed-size',
  xaDownloadSize: 'xa.download-size',
  xaExtraDataSources: 'xa.extra-data-sources',
  xaCache: 'xa.cache',
  xaSparseCache: 'xa.sparse-cache',
  xaCacheVersion: 'xa.cache-version',
  xaGpgKeys: 'xa.gpg-keys',
  xaTitle: 'xa.title',
  xaComment: 'xa.comment',
  xaDescription: 'xa.description',
  xaHomepage: 'xa.homepage',
  xaIcon: 'xa.icon',
  xaDefaultBranch: 'xa.default-branch',
  xaRedirectUrl: 'xa.redirect-url',
  xaData: 'xa.data',
  otTs: 'ot.ts',
} as const;

/** The ref of the per-collection metadata commit. */
export const METADATA_REF = 'ostree-metadata';

/** Checksum of the empty dirtree `00`. */
export const EMPTY_DIRTREE = '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d';
/** Checksum of the dirmeta uid 0, gid 0, mode 040755, no xattrs. */
export const ROOT_DIRMETA = '446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488';
