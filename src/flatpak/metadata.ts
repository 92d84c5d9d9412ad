/**
 * Extension points of a flatpak metadata keyfile (pure): flatpak_list_extensions, reduced to what the planner needs;
 * and the sizes flatpak records in a commit's metadata.
 */
import { lookup, type VarDict } from '../gvariant/index.js';
import type { KeyFile } from '../keyfile/index.js';
import { swap64 } from '../ostree/endian.js';
import { KEY } from '../ostree/formats.js';

/**
 * A size `flatpak build-export` records in a commit's metadata: `xa.installed-size` (the files, uncompressed) or
 * `xa.download-size` (the archive objects), stored big-endian; null when the commit has none.
 */
export function commitSize(metadata: VarDict | undefined, which: 'installed' | 'download'): bigint | null {
  const v = metadata ? lookup(metadata, which === 'installed' ? KEY.xaInstalledSize : KEY.xaDownloadSize) : undefined;
  return v?.type === 't' ? swap64(v.value as bigint) : null;
}

export interface ExtensionPoint {
  name: string;
  versions: string[];
  subdirectories: boolean;
  noAutodownload: boolean;
  conditions: string[];
  isLocale: boolean;
}

/** flatpak_list_extensions, reduced to what the planner needs. */
export function extensionPoints(kf: KeyFile, branch: string): ExtensionPoint[] {
  const out: ExtensionPoint[] = [];
  for (const g of kf.groups()) {
    const m = /^Extension (.+)$/.exec(g);
    if (!m) continue;
    const name = (m[1] as string).split('@')[0] as string;
    const versionsRaw = kf.get(g, 'versions');
    const version = kf.get(g, 'version');
    const versions = versionsRaw ? versionsRaw.split(';').filter(Boolean) : [version || branch];
    const bool = (key: string) => (kf.get(g, key) ?? '').toLowerCase() === 'true';
    const conditions = [kf.get(g, 'enable-if'), kf.get(g, 'download-if')].filter((c): c is string => !!c);
    out.push({
      name,
      versions,
      subdirectories: bool('subdirectories'),
      noAutodownload: bool('no-autodownload'),
      conditions,
      isLocale: name.endsWith('.Locale') || bool('locale-subset'),
    });
  }
  return out;
}
