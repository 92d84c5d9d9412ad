/** Opening a repo's objects as an ObjectSource, by mode: archive through a transport, the bare family from disk. */
import { FsTransport } from '../transport/local.js';
import { ArchiveSource } from './archive-source.js';
import { BareSource } from './bare-source.js';
import type { SourceMode } from './config.js';
import type { ObjectSource, TransportLike } from './source.js';

/** An archive repo's objects through a transport (a local directory or an HTTP(S) URL; src/transport/). */
export async function openArchiveSource(
  transport: TransportLike | string,
  opts: { ownsTransport?: boolean } = {},
): Promise<ObjectSource> {
  if (typeof transport === 'string') return new ArchiveSource(new FsTransport(transport));
  return new ArchiveSource(transport, opts);
}

/** The objects of the repo at `repoPath` (absolute), read as its `mode` stores them. */
export async function openSourceForMode(repoPath: string, mode: SourceMode): Promise<ObjectSource> {
  if (mode === 'archive') return new ArchiveSource(new FsTransport(repoPath));
  return BareSource.open(repoPath, mode);
}
