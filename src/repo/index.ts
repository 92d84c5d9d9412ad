/**
 * Object stores and the copy engine: open any ostree repo (archive, bare, bare-user, bare-user-only) or an archive
 * repo over a transport as an ObjectSource; walk a commit; copy it into an archive repo through a staging area.
 */
export { Repo, openRepo, openObjectSource, isArchiveRepo, type ArchiveRepo } from './repo.js';
export { createArchiveRepo, ARCHIVE_CONFIG, REPO_DIRS } from './create-repo.js';
export { openArchiveSource } from './object-sources.js';
export { writeFileAtomic, fsyncDir, syncIfFuse, type WriteOptions } from './atomic-write.js';
export { listRefFiles, type RefEntry } from './ref-store.js';
export { refPath, validateRef, isValidRef, isValidRemoteName, isValidCollectionId, type RefLocation } from './refs.js';
export { parseRepoConfig, type RepoConfig, type SourceMode } from './config.js';
export {
  SMALL_OBJECT_LIMIT,
  decorateSource,
  readCommitObject,
  type SourceOverrides,
  type ObjectSource,
  type ContentObject,
  type ByteSink,
  type TransportLike,
  type ReadOptions,
  type ReadContentOptions,
  type Priority,
} from './source.js';
export { ArchiveSource, MAX_METADATA_SIZE } from './archive-source.js';
export { BareSource, type BareMode } from './bare-source.js';
export { FsTransport } from '../transport/local.js';
export { contentChecksum, verifyFilez, FilezVerifier, RawVerifier } from './content-verify.js';
export { walkCommit, matchesPullDir, normalizeSubpaths, type WalkEntry, type WalkOptions } from './traverse.js';
export {
  checkCompressionLevel,
  Staging,
  openStaging,
  STAGING_DIR,
  type StagingOptions,
  type PublishResult,
} from './writer.js';
export { copyCommit, defaultConcurrency, type CopyOptions, type CopyProgress, type CopyResult } from './copy.js';
export { listObjects, verifyObject, type LooseObject } from './list.js';
export { openXattrReader, type XattrReader } from './xattr.js';
