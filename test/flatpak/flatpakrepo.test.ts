/**
 * The one `.flatpakrepo` reader (`--from` files, a drive's own files, verify), against what flatpak 1.14's
 * flatpak_parse_repofile takes: the collection ID from DeploySideloadCollectionID, then DeployCollectionID, then
 * CollectionID; GPGKey as base64 (whitespace skipped, as GLib's decoder does); a Url required.
 */
import { expect, it } from 'vitest';
import { readFlatpakrepo } from '../../src/flatpak/flatpakrepo.js';

const file = (lines: string[]) => ['[Flatpak Repo]', 'Url=https://dl.example.org/repo/', ...lines, ''].join('\n');

it('takes the collection ID in flatpak’s order of keys', () => {
  const cid = (lines: string[]) => {
    const r = readFlatpakrepo(file([...lines, 'GPGKey=AAEC']));
    return r.ok ? r.collectionId : r.reason;
  };
  expect(cid(['CollectionID=c', 'DeployCollectionID=b', 'DeploySideloadCollectionID=a'])).toBe('a');
  expect(cid(['CollectionID=c', 'DeployCollectionID=b'])).toBe('b'); // `--from` ignored this one before
  expect(cid(['CollectionID=c'])).toBe('c');
  expect(cid(['DeploySideloadCollectionID='])).toBeUndefined();
});

it('reads the key, the URL and the descriptive fields', () => {
  const r = readFlatpakrepo(file(['Title=Example', 'DefaultBranch=stable', 'GPGKey=AAEC AwQF\t', 'Other=x']));
  expect(r).toEqual({
    ok: true,
    url: 'https://dl.example.org/repo/',
    gpgKey: new Uint8Array([0, 1, 2, 3, 4, 5]),
    fields: { title: 'Example', defaultBranch: 'stable' },
  });
});

it('says why a file is not one flatpak makes a remote from', () => {
  const why = (text: string) => {
    const r = readFlatpakrepo(text);
    return r.ok ? 'ok' : r.reason;
  };
  expect(why('Url=x\n')).toMatch(/^not a key file/);
  expect(why('[Other]\nUrl=x\n')).toBe('no [Flatpak Repo] group');
  expect(why('[Flatpak Repo]\nTitle=x\n')).toBe('no Url');
  expect(why(file(['GPGKey=not*base64']))).toBe('GPGKey is not base64');
});
