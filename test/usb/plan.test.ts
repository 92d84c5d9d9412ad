/** The planner is pure: plain drive states and wanted refs in, plans out. */
import { describe, expect, it } from 'vitest';
import type { DriveState } from '../../src/usb/drive-state.js';
import { planDrive, planCounts, type WantedRef } from '../../src/usb/plan.js';

const C = (n: number) => n.toString(16).padStart(64, '0');
const CID = 'org.example.Stable';
const APP = 'app/org.example.App/x86_64/stable';
const RT = 'runtime/org.example.Platform/x86_64/stable';
const LOC = 'runtime/org.example.Platform.Locale/x86_64/stable';

function state(
  refs: Array<[string, number, number, (readonly string[] | null)?]>,
): Pick<DriveState, 'refs' | 'commits'> {
  return {
    refs: refs.map(([ref, c, , sp]) => ({ collectionId: CID, ref, commit: C(c), subpaths: sp ?? null })),
    commits: new Map(refs.map(([, c, ts, sp]) => [C(c), { timestamp: BigInt(ts), partial: !!sp, bindings: {} }])),
  };
}
function want(ref: string, c: number, ts: number, subpaths: readonly string[] | null = null): WantedRef {
  return { collectionId: CID, ref, commit: C(c), subpaths, reason: 'requested', timestamp: BigInt(ts), source: 0 };
}

