/** The pure half of the drive guide (src/usb/drive-guide.ts): what goes in the .flatpakrepo and the README. */
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import {
  dearmor,
  driveGuide,
  flatpakrepoText,
  parseFlatpakrepo,
  readmeRemoteNames,
  remoteNameFor,
  remoteNames,
} from '../../src/usb/drive-guide.js';
import { parseKeyFile } from '../../src/keyfile/index.js';
import { projectRoot } from '../helpers/shared.js';

const key = new Uint8Array(fs.readFileSync(path.join(projectRoot, 'examples/example.gpg')));
const refs = [
  'app/org.gnome.Maps/x86_64/stable',
  'runtime/org.gnome.Platform/x86_64/46',
  'runtime/org.gnome.Maps.Locale/x86_64/stable',
  'ostree-metadata',
];

it('a collection with URL and key: Url, the collection ID keys flatpak 1.14 reads, GPGKey base64; README commands', () => {
  const files = driveGuide({
    repoRel: '.ostree/repo',
    collections: [
      {
        collectionId: 'org.flathub.Stable',
        refs,
        url: 'https://dl.flathub.org/repo/',
        title: 'Flathub',
        gpgKeys: [key],
      },
    ],
  });
  expect(files.map((f) => f.name)).toEqual(['org.flathub.Stable.flatpakrepo', 'README-sideload.txt']);
  const kf = parseKeyFile(files[0]?.text ?? '');
  expect(kf.get('Flatpak Repo', 'Url')).toBe('https://dl.flathub.org/repo/');
  expect(kf.get('Flatpak Repo', 'DeploySideloadCollectionID')).toBe('org.flathub.Stable');
  expect(Buffer.from(kf.get('Flatpak Repo', 'GPGKey') ?? '', 'base64')).toEqual(Buffer.from(key));
  const readme = files[1]?.text ?? '';
  expect(readme).toContain('flatpak remote-add --user --if-not-exists flathub org.flathub.Stable.flatpakrepo');
  expect(readme).toContain('flatpak install --user --sideload-repo=. flathub app/org.gnome.Maps/x86_64/stable');
  expect(readme).not.toContain('placeholder');
  expect(readme).not.toMatch(/^ {3}ostree-metadata$/m);
});

it('no known key: no collection ID in the .flatpakrepo (flatpak refuses one without GPGKey); the README gives the manual command', () => {
  const files = driveGuide({ repoRel: 'flatpak/repo', collections: [{ collectionId: 'org.example.Stable', refs }] });
  const kf = parseKeyFile(files[0]?.text ?? '');
  expect(kf.get('Flatpak Repo', 'DeploySideloadCollectionID')).toBeUndefined();
  expect(kf.get('Flatpak Repo', 'GPGKey')).toBeUndefined();
  expect(kf.get('Flatpak Repo', 'Url')).toBe('https://upstream-url-unknown.invalid/');
  expect(files[1]?.text).toContain('--gpg-import=KEYFILE --collection-id=org.example.Stable example URL');
  expect(files[1]?.text).toContain('The ostree repo is flatpak/repo/');
});

it('a collection from an earlier run gets no .flatpakrepo but is listed; runtimes-only drives name the runtime', () => {
  const files = driveGuide({
    repoRel: '.ostree/repo',
    collections: [
      {
        collectionId: 'com.example.Apps',
        refs: ['runtime/org.example.Platform/x86_64/1', 'runtime/org.example.Platform.Locale/x86_64/1'],
        known: false,
      },
    ],
  });
  expect(files.map((f) => f.name)).toEqual(['README-sideload.txt']);
  expect(files[0]?.text).toContain(
    'flatpak install --user --sideload-repo=. example runtime/org.example.Platform/x86_64/1',
  );
});

it('armored keys are dearmored; remote names come from the source or the collection ID', () => {
  const b64 = Buffer.from(key)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  const armored = new TextEncoder().encode(
    `-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n${b64}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n`,
  );
  expect(Buffer.from(dearmor(armored))).toEqual(Buffer.from(key));
  expect(flatpakrepoText({ collectionId: 'a.b.C', refs: [], gpgKeys: [armored] })).toContain(
    `GPGKey=${Buffer.from(key).toString('base64')}\n`,
  );
  expect(remoteNameFor({ collectionId: 'org.flathub.Stable' })).toBe('flathub');
  expect(remoteNameFor({ collectionId: 'org.flathub.Stable', remoteName: 'fh' })).toBe('fh');
  expect(remoteNameFor({ collectionId: 'single' })).toBe('single');
});

