/**
 * `.flatpakrepo` files, read as flatpak 1.14 reads them (flatpak_parse_repofile): a key file whose `[Flatpak Repo]`
 * group must have a `Url`; `GPGKey` is the base64 of the key's OpenPGP packets; the collection ID is the first
 * non-empty of `DeploySideloadCollectionID`, `DeployCollectionID` and `CollectionID`. The one reader for `--from`
 * files, a drive's own files (the guide after `remove`) and verify; the drive guide writes them
 * (usb/drive-guide.ts). Pure: text in, facts out.
 */
import { parseKeyFile } from '../keyfile/index.js';

/** A `.flatpakrepo` is a few KiB (its GPG key inline): a larger file is not one. */
export const FLATPAKREPO_LIMIT = 256 * 1024;

export interface FlatpakrepoFields {
  readonly title?: string;
  readonly comment?: string;
  readonly description?: string;
  readonly homepage?: string;
  readonly icon?: string;
  readonly defaultBranch?: string;
}

/** What a `.flatpakrepo` says, or why flatpak would make no remote from it. */
export type FlatpakrepoRead =
  | {
      readonly ok: true;
      readonly url: string;
      readonly collectionId?: string;
      readonly gpgKey?: Uint8Array;
      readonly fields: FlatpakrepoFields;
    }
  | { readonly ok: false; readonly reason: string };

export function readFlatpakrepo(text: string): FlatpakrepoRead {
  let kf;
  try {
    kf = parseKeyFile(text);
  } catch (e) {
    return { ok: false, reason: `not a key file (${(e as Error).message})` };
  }
  if (!kf.groups().includes('Flatpak Repo')) return { ok: false, reason: 'no [Flatpak Repo] group' };
  const get = (k: string) => kf.get('Flatpak Repo', k) || undefined;
  const url = get('Url');
  if (!url) return { ok: false, reason: 'no Url' };
  // GLib's base64 decoder skips what is not in the alphabet; whitespace is all a real file has.
  const key = get('GPGKey')?.replace(/\s+/g, '');
  if (key !== undefined && !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return { ok: false, reason: 'GPGKey is not base64' };
  const collectionId = get('DeploySideloadCollectionID') ?? get('DeployCollectionID') ?? get('CollectionID');
  const fields: FlatpakrepoFields = {
    title: get('Title'),
    comment: get('Comment'),
    description: get('Description'),
    homepage: get('Homepage'),
    icon: get('Icon'),
    defaultBranch: get('DefaultBranch'),
  };
  return {
    ok: true,
    url,
    ...(collectionId ? { collectionId } : {}),
    ...(key ? { gpgKey: new Uint8Array(Buffer.from(key, 'base64')) } : {}),
    fields: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  };
}
