/**
 * `lockManifest`: resolves a manifest to a lockfile without touching any drive: every ref each source contributes
 * (requested refs, runtimes, extensions, appstream) at its exact commit, the digest of each collection's upstream
 * summary (checked against the source's keys, as a real run would) and the keys that signed it.
 */
import { InterruptedError, UsageError } from '../errors.js';
import { Warner, type Warning } from '../warnings.js';
import type { Lockfile, LockSource, Manifest } from './manifest.js';
import { resolveRun, type ResolveOptions } from './resolve-run.js';
import type { Source } from './source.js';
import type { UpstreamPolicy } from './upstream.js';
import { prepareUpstreams, upstreamDigest } from './upstream-copy.js';

export interface LockOptions {
  readonly upstream?: UpstreamPolicy;
  /** Fail at the first warning (ESTRICT), before the lockfile is written. */
  readonly strict?: boolean;
  readonly onWarning?: (w: Warning) => void;
  readonly signal?: AbortSignal;
}

/** `sources[i]` is the opened `manifest.sources[i]`. */
export async function lockManifest(
  manifest: Manifest,
  sources: readonly Source[],
  opts: LockOptions = {},
): Promise<Lockfile> {
  if (sources.length !== manifest.sources.length)
    throw new UsageError(
      `lockManifest: the manifest names ${manifest.sources.length} source(s) and ${sources.length} were given: ` +
        'open each of its sources, in its order',
    );
  const warner = new Warner({
    ...(opts.strict ? { strict: true } : {}),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
  });
  const ro: ResolveOptions = {
    ...(manifest.arches ? { arches: manifest.arches } : {}),
    ...(manifest.locales ? { locales: manifest.locales } : {}),
    ...(manifest.extensions ? { extensions: manifest.extensions } : {}),
    ...(manifest.includeSdk ? { includeSdk: true } : {}),
  };
  const inputs = manifest.sources.map((s, i) => ({
    source: sources[i] as Source,
    refs: s.refs,
    ...(s.collectionId ? { collectionId: s.collectionId } : {}),
  }));
  const resolved = await resolveRun(inputs, ro, warner);
  const upstream = await prepareUpstreams(
    resolved.collections,
    opts.upstream ?? 'require-signature',
    warner.warn,
    () => {
      if (opts.signal?.aborted) throw new InterruptedError('interrupted; no lockfile was written');
    },
  );
  const lockSources: LockSource[] = manifest.sources.map((spec, i) => {
    const refs = resolved.wanted.filter((w) => w.source === i);
    const digests: Record<string, string> = {};
    const keys = new Set<string>();
    for (const cid of new Set(refs.map((r) => r.collectionId))) {
      if (resolved.collections.get(cid) !== sources[i]) continue;
      const up = upstream.copies.get(cid);
      const digest = up ? upstreamDigest(up) : null;
      if (digest) digests[cid] = digest;
      for (const k of up?.keys ?? []) keys.add(k);
    }
    const { refs: _requested, ...rest } = spec;
    void _requested;
    return {
      ...rest,
      ...(Object.keys(digests).length ? { upstream: digests } : {}),
      ...(keys.size ? { keys: [...keys].sort() } : {}),
      refs: refs.map((r) => ({
        ref: r.ref,
        collectionId: r.collectionId,
        commit: r.commit,
        reason: r.reason,
        subpaths: r.subpaths,
        ...(r.languages !== undefined ? { languages: r.languages } : {}),
      })),
    };
  });
  const { sources: _s, ...media } = manifest;
  void _s;
  return { lockVersion: 1, ...media, sources: lockSources };
}