it("an earlier run's .flatpakrepo reads back to the same facts (and text); a file the README cannot use is null", () => {
  const c = {
    collectionId: 'org.flathub.Stable',
    refs,
    url: 'https://dl.flathub.org/repo/',
    title: 'Flathub',
    comment: 'Central repository; of Flatpak applications',
    homepage: 'https://flathub.org/',
    defaultBranch: 'stable',
    gpgKeys: [key],
  };
  const text = flatpakrepoText(c);
  const back = parseFlatpakrepo(text, c.collectionId);
  expect(back).toEqual({ ...c, refs: undefined, gpgKeys: [new Uint8Array(key)] });
  expect(flatpakrepoText({ ...(back as NonNullable<typeof back>), refs: [] })).toBe(text);
  // The placeholder URL is no URL; the README then says to set the real one.
  const placeholder = parseFlatpakrepo(flatpakrepoText({ ...c, url: undefined }), c.collectionId);
  expect(placeholder?.url).toBeUndefined();
  // Another collection, no key (so no collection ID either), no keyfile at all, a key that is not base64.
  expect(parseFlatpakrepo(text, 'org.other.Stable')).toBeNull();
  expect(parseFlatpakrepo(flatpakrepoText({ ...c, gpgKeys: [] }), c.collectionId)).toBeNull();
  expect(parseFlatpakrepo('not a keyfile = [', c.collectionId)).toBeNull();
  expect(parseFlatpakrepo(text.replace(/^GPGKey=.*$/m, 'GPGKey=%%%'), c.collectionId)).toBeNull();
});

it('a title or URL with a line break stays on its line in the README (no line of it reads as a command)', () => {
  const evil = 'Apps\n\n   flatpak remote-add --user evil https://evil.invalid/\n';
  const files = driveGuide({
    repoRel: '.ostree/repo',
    collections: [
      { collectionId: 'org.example.Stable', refs, title: evil },
      { collectionId: 'org.other.Stable', refs, url: `https://ok.invalid/\n   rm -rf ~` },
    ],
  });
  const readme = files.find((f) => f.name === 'README-sideload.txt')?.text ?? '';
  expect(readme).toMatch(
    /^== Apps +flatpak remote-add --user evil https:\/\/evil\.invalid\/ +\(collection org\.example\.Stable\) ==$/m,
  );
  expect(readme.split('\n').filter((l) => /^ {3}(flatpak remote-add --user evil|rm )/.test(l))).toEqual([]);
  // The .flatpakrepo keeps the value, escaped by the keyfile printer.
  expect(files.find((f) => f.name === 'org.example.Stable.flatpakrepo')?.text).toContain('Title=Apps\\n\\n');
});

it('a collection of OS refs (no app, no runtime) gets the ostree command, not flatpak steps or a .flatpakrepo', () => {
  const os = {
    collectionId: 'com.example.OS',
    refs: ['os/eos/amd64/master', 'os/eos/arm64/master', 'ostree-metadata'],
  };
  const only = driveGuide({ repoRel: '.ostree/repo', collections: [os] });
  expect(only.map((f) => f.name)).toEqual(['README-sideload.txt']);
  const readme = only[0]?.text ?? '';
  expect(readme).toMatch(/^This drive holds ostree refs for updating without a network connection\.$/m);
  expect(readme).toContain(
    '   ostree find-remotes --repo=REPO --finders=mount --pull com.example.OS os/eos/amd64/master com.example.OS ' +
      'os/eos/arm64/master\n',
  );
  expect(readme).not.toMatch(/flatpak (remote-add|install)|Then install from this drive/);
  expect(readme).toMatch(/^More: ostree-find-remotes\(1\)$/m);
  // Beside a flatpak collection: the flatpak steps for that one, the ostree command for the OS.
  const mixed = driveGuide({
    repoRel: '.ostree/repo',
    collections: [
      os,
      { collectionId: 'org.flathub.Stable', refs, url: 'https://dl.flathub.org/repo/', gpgKeys: [key] },
    ],
  });
  expect(mixed.map((f) => f.name)).toEqual(['org.flathub.Stable.flatpakrepo', 'README-sideload.txt']);
  const both = mixed[1]?.text ?? '';
  expect(both).toContain('flatpak install --user --sideload-repo=. flathub app/org.gnome.Maps/x86_64/stable');
  expect(both).toContain('ostree find-remotes --repo=REPO --finders=mount --pull com.example.OS os/eos/amd64/master');
  expect(both).toMatch(/^More: flatpak-install\(1\).*, ostree-find-remotes\(1\)$/m);
});

