/**
 * What `remove` may take off with an app (pure but for the injected metadata reader): the runtimes and extensions no
 * app left on the drive needs, and the appstream of an arch nothing is left for.
 */
import { extensionPoints } from '../flatpak/metadata.js';
import { splitRef } from '../flatpak/ref.js';
import { parseKeyFile } from '../keyfile/index.js';

export interface DriveRefId {
  readonly collectionId: string;
  readonly ref: string;
}

/**
 * The refs of `remaining` that no remaining app needs, as the apps' metadata say: an app needs the runtime (and SDK)
 * its `[Application]` names, `ID/ARCH/BRANCH` exactly, and an app or needed runtime needs the extensions its
 * `[Extension NAME]` points name, of its own arch and of the point's versions (its own branch when none is given;
 * `NAME` itself or, as flatpak's subdirectories, `NAME.*`). So an app of one arch or branch never holds another
 * arch's or branch's runtime. `appstream/ARCH` and `appstream2/ARCH` go when no app or runtime of that arch is left
 * in their collection; any other ref that is not a flatpak ref is kept. `metadataOf` returns a ref's metadata
 * keyfile text, or null when it cannot be read: then nothing is called unneeded (a need that cannot be read must not
 * take a runtime off).
 */
export async function unneededRefs<R extends DriveRefId>(
  remaining: readonly R[],
  metadataOf: (r: R) => Promise<string | null>,
): Promise<R[]> {
  const byRef = new Map<string, R[]>();
  for (const r of remaining) byRef.set(r.ref, [...(byRef.get(r.ref) ?? []), r]);
  const needed = new Set<string>(); // refs, whatever their collection (a runtime may come from another one)
  const queue: string[] = [];
  const need = (ref: string) => {
    if (needed.has(ref)) return;
    needed.add(ref);
    queue.push(ref);
  };
  for (const r of remaining) if (splitRef(r.ref)?.kind === 'app') need(r.ref);
  while (queue.length) {
    const ref = queue.shift() as string;
    const parts = splitRef(ref);
    if (!parts) continue;
    for (const r of byRef.get(ref) ?? []) {
      const text = await metadataOf(r);
      if (text === null) return [];
      let kf;
      try {
        kf = parseKeyFile(text);
      } catch {
        return [];
      }
      if (parts.kind === 'app')
        for (const k of ['runtime', 'sdk']) {
          const v = kf.get('Application', k);
          if (v) need(`runtime/${v}`);
        }
      for (const ext of extensionPoints(kf, parts.branch))
        for (const other of remaining) {
          const o = splitRef(other.ref);
          if (o?.kind !== 'runtime' || o.arch !== parts.arch || !ext.versions.includes(o.branch)) continue;
          if (o.id === ext.name || o.id.startsWith(`${ext.name}.`)) need(other.ref);
        }
    }
  }
  const left = remaining.filter((r) => !splitRef(r.ref) || needed.has(r.ref));
  const out = remaining.filter((r) => splitRef(r.ref) && !needed.has(r.ref));
  for (const r of remaining) {
    const m = /^appstream2?\/([^/]+)$/.exec(r.ref);
    if (!m) continue;
    const arch = m[1];
    if (!left.some((l) => l.collectionId === r.collectionId && splitRef(l.ref)?.arch === arch)) out.push(r);
  }
  return out;
}
