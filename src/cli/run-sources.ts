/** Opening the sources a manifest or lockfile names, through the same code as the command-line source options. */
import type { RetryInfo } from '../transport/http.js';
import type { Source } from '../usb/source.js';
import type { SourceSpec } from '../usb/manifest.js';
import { openSourceFromArgs, type SourceArgs } from './source-args.js';

/** The command-line source options a spec stands for. */
export function specToArgs(s: SourceSpec): SourceArgs {
  const inst = s.installation;
  return {
    ...(s.url ? { url: s.url } : {}),
    ...(s.repo ? { repo: s.repo } : {}),
    ...(s.flatpakrepo ? { from: s.flatpakrepo } : {}),
    ...(inst === 'user' ? { user: true } : inst === 'system' ? { system: true } : inst ? { installation: inst } : {}),
    ...(s.collectionId ? { 'collection-id': s.collectionId } : {}),
    ...(s.gpgImport ? { 'gpg-import': [...s.gpgImport] } : {}),
    // A manifest's `upstream-key` (or its earlier name `trusted-key`): named in errors as the documented option.
    ...(s.trustedKey ? { 'upstream-key': [...s.trustedKey] } : {}),
  };
}

/** Opens every source; closes the ones already open when one fails. */
export async function openSpecs(
  specs: ReadonlyArray<SourceSpec & { refs?: readonly unknown[] }>,
  signal: AbortSignal,
  onRetry?: (info: RetryInfo) => void,
): Promise<Source[]> {
  const out: Source[] = [];
  try {
    for (const s of specs) {
      const refs = (s.refs ?? []).map((r) => (typeof r === 'string' ? r : (r as { ref: string }).ref));
      out.push(await openSourceFromArgs({ ...specToArgs(s), refs } as SourceArgs, signal, onRetry));
    }
    return out;
  } catch (e) {
    await closeAll(out);
    throw e;
  }
}

export async function closeAll(sources: readonly Source[]): Promise<void> {
  for (const s of sources) await s.close().catch(() => {});
}

/** True when any source option was given on the command line. */
export function hasSourceArgs(args: SourceArgs): boolean {
  return !!(
    args.user ||
    args.system ||
    args.installation ||
    args['installation-dir'] ||
    args.repo ||
    args.url ||
    args.from ||
    args.remote
  );
}