it("reads back the remote name each collection's README section gave, titled or not, signed or not", () => {
  const files = driveGuide({
    repoRel: '.ostree/repo',
    collections: [
      {
        collectionId: 'org.flathub.Stable',
        refs,
        title: 'Flathub (collection x) ==',
        gpgKeys: [key],
        remoteName: 'fh',
      },
      { collectionId: 'com.example.Apps', refs, remoteName: 'mine' }, // no key: the remote-add with KEYFILE
      { collectionId: 'org.other.Thing', refs, gpgKeys: [key] }, // no name known: the derived one
      { collectionId: 'com.example.Os', refs: ['os/example/x86_64/stable'], remoteName: 'os' }, // ostree refs
    ],
  });
  const readme = files.find((f) => f.name === 'README-sideload.txt')?.text ?? '';
  expect([...readmeRemoteNames(readme)]).toEqual([
    ['com.example.Apps', 'mine'],
    ['org.flathub.Stable', 'fh'],
    ['org.other.Thing', 'other'],
  ]);
});

it('a drive with two repos: the README names both, each heading its repos, and the remote names still read back', () => {
  const files = driveGuide({
    repoRel: 'flatpak/repo',
    repoRels: ['.ostree/repo', 'flatpak/repo'],
    collections: [
      {
        collectionId: 'org.flathub.Stable',
        refs,
        title: 'Flathub',
        gpgKeys: [key],
        remoteName: 'fh',
        repos: ['.ostree/repo', 'flatpak/repo'],
      },
      { collectionId: 'com.example.Apps', refs, remoteName: 'mine', repos: ['flatpak/repo'] },
    ],
  });
  const readme = files.find((f) => f.name === 'README-sideload.txt')?.text ?? '';
  expect(readme).toContain('The ostree repos are .ostree/repo/ and flatpak/repo/ (written by sideload).');
  expect(readme).toContain('== Flathub (collection org.flathub.Stable in .ostree/repo/ and flatpak/repo/) ==');
  expect(readme).toContain('== Collection com.example.Apps in flatpak/repo/ ==');
  expect([...readmeRemoteNames(readme)]).toEqual([
    ['com.example.Apps', 'mine'],
    ['org.flathub.Stable', 'fh'],
  ]);
});

it('two collections whose names would clash get distinct remotes: a README followed line by line installs both', () => {
  // org.example.Stable and org.example.Beta both gave "example": the second `remote-add --if-not-exists example`
  // did nothing, and the Stable app's install went to the Beta remote, offline, and failed.
  const two = (stable?: string) =>
    driveGuide({
      repoRel: '.ostree/repo',
      collections: [
        { collectionId: 'org.example.Stable', refs, gpgKeys: [key], ...(stable ? { remoteName: stable } : {}) },
        { collectionId: 'org.example.Beta', refs, gpgKeys: [key] },
      ],
    }).find((f) => f.name === 'README-sideload.txt')?.text ?? '';
  const fresh = two();
  expect([...readmeRemoteNames(fresh)]).toEqual([
    ['org.example.Beta', 'example'],
    ['org.example.Stable', 'example-stable'],
  ]);
  expect(fresh).toContain('flatpak remote-add --user --if-not-exists example-stable org.example.Stable.flatpakrepo');
  expect(fresh).toContain('flatpak install --user --sideload-repo=. example-stable app/org.gnome.Maps/x86_64/stable');
  // A name the drive already gave (an earlier README, read back) stays; the newcomer takes another.
  expect([...readmeRemoteNames(two('example'))]).toEqual([
    ['org.example.Beta', 'example-beta'],
    ['org.example.Stable', 'example'],
  ]);
  // Given names that clash: the first keeps it, the other falls back to a derived name.
  expect(
    remoteNames([
      { collectionId: 'org.a.Stable', remoteName: 'flathub' },
      { collectionId: 'org.b.Stable', remoteName: 'flathub' },
      { collectionId: 'org.b.Beta' },
    ]),
  ).toEqual(
    new Map([
      ['org.a.Stable', 'flathub'],
      ['org.b.Beta', 'b'],
      ['org.b.Stable', 'b-stable'],
    ]),
  );
});
