/**
 * sideload's public API. The CLI (src/cli/) is a thin layer over exactly these calls; the library never prints.
 *
 *   const source = await openRepoSource('./repo', { keys: { gpgKeyrings: ['example.gpg'] } });
 *   try { await createDrive({ drive: '/mnt/usb', refs: ['org.example.App'] }, source); }
 *   finally { await source.close(); }
 */

// Errors and exit codes
export {
  SideloadError,
  UsageError,
  NotFoundError,
  CorruptError,
  SignatureError,
  UnsupportedError,
  NetworkError,
  InterruptedError,
  InternalError,
  FailureError,
  ExitCode,
  ERROR_CODES,
  type ErrorCode,
  type UsageCode,
  type NotFoundCode,
  type CorruptCode,
  type SignatureCode,
  type UnsupportedCode,
  type NetworkCode,
  type FailureCode,
  type InterruptedCode,
  type InternalCode,
  type ErrorData,
} from './errors.js';
export { Warner, WARNING_CODES, type Warning, type WarningCode, type Warn, type WarnerOptions } from './warnings.js';

// Drives: create, list, verify
export { createDrive, UPSTREAM_DIR, type CreateOptions, type CreateResult, type DriveRef } from './usb/create.js';
export { listDrive, type ListedRepo, type ListedRef } from './usb/list.js';
export {
  verifyDrive,
  verifyRepo,
  type VerifyOptions,
  type VerifyReport,
  type RepoReport,
  type Finding,
  type FindingCode,
} from './usb/verify.js';
export { findDriveRepos } from './usb/find-repos.js';

// Drives: several sources in one run, maintenance, manifests and locks (the CLI's update, remove, prune, lock)
export { createDriveFrom, type RunSource, type LockedRef } from './usb/create.js';
export { updateDrive } from './usb/update.js';
export { removeFromDrive, type RemoveOptions, type RemoveResult } from './usb/remove.js';
export { pruneDrive, type PruneOptions, type PruneResult } from './usb/prune.js';
export { lockManifest, type LockOptions } from './usb/lock.js';
export {
  parseManifest,
  parseLockfile,
  printLockfile,
  type Manifest,
  type ManifestSource,
  type Lockfile,
  type LockSource,
  type SourceSpec,
  type MediaOptions,
} from './usb/manifest.js';
export type { DrivePlan, PlanEntry, RefAction } from './usb/plan.js';
export type { UpstreamPin } from './usb/upstream-copy.js';
export type { ProgressEvent, ProgressCallback } from './usb/events.js';

// Sources
export { openInstallationSource } from './usb/installation-source.js';
export { openRepoSource, type RepoSourceOptions } from './usb/repo-source.js';
export type { ExtraKeys } from './sign/key-files.js';
export { openRemoteSource, type RemoteSpec } from './usb/remote-source.js';
export type { Source, SourceRef, SourceKind, TrustedKeys, UpstreamFiles } from './usb/source.js';
export type { InstallationScope } from './flatpak/installation.js';

// Planning (pure)
export { resolveRefs } from './flatpak/resolve.js';
export { parseRefArg } from './flatpak/ref.js';
export type { RefPlan, PlannedRef, ResolveInput, ExtensionPolicy } from './flatpak/resolve-types.js';

// Signing
export {
  generateKeyPair,
  formatPublicKey,
  formatSecretKey,
  loadPublicKeys,
  loadSecretKey,
  Ed25519Signer,
  Ed25519Verifier,
  GpgVerifier,
  readSignatures,
  encodeDetached,
  type VerifyResult,
} from './sign/index.js';

// Formats (pure)
export * as gvariant from './gvariant/index.js';
export { parseKeyFile, printKeyFile, type KeyFile } from './keyfile/index.js';
export { buildSummary, decodeSummary, type SummaryRef, type DecodedSummary } from './summary/summary.js';
export { buildMetadataCommit, SIDELOAD_REFS_KEY, SIDELOAD_SUBPATHS_KEY } from './summary/metadata-commit.js';
export { encodeCommit, decodeCommit, type Commit } from './ostree/commit.js';

// Transports
export { openTransport, HttpTransport, type HttpTransportOptions } from './transport/index.js';
