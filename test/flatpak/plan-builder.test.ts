/**
 * Language lists in byte order (strcmp), the order of the subpaths they come from: a language outside the BMP and
 * one near its top sort one way in UTF-8 bytes and the other in JavaScript's default UTF-16 order.
 */
import { expect, it } from 'vitest';
import {
  mergeLanguages,
  PlanBuilder,
  sortedLanguages,
  sortedSubpaths,
  subpathLanguages,
} from '../../src/flatpak/plan-builder.js';
import type { PlannedRef, ResolveInput } from '../../src/flatpak/resolve-types.js';

const HALFWIDTH = '\uFF61'; // UTF-8 ef bd a1; UTF-16 ff61
const EMOJI = '\u{1F600}'; // UTF-8 f0 9f 98 80; UTF-16 d83d de00

it('the two strings sort one way by bytes and the other by UTF-16 code units', () => {
  expect([EMOJI, HALFWIDTH].sort()).toEqual([EMOJI, HALFWIDTH]);
  expect(Buffer.compare(Buffer.from(HALFWIDTH), Buffer.from(EMOJI))).toBe(-1);
});

it('subpathLanguages lists the languages in the order of their subpaths', () => {
  const subpaths = sortedSubpaths([`/files/${EMOJI}`, '/metadata', `/files/${HALFWIDTH}`, '/files/de']);
  expect(subpaths).toEqual(['/files/de', `/files/${HALFWIDTH}`, `/files/${EMOJI}`, '/metadata']);
  // Before: ['de', EMOJI, HALFWIDTH], the other way round from the subpaths.
  expect(subpathLanguages(subpaths)).toEqual(['de', HALFWIDTH, EMOJI]);
});

it('mergeLanguages and sortedLanguages (update) sort in byte order, each once', () => {
  expect(mergeLanguages([EMOJI, 'de'], [HALFWIDTH, 'de'], false)).toEqual(['de', HALFWIDTH, EMOJI]);
  expect(sortedLanguages([EMOJI, HALFWIDTH, EMOJI])).toEqual([HALFWIDTH, EMOJI]);
});

it('a Locale planned twice merges into languages in the order of its subpaths; refs sort in byte order', () => {
  const plan = new PlanBuilder({ catalog: [] } as unknown as ResolveInput);
  const locale = (langs: string[], cid = 'org.example.Stable', ref = 'runtime/org.example.App.Locale/x86_64/stable') =>
    ({
      collectionId: cid,
      ref,
      commit: 'a'.repeat(64),
      subpaths: sortedSubpaths(['/metadata', ...langs.map((l) => `/files/${l}`)]),
      reason: 'related',
      languages: langs,
    }) satisfies PlannedRef;
  plan.add(locale([EMOJI]));
  plan.add(locale([HALFWIDTH]));
  plan.add(locale([], 'org.example.Stable', `runtime/${EMOJI}/x86_64/stable`));
  plan.add(locale([], 'org.example.Stable', `runtime/${HALFWIDTH}/x86_64/stable`));
  const [merged, ...others] = plan.refs();
  expect(others.map((r) => r.ref)).toEqual([`runtime/${HALFWIDTH}/x86_64/stable`, `runtime/${EMOJI}/x86_64/stable`]);
  expect(merged?.subpaths).toEqual([`/files/${HALFWIDTH}`, `/files/${EMOJI}`, '/metadata']);
  expect(merged?.languages).toEqual([HALFWIDTH, EMOJI]);
});
