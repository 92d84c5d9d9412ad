/** "did you mean" suggestions for a ref that is not in the source (src/flatpak/ref.ts didYouMean). */
import { expect, it } from 'vitest';
import { didYouMean } from '../../src/flatpak/ref.js';

const ids = [
  'org.example.App',
  'org.example.App.Locale',
  'org.example.Platform',
  'org.example.Platform.Locale',
  'org.gnome.Maps',
];

it('case-insensitive matches first, then small edit distances, nothing for a far-off name', () => {
  expect(didYouMean('org.example.app', ids)).toEqual(['org.example.App']);
  expect(didYouMean('org.example.Ap', ids)).toEqual(['org.example.App']);
  expect(didYouMean('org.gnome.Mpas', ids)).toEqual(['org.gnome.Maps']);
  expect(didYouMean('ORG.EXAMPLE.PLATFORM', ids)).toEqual(['org.example.Platform']);
  expect(didYouMean('com.other.Thing', ids)).toEqual([]);
  expect(didYouMean('a', ['b', 'c'])).toEqual(['b', 'c']);
});