describe('planDrive', () => {
  it('a fresh drive: every wanted ref is added, final holds them, partial markers for partial refs only', () => {
    const plan = planDrive({
      state: state([]),
      wanted: [want(RT, 1, 10), want(APP, 2, 10), want(LOC, 3, 10, ['/files/de'])],
    });
    expect(plan.entries.map((e) => [e.ref, e.action])).toEqual([
      [APP, 'add'],
      [LOC, 'add'], // bytewise: '.' sorts before '/'
      [RT, 'add'],
    ]);
    expect([...(plan.final.get(CID)?.keys() ?? [])]).toEqual([APP, LOC, RT]);
    expect(plan.partialMarkers).toEqual([
      { commit: C(1), present: false },
      { commit: C(2), present: false },
      { commit: C(3), present: true },
    ]);
    expect(plan.refsChanged).toBe(true);
  });

  it('against a drive: unchanged, update, kept, and nothing changed when all match', () => {
    const s = state([
      [APP, 1, 10],
      [RT, 2, 10],
    ]);
    const same = planDrive({ state: s, wanted: [want(APP, 1, 10)] });
    expect(same.entries.map((e) => e.action)).toEqual(['unchanged', 'kept']);
    expect(same.refsChanged).toBe(false);
    expect(same.partialMarkers).toEqual([]);
    const upd = planDrive({ state: s, wanted: [want(APP, 5, 20)] });
    expect(upd.entries[0]).toMatchObject({ ref: APP, action: 'update', commit: C(5), previous: C(1) });
    expect(upd.final.get(CID)?.get(RT)?.commit).toBe(C(2));
    expect(planCounts(upd)).toEqual({ add: 0, update: 1, unchanged: 0, remove: 0, kept: 1 });
  });

  it('a partial ref whose commitpartial marker the drive lost: unchanged or kept, the marker written again', () => {
    const s = state([
      [APP, 1, 10],
      [LOC, 3, 10, ['/files/de', '/metadata']],
    ]);
    const lost = { ...s, commits: new Map([...s.commits].map(([c, f]) => [c, { ...f, partial: false }])) };
    const same = planDrive({ state: lost, wanted: [want(LOC, 3, 10, ['/files/de', '/metadata'])] });
    expect(same.entries.map((e) => e.action)).toEqual(['kept', 'unchanged']);
    expect(same.refsChanged).toBe(false);
    expect(same.partialMarkers).toEqual([{ commit: C(3), present: true }]);
    expect(planDrive({ state: lost, wanted: [want(APP, 1, 10)] }).partialMarkers).toEqual([
      { commit: C(3), present: true },
    ]);
    expect(planDrive({ state: s, wanted: [want(APP, 1, 10)] }).partialMarkers).toEqual([]);
  });

  it('a ref whose commit the drive lacks (deleted, unreadable) is copied again: an update, not unchanged', () => {
    const s = state([
      [APP, 1, 10],
      [RT, 2, 10],
    ]);
    const lost = { refs: s.refs, commits: new Map([...s.commits].filter(([c]) => c !== C(1))) };
    const plan = planDrive({ state: lost, wanted: [want(APP, 1, 10), want(RT, 2, 10)] });
    expect(plan.entries.map((e) => [e.ref, e.action, e.commit, e.previous])).toEqual([
      [APP, 'update', C(1), C(1)],
      [RT, 'unchanged', C(2), C(2)],
    ]);
    expect(plan.refsChanged).toBe(true);
    expect(plan.partialMarkers).toEqual([{ commit: C(1), present: false }]);
  });

  it('a partial commit whose subpaths the drive lost is walked again within the wanted ones, and recorded', () => {
    // state(): a 4th element marks the commit partial; its subpaths, as drive-state.ts reads them, are unknown (null).
    const s = state([[LOC, 3, 10, ['/files/de']]]);
    const lost = { refs: s.refs.map((r) => ({ ...r, subpaths: null })), commits: s.commits };
    const subset = planDrive({ state: lost, wanted: [want(LOC, 3, 10, ['/files/de'])] });
    expect(subset.entries[0]).toMatchObject({
      action: 'update',
      commit: C(3),
      previous: C(3),
      subpaths: ['/files/de'],
    });
    expect(subset.final.get(CID)?.get(LOC)?.subpaths).toEqual(['/files/de']);
    expect(subset.partialMarkers).toEqual([{ commit: C(3), present: true }]);
    // Wanted whole: copied whole, and the marker goes.
    const whole = planDrive({ state: lost, wanted: [want(LOC, 3, 10)] });
    expect(whole.entries[0]).toMatchObject({ action: 'update', subpaths: null });
    expect(whole.partialMarkers).toEqual([{ commit: C(3), present: false }]);
    // Recorded subpaths: unchanged, as before.
    expect(planDrive({ state: s, wanted: [want(LOC, 3, 10, ['/files/de'])] }).entries[0]?.action).toBe('unchanged');
  });

  it('refuses a downgrade with both commits named, unless allowed', () => {
    const s = state([[APP, 1, 100]]);
    expect(() => planDrive({ state: s, wanted: [want(APP, 2, 50)] })).toThrow(/newer than .*--allow-downgrade/);
    try {
      planDrive({ state: s, wanted: [want(APP, 2, 50)] });
    } catch (e) {
      expect((e as { code: string }).code).toBe('EDOWNGRADE');
    }
    const ok = planDrive({ state: s, wanted: [want(APP, 2, 50)], allowDowngrade: true });
    expect(ok.entries[0]).toMatchObject({ action: 'update', downgrade: true });
  });

  it("the drive commit's own parent at the same timestamp (a fixed-timestamp build) is a downgrade too", () => {
    const s = state([[APP, 2, 100]]);
    const withParent = {
      ...s,
      commits: new Map([[C(2), { timestamp: 100n, partial: false, bindings: {}, parent: C(1) }]]),
    };
    expect(() => planDrive({ state: withParent, wanted: [want(APP, 1, 100)] })).toThrow(
      /whose parent commit is .*--allow-downgrade/,
    );
    // Another commit at the same time is not (clients take it too).
    expect(planDrive({ state: withParent, wanted: [want(APP, 3, 100)] }).entries[0]).toMatchObject({
      action: 'update',
    });
    const ok = planDrive({ state: withParent, wanted: [want(APP, 1, 100)], allowDowngrade: true });
    expect(ok.entries[0]).toMatchObject({ action: 'update', downgrade: true });
  });

  it('one commit wanted whole by one source and in part by another comes whole from the first', () => {
    // A manifest: an installation with some languages first, a repo with the whole Locale second. The whole
    // commit was read from the installation, which does not have it (exit 3, a dirtree missing).
    const part = { ...want(LOC, 3, 10, ['/metadata', '/files/de']), languages: ['de'], source: 0 };
    const whole = { ...want(LOC, 3, 10), languages: 'all' as const, source: 1 };
    for (const wanted of [
      [part, whole],
      [whole, part],
    ]) {
      const e = planDrive({ state: state([]), wanted }).entries[0];
      expect(e).toMatchObject({ action: 'add', subpaths: null, source: 1, languages: 'all' });
    }
    const fr = { ...want(LOC, 3, 10, ['/metadata', '/files/fr']), languages: ['fr'], source: 1 };
    expect(planDrive({ state: state([]), wanted: [part, fr] }).entries[0]).toMatchObject({
      subpaths: ['/files/de', '/files/fr', '/metadata'].sort(),
      languages: ['de', 'fr'],
    });
  });

  it('same commit with more languages is an update of the subpaths (union), fewer is unchanged', () => {
    const s = state([[LOC, 3, 10, ['/files/de']]]);
    const more = planDrive({ state: s, wanted: [want(LOC, 3, 10, ['/files/fr'])] });
    expect(more.entries[0]).toMatchObject({ action: 'update', subpaths: ['/files/de', '/files/fr'] });
    expect(more.partialMarkers).toEqual([{ commit: C(3), present: true }]);
    const full = planDrive({ state: s, wanted: [want(LOC, 3, 10)] });
    expect(full.entries[0]).toMatchObject({ action: 'update', subpaths: null });
    expect(full.partialMarkers).toEqual([{ commit: C(3), present: false }]);
    const same = planDrive({ state: s, wanted: [want(LOC, 3, 10, ['/files/de'])] });
    expect(same.entries[0]?.action).toBe('unchanged');
  });

  it("a Locale's languages on the same commit are the union with what the drive holds (whole: all)", () => {
    const s = state([[LOC, 3, 10, ['/metadata', '/files/de']]]);
    const fr = { ...want(LOC, 3, 10, ['/metadata', '/files/fr']), languages: ['fr'] };
    expect(planDrive({ state: s, wanted: [fr] }).entries[0]).toMatchObject({
      action: 'update',
      subpaths: ['/files/de', '/files/fr', '/metadata'],
      languages: ['de', 'fr'],
    });
    const whole = state([[LOC, 3, 10]]);
    expect(planDrive({ state: whole, wanted: [fr] }).entries[0]).toMatchObject({
      action: 'unchanged',
      subpaths: null,
      languages: 'all',
    });
  });

  it('removes refs, keeps the marker of a removed partial commit (its objects stay until prune), refuses unknown refs and contradictions', () => {
    const s = state([
      [APP, 1, 10],
      [LOC, 3, 10, ['/files/de']],
    ]);
    const plan = planDrive({ state: s, wanted: [], remove: [{ collectionId: CID, ref: LOC }] });
    expect(plan.entries.map((e) => [e.ref, e.action, e.commit])).toEqual([
      [APP, 'kept', C(1)],
      [LOC, 'remove', null],
    ]);
    expect(plan.final.get(CID)?.has(LOC)).toBe(false);
    // Without its marker the commit, still on the drive, would read as complete with objects missing (ostree fsck).
    expect(plan.partialMarkers).toEqual([]);
    expect(() => planDrive({ state: s, wanted: [], remove: [{ collectionId: CID, ref: RT }] })).toThrow(
      /not on the drive/,
    );
    expect(() =>
      planDrive({ state: s, wanted: [want(APP, 1, 10)], remove: [{ collectionId: CID, ref: APP }] }),
    ).toThrow(/both removed and wanted/);
    expect(() => planDrive({ state: s, wanted: [want(RT, 1, 10), want(RT, 2, 10)] })).toThrow(/two commits/);
  });

  it('orders entries bytewise by collection then ref, and the same ref from two sources merges', () => {
    const other = { ...want('runtime/a.B/x86_64/1', 9, 1), collectionId: 'org.a' };
    const plan = planDrive({ state: state([]), wanted: [want(RT, 1, 1), other, want(RT, 1, 1)] });
    expect(plan.entries.map((e) => `${e.collectionId} ${e.ref}`)).toEqual([
      `org.a runtime/a.B/x86_64/1`,
      `${CID} ${RT}`,
    ]);
  });
});
