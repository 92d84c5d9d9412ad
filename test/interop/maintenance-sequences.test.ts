/**
 * Drive maintenance as a state machine, checked by the real tools after every step: random sequences of create
 * (build 1 or 2 of the example repo, as a local repo or over HTTP, a random subset of languages), update, remove
 * (with or without the runtimes no app needs) and prune, through the library. After each step the drive must pass
 * `ostree fsck` and sideload's own verify, and a step that fails must leave the drive as it was. (A run of these found a partial commit losing
 * its marker on update and remove: ostree fsck failed.)
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDrive } from '../../src/usb/create.js';
import { removeFromDrive } from '../../src/usb/remove.js';
import { updateDrive } from '../../src/usb/update.js';
import { listDrive } from '../../src/usb/list.js';
import { pruneDrive } from '../../src/usb/prune.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { openRemoteSource } from '../../src/usb/remote-source.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { SideloadError } from '../../src/errors.js';
import {
  APP,
  describeInterop,
  makeExampleRepo,
  runOk,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { fsck } from '../helpers/fsck.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { startServer, type TestServer } from '../helpers/http-server.js';

type Via = 'repo' | 'http';
type Step =
  | { op: 'create'; build: 1 | 2; via: Via; locales: string[] | null }
  | { op: 'update'; build: 1 | 2; via: Via }
  | { op: 'remove'; pick: number; withDeps: boolean }
  | { op: 'prune' };

const LANGS = ['de', 'es', 'fr'];
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant('create' as const),
    build: fc.constantFrom(1 as const, 2 as const),
    via: fc.constantFrom('repo' as const, 'http' as const),
    locales: fc.option(fc.subarray(LANGS, { minLength: 1 }), { nil: null }),
  }),
  fc.record({
    op: fc.constant('update' as const),
    build: fc.constantFrom(1 as const, 2 as const),
    via: fc.constantFrom('repo' as const, 'http' as const),
  }),
  fc.record({ op: fc.constant('remove' as const), pick: fc.nat(), withDeps: fc.boolean() }),
  fc.record({ op: fc.constant('prune' as const) }),
);

describeInterop('drive maintenance sequences (ostree fsck and verify after every step)', () => {
  const repos: Record<1 | 2, string> = { 1: '', 2: '' };
  const servers: TestServer[] = [];
  let ex: ExampleRepo;
  beforeAll(async () => {
    ex = await makeExampleRepo();
    repos[1] = path.join(await tempDir('sideload-seq-v1-'), 'repo');
    await runOk('cp', ['-a', ex.repo, repos[1]]);
    await ex.update(2);
    repos[2] = ex.repo;
    const head = (repo: string) =>
      execFileSync('ostree', ['rev-parse', `--repo=${repo}`, APP])
        .toString()
        .trim();
    expect(head(repos[1])).not.toBe(head(repos[2]));
    servers.push(await startServer(repos[1]), await startServer(repos[2]));
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  /** Runs one step; false when there was nothing to run it on (remove on a drive without refs). */
  async function apply(drive: string, s: Step): Promise<boolean> {
    const base = { drive, fsync: false, arches: [APP.split('/')[2] as string] };
    if (s.op === 'prune') {
      await pruneDrive({ drive, fsync: false });
      return true;
    }
    if (s.op === 'remove') {
      const listed = await listDrive(drive).catch(() => []);
      const refs = listed.flatMap((r) => r.collections.flatMap((c) => c.refs.map((x) => x.ref)));
      const candidates = refs.filter((r) => r !== 'ostree-metadata');
      if (!candidates.length) return false;
      await removeFromDrive({
        ...base,
        refs: [candidates[s.pick % candidates.length] as string],
        withDeps: s.withDeps,
      });
      return true;
    }
    const keys = { gpgKeyrings: [ex.gpgKey] };
    const source =
      s.via === 'repo'
        ? await openRepoSource(repos[s.build], { keys })
        : await openRemoteSource({ url: (servers[s.build - 1] as TestServer).url, keys });
    try {
      if (s.op === 'create')
        await createDrive({ ...base, refs: ['org.example.App'], ...(s.locales ? { locales: s.locales } : {}) }, source);
      else await updateDrive(base, source);
    } finally {
      await source.close();
    }
    return true;
  }

  it('every step leaves a drive that ostree fsck and verify pass; a failed step leaves it as it was', async () => {
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 2, maxLength: 8 }), async (seq) => {
        const drive = await tempDir('sideload-seq-');
        for (const s of seq) {
          const before = await snapshotDir(drive);
          try {
            if (!(await apply(drive, s))) continue;
          } catch (e) {
            // Expected refusals (a downgrade, nothing to update, a ref not there): typed, and nothing changed.
            if (!(e instanceof SideloadError)) throw e;
            expect(await snapshotDir(drive), `${JSON.stringify(s)}: ${e.message}`).toEqual(before);
            continue;
          }
          steps++;
          const repo = path.join(drive, '.ostree/repo');
          const v = await verifyDrive(drive, { upstreamGpg: [] });
          const errors = v.repos.flatMap((r) => r.findings).filter((f) => f.severity === 'error');
          expect(errors, `${JSON.stringify(seq)} at ${JSON.stringify(s)}`).toEqual([]);
          expect(
            v.repos.flatMap((r) => r.findings).filter((f) => f.code === 'unreferenced-incomplete'),
            JSON.stringify(s),
          ).toEqual([]);
          await fsck(repo);
        }
      }),
      { numRuns: Number(process.env['SEQ_RUNS'] ?? 40), seed: Number(process.env['SEQ_SEED'] ?? 20261130) },
    );
    expect(steps).toBeGreaterThan(60);
  }, 600_000);
});
