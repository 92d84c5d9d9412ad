/**
 * flatpak deploy data (`<deploy dir>/deploy`, type (ssasta{sv})): origin remote, deployed commit, subpaths,
 * installed size (BE) and extra metadata. Pure.
 */
import { CorruptError, expectOnly } from '../errors.js';
import { decode, type VarDict } from '../gvariant/index.js';
import { validateChecksum } from '../ostree/checksum.js';
import { swap64 } from '../ostree/endian.js';
import { DEPLOY_DATA } from '../ostree/formats.js';

export interface DeployData {
  readonly origin: string;
  readonly commit: string;
  /** Deploy subpaths such as `/de` (empty = the whole ref). */
  readonly subpaths: readonly string[];
  readonly installedSize: bigint;
  readonly metadata: VarDict;
}

/** Parses a `deploy` file. @throws CorruptError naming `where`. */
export function decodeDeployData(bytes: Uint8Array, where = 'deploy'): DeployData {
  try {
    // flatpak writes deploy data with g_variant_new; it is normal form in practice, but read it as GLib would.
    const [origin, commit, subpaths, size, metadata] = decode(DEPLOY_DATA, bytes, { strict: false }) as [
      string,
      string,
      string[],
      bigint,
      VarDict,
    ];
    validateChecksum(commit, 'deployed commit');
    if (!origin) throw new CorruptError('empty origin remote');
    return { origin, commit, subpaths, installedSize: swap64(size), metadata };
  } catch (e) {
    throw new CorruptError(`${where}: ${expectOnly(e, CorruptError).message}`, { file: where }, 'ECORRUPT', {
      cause: e,
    });
  }
}

/**
 * flatpak's get_flatpak_subpaths_from_deploy_subpaths: deploy subpaths `/de` become pull subdirs
 * `['/metadata', '/files/de']`; no subpaths means the whole commit (null).
 */
export function pullSubpathsFromDeploy(subpaths: readonly string[]): string[] | null {
  if (subpaths.length === 0) return null;
  return ['/metadata', ...subpaths.map((s) => `/files${s.startsWith('/') ? s : `/${s}`}`)];
}
