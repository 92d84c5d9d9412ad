/**
 * The planner's input and output (resolve.ts): the requested ref arguments and the facts a source offers, in; the
 * refs to put on the drive, each with the reason it is there, and the warnings for what was left out, out.
 */
import type { Warning } from '../warnings.js';
import type { SourceKind, SourceRef } from './catalog.js';
import type { InstallationLocation } from './installation.js';
import type { RefKind } from './ref.js';

export type PlanReason = 'requested' | 'runtime' | 'related' | 'sdk' | 'appstream' | 'rebase';

/** Which related extensions to take (`--extensions`). */
export type ExtensionPolicy =
  /**
   * Locale and every extension a client would download by itself; of hardware-specific GL-style ones only `.default`.
   */
  | 'auto'
  /** Every candidate the source has (all GL drivers …). */
  | 'all'
  /** Locale extensions only. */
  | 'locale'
  /** No related refs at all. */
  | 'none';

/** Every ExtensionPolicy, in the order help texts list them. */
export const EXTENSION_POLICIES: readonly ExtensionPolicy[] = ['auto', 'all', 'locale', 'none'];

export interface PlannedRef {
  readonly collectionId: string;
  readonly ref: string;
  readonly commit: string;
  /** Pull subdirs (`/metadata`, `/files/de`); null = the whole commit. */
  readonly subpaths: readonly string[] | null;
  readonly reason: PlanReason;
  /** The ref that pulled this one in. */
  readonly requestedBy?: string;
  readonly remote?: string;
  /** For locale extensions: the languages on the drive (`all` or a list). */
  readonly languages?: readonly string[] | 'all';
}

export interface ResolveInput {
  readonly requested: readonly string[];
  /** Restrict partial refs to these kinds (`--app`, `--runtime`); default both. */
  readonly kinds?: readonly RefKind[];
  /** Arches for refs that don't name one (`--arch`, repeatable); default the host arch. */
  readonly arches?: readonly string[];
  readonly hostArch: string;
  readonly sourceKind: SourceKind;
  readonly catalog: readonly SourceRef[];
  /** The flatpak metadata keyfile of a ref (deploy dir, xa.cache or the commit's xa.metadata). */
  metadataOf(r: SourceRef): Promise<string>;
  /** True when the ref's commit has `xa.extra-data-sources`. */
  isExtraData(r: SourceRef): Promise<boolean>;
  /** Languages for locale extensions (`--locales`); default: installation → what is installed, else all. */
  readonly locales?: readonly string[];
  readonly extensions?: ExtensionPolicy;
  /**
   * The policy for the related refs of refs new to the drive (default `extensions`): an end-of-life replacement, and
   * a runtime not in `onDrive`. `update` resolves the drive's apps with none (theirs are on the drive already, or
   * were taken off), but a ref it adds brings its own, as `create` takes them.
   */
  readonly newRefExtensions?: ExtensionPolicy;
  /** The refs the drive holds: a runtime an app needs that is not among them is new to the drive. */
  readonly onDrive?: ReadonlySet<string>;
  /** Also copy the SDK of each app (`--include-sdk`). */
  readonly includeSdk?: boolean;
  /** Copy appstream/appstream2 of each collection and arch involved (default true). */
  readonly appstream?: boolean;
  /** A collection ID to use for refs whose source has none (`--collection-id`). */
  readonly collectionId?: string;
  /**
   * How to tell the user to fix a remote with no collection ID; `collectionId` is the one the ref's commit is bound
   * to (`ostree.collection-binding`), when it is.
   */
  remoteFixHint?(remote: string, collectionId?: string, installation?: InstallationLocation): string;
  /**
   * The collection a ref's commit is bound to (`ostree.collection-binding`), or null. With it, a ref is never put
   * under another collection (ostree's pull refuses such a commit), and a missing collection ID is suggested.
   */
  bindingOf?(r: SourceRef): Promise<string | null>;
  /**
   * The ref an end-of-life ref's commit names as its replacement (`ostree.endoflife-rebase`), or null. flatpak moves
   * an install or update of that ref to the replacement, so the drive must hold it too.
   */
  rebaseOf?(r: SourceRef): Promise<string | null>;
  /**
   * A runtime another source of the run puts on the drive (a manifest's sources): an app of this source whose runtime
   * this source lacks runs on that one, rather than failing.
   */
  plannedElsewhere?(ref: string): boolean;
  /**
   * Commit overrides (`--commit REF=CHECKSUM`, a lockfile): a full ref, or a ref argument exactly as requested,
   * → the commit to copy instead of the source's current one. Every key must name a ref of the plan.
   */
  readonly commits?: Readonly<Record<string, string>>;
}

export interface RefPlan {
  readonly refs: readonly PlannedRef[];
  readonly warnings: readonly Warning[];
}
