/**
 * A source's catalogue as the resolver reads it: each ref with its commit, collection and (for installations) the
 * deployed subpaths. Sources (src/usb/) produce it; the resolver (./resolve.ts) picks refs from it.
 */
import type { InstallationLocation } from './installation.js';

export type SourceKind = 'installation' | 'repo' | 'remote';

export interface SourceRef {
  /** Full ref: `app/ID/ARCH/BRANCH`, `runtime/…`, `appstream2/ARCH`, `ostree-metadata` … */
  readonly ref: string;
  /** The collection this ref belongs to; null when the source cannot tell (an error for refs we copy). */
  readonly collectionId: string | null;
  readonly commit: string;
  /** Installation: the origin remote. Remote sources: the remote name. */
  readonly remote?: string;
  /** Installation: the installation the ref is deployed in (a runtime may come from another than the app). */
  readonly installation?: InstallationLocation;
  /** Installation: the deploy subpaths (`/de`); empty = whole ref installed. */
  readonly deploySubpaths?: readonly string[];
  /** The flatpak metadata keyfile text when the source has it without reading the commit (deploy dir, xa.cache). */
  readonly metadataText?: string;
}
