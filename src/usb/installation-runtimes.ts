/**
 * An app installed for the user often runs on a runtime installed system-wide: `flatpak install --user` does not
 * install a runtime again that a system installation has (flatpak_transaction_add_default_dependency_sources).
 * flatpak create-usb refuses such an app (its runtime "is not installed" in the app's installation). An
 * installation as a source also offers the runtimes (and runtime extensions: GL drivers, Locale …) deployed only in
 * the other system-wide installations, each read from its own repo with its own remote's collection ID, keys and
 * cached summary.
 */
import { expectFailure } from '../errors.js';
import { splitRef } from '../flatpak/ref.js';
import { parseKeyFile } from '../keyfile/index.js';
import type { SourceRef } from '../flatpak/catalog.js';
import type { ObjectSource } from '../repo/index.js';
import type { InstallationLocation } from '../flatpak/installation.js';
import type { Warning } from '../warnings.js';
import type { Source, TrustedKeys } from './source.js';

/**
 * `primary`, offering too the runtimes deployed in `others` (system-wide installations) that `primary` lacks.
 * `unread`: warnings for installations that could not be opened; one whose refs cannot be listed is left out too.
 */
export function withRuntimesFrom(
  primary: Source,
  opened: ReadonlyArray<{ readonly location: InstallationLocation; readonly source: Source }>,
  unread: readonly Warning[] = [],
): Source {
  const others = opened.map((o) => o.source);
  const all = [primary, ...others];
  const warnings = [...unread];
  const warned = new Set<string>();
  /** Commits listed from another installation → that installation's source. */
  const owner = new Map<string, Source>();
  const sourceOf = (commit: string): Source => owner.get(commit) ?? primary;
  /** The first answer of the sources in order (the primary's own remotes first). */
  const first = async <T>(ask: (s: Source) => Promise<T | null | undefined>): Promise<T | undefined> => {
    for (const s of all) {
      const v = await ask(s);
      if (v !== null && v !== undefined) return v;
    }
    return undefined;
  };
  return {
    kind: primary.kind,
    description: primary.description,
    objects: primary.objects,
    ...(primary.localRepoPath !== undefined ? { localRepoPath: primary.localRepoPath } : {}),
    ...(primary.installation !== undefined ? { installation: primary.installation } : {}),
    async listRefs(): Promise<readonly SourceRef[]> {
      const out = [...(await primary.listRefs())];
      const have = new Set(out.map((r) => r.ref));
      const appstream = new Set(out.map((r) => `${r.collectionId ?? ''}\0${r.ref}`));
      /** Extensions (`[ExtensionOf]`) of other installations, in their order: offered once their base is known. */
      const extensions: Array<{ r: SourceRef; base: string; o: Source; theirs: readonly SourceRef[] }> = [];
      for (const { location, source: o } of opened) {
        let theirs: readonly SourceRef[];
        try {
          theirs = await o.listRefs();
        } catch (e) {
          // Once per installation, however often the refs are listed (update lists them twice).
          if (!warned.has(location.root)) warnings.push(unreadable(location, e));
          warned.add(location.root);
          continue;
        }
        for (const r of theirs) {
          if (/^appstream2?\//.test(r.ref)) {
            // The appstream of a collection only another installation's runtimes are from (create-usb carries one
            // for each collection of the drive).
            const key = `${r.collectionId ?? ''}\0${r.ref}`;
            if (!r.collectionId || appstream.has(key)) continue;
            appstream.add(key);
            owner.set(r.commit, o);
            out.push(r);
            continue;
          }
          if (have.has(r.ref) || splitRef(r.ref)?.kind !== 'runtime') continue;
          const base = extensionOf(r);
          if (base) {
            extensions.push({ r, base, o, theirs });
            continue;
          }
          have.add(r.ref);
          owner.set(r.commit, o);
          out.push(r);
        }
      }
      // An extension goes with the commit of the ref it extends that the drive gets: one of another installation
      // (an app's Locale of the system's copy of the app) only when that installation has the same commit of it.
      const chosen = new Map(out.map((r) => [r.ref, r.commit]));
      for (const { r, base, o, theirs } of extensions) {
        if (have.has(r.ref)) continue;
        const commit = chosen.get(base);
        if (commit !== undefined && !theirs.some((t) => t.ref === base && t.commit === commit)) continue;
        have.add(r.ref);
        owner.set(r.commit, o);
        out.push(r);
      }
      return out;
    },
    readCommit: (c) => sourceOf(c).readCommit(c),
    objectsFor(c): ObjectSource | undefined {
      const o = owner.get(c);
      return o ? (o.objectsFor?.(c) ?? o.objects) : primary.objectsFor?.(c);
    },
    takeWarnings: () => [...warnings.splice(0), ...all.flatMap((s) => s.takeWarnings?.() ?? [])],
    upstreamSummary: async (cid) => (await first((s) => s.upstreamSummary(cid))) ?? null,
    async trustedKeys(cid): Promise<TrustedKeys> {
      // Every key the machine trusts for the collection, each once (the extra keys come with every installation).
      const gpg: Uint8Array[] = [];
      const ed25519: Uint8Array[] = [];
      const add = (into: Uint8Array[], k: Uint8Array) => {
        if (!into.some((x) => Buffer.from(x).equals(k))) into.push(k);
      };
      for (const s of all) {
        const k = await s.trustedKeys(cid);
        for (const g of k.gpg) add(gpg, g);
        for (const e of k.ed25519) add(ed25519, e);
      }
      return { gpg, ed25519 };
    },
    upstreamMetadata: (cid) => first((s) => s.upstreamMetadata(cid)),
    upstreamRemote: (cid) => first(async (s) => s.upstreamRemote?.(cid)),
    async close() {
      for (const s of all) await s.close();
    },
  };
}

/** The ref an installed extension's metadata names in `[ExtensionOf] ref=`, or null. */
function extensionOf(r: SourceRef): string | null {
  if (!r.metadataText) return null;
  try {
    return parseKeyFile(r.metadataText).get('ExtensionOf', 'ref') ?? null;
  } catch {
    return null; // a malformed metadata file: offered as any runtime (the planner reads it again)
  }
}

/** The warning for a system-wide installation that could not be read for its runtimes. */
export function unreadable(l: InstallationLocation, e: unknown): Warning {
  return {
    code: 'installation-unreadable',
    message: `the runtimes of the '${l.name}' installation are not offered: ${expectFailure(e).message}`,
    data: { installation: l.name, path: l.root },
  };
}
