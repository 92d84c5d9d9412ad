/**
 * kill -9 at any moment (issue 12): `sideload create` is killed while it copies objects, while it moves staged
 * objects into objects/ (staging publish), and while it replays its publish journal, on fresh drives and on drives
 * being updated; each kill is followed by one re-run of the same command, after which the drive must pass
 * `sideload verify` (no leftovers reported) and `ostree fsck`, and some of them must install offline with flatpak.
 *
 * `npm test` runs a short round (SIDELOAD_KILLS unset: 3 kills, one per phase, the bundled examples/repo only). The full loop is
 *   SIDELOAD_KILLS=120 npx vitest run test/hostile/kill-loop.test.ts
 * which adds updates from a first to a second build of the example repo (scripts/make-example-repo.sh, needs
 * flatpak) and writes its counts to SIDELOAD_KILL_REPORT (default: printed).
 */
import { spawn } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { describeOstree } from '../helpers/repo-fixtures.js';
import {
  ensureBuilt,
  interopAvailable,
  makeExampleRepo,
  offlineInstall,
  run,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';

const KILLS = Number(process.env['SIDELOAD_KILLS'] ?? '3');
const FULL = KILLS > 3;
const EXAMPLE = path.join(projectRoot, 'examples/repo');
const GPG = path.join(projectRoot, 'examples/example.gpg');
const RUNTIME = 'runtime/org.example.Platform/x86_64/stable';
const MAIN = path.join(projectRoot, 'dist/cli/main.cjs');

type Phase = 'copy' | 'stage-publish' | 'journal';
const ALL_PHASES: readonly Phase[] = ['copy', 'stage-publish', 'journal'];
/** SIDELOAD_KILL_PHASES=journal (comma-separated) restricts the loop to some phases. */
const PHASES: readonly Phase[] = process.env['SIDELOAD_KILL_PHASES']
  ? (process.env['SIDELOAD_KILL_PHASES'].split(',') as Phase[]).filter((p) => ALL_PHASES.includes(p))
  : ALL_PHASES;

/** Number of staged objects (tmp/sideload-staging/objects/xx/*), or -1 while there is no staging area. */
function stagedCount(repo: string): number {
  const dir = path.join(repo, 'tmp/sideload-staging/objects');
  let prefixes: string[];
  try {
    prefixes = fsSync.readdirSync(dir);
  } catch {
    return -1;
  }
  let n = 0;
  for (const p of prefixes) {
    try {
      n += fsSync.readdirSync(path.join(dir, p)).length;
    } catch {
      // removed under us
    }
  }
  return n;
}

/**
 * Spawns `create` and kills it (SIGKILL) in `phase`: `copy` once objects are being staged; `stage-publish` once
 * the staged count starts falling (objects renamed into objects/); `journal` the moment the publish journal
 * appears (inotify on tmp/). Returns whether the kill landed before the run finished, and the phase seen on disk.
 */
async function killDuring(
  args: readonly string[],
  repo: string,
  phase: Phase,
): Promise<{ killed: boolean; seen: string }> {
  // The journal replay takes milliseconds: the run is niced so that, on a busy machine, the kill sent on the
  // journal's inotify event lands while it is still being replayed rather than after.
  const cmd = phase === 'journal' ? ['nice', '-n', '19', process.execPath] : [process.execPath];
  const child = spawn(cmd[0] as string, [...cmd.slice(1), MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  let done = false;
  void exited.then(() => (done = true));
  const kill = () => {
    if (!done) child.kill('SIGKILL');
  };
  let watcher: fsSync.FSWatcher | null = null;
  if (phase === 'journal') {
    // tmp/ exists once the repo does; retry until it does.
    const arm = () => {
      try {
        watcher = fsSync.watch(path.join(repo, 'tmp'), (_e, name) => {
          if (name === 'sideload-publish.json' || String(name).startsWith('.sideload-publish.json')) kill();
        });
      } catch {
        if (!done) setTimeout(arm, 2);
      }
    };
    arm();
  } else {
    let max = 0;
    for (;;) {
      if (done) break;
      const n = stagedCount(repo);
      if (phase === 'copy' && n > 0) {
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 30)));
        kill();
        break;
      }
      if (phase === 'stage-publish') {
        if (n > max) max = n;
        else if (max > 0 && n < max) {
          kill();
          break;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  }
  const code = await exited;
  (watcher as fsSync.FSWatcher | null)?.close();
  const journal = fsSync.existsSync(path.join(repo, 'tmp/sideload-publish.json'));
  const staged = stagedCount(repo);
  const seen = code === 0 ? 'finished' : journal ? 'journal' : staged > 0 ? 'staged' : 'other';
  if (code !== null && code !== 0) throw new Error(`create exited ${code} before the kill: ${stderr}`);
  return { killed: code === null, seen };
}

interface Counts {
  kills: number;
  finishedBeforeKill: number;
  byPhase: Record<string, number>;
  seenOnDisk: Record<string, number>;
  bySetup: Record<string, number>;
  verified: number;
  fsckOk: number;
  installed: number;
}

describeOstree('kill -9 at any moment, then one re-run', () => {
  let ex: ExampleRepo | null = null;
  let v1Repo = '';
  beforeAll(async () => {
    await ensureBuilt();
    if (FULL && interopAvailable) {
      ex = await makeExampleRepo();
      v1Repo = path.join(await tempDir('sideload-kill-v1-'), 'repo');
      await run('cp', ['-a', ex.repo, v1Repo]);
      await ex.update(2);
    }
  });

  it(
    `${KILLS} kills over copy, staging publish and journal replay: every drive verifies and passes ostree fsck`,
    { timeout: Math.max(120_000, KILLS * 60_000) },
    async () => {
      const counts: Counts = {
        kills: 0,
        finishedBeforeKill: 0,
        byPhase: {},
        seenOnDisk: {},
        bySetup: {},
        verified: 0,
        fsckOk: 0,
        installed: 0,
      };
      const installEvery = FULL ? Math.max(1, Math.floor(KILLS / 6)) : KILLS; // FULL: about six offline installs
      let attempts = 0;
      while (counts.kills < KILLS && attempts < KILLS * 3) {
        attempts++;
        const i = counts.kills;
        // By attempt, not by kill: a phase whose kill came too late (the run had finished) passes the turn on.
        const phase = PHASES[(attempts - 1) % PHASES.length] as Phase;
        // Setups: a fresh drive (examples/repo); an update of a drive holding only the runtime (examples/repo);
        // FULL with flatpak: an update from the first build to the second.
        const setups = ex ? ['fresh', 'add-app', 'v1-to-v2'] : ['fresh', 'add-app'];
        const setup = setups[Math.floor(i / PHASES.length) % setups.length] as string;
        const drive = await tempDir('sideload-kill-');
        const repo = path.join(drive, '.ostree/repo');
        let source = EXAMPLE;
        let key = GPG;
        if (setup === 'add-app') {
          const r = await run(process.execPath, [
            MAIN,
            'create',
            '--repo',
            EXAMPLE,
            '--gpg-import',
            GPG,
            '--no-fsync',
            drive,
            RUNTIME,
          ]);
          expect(r.code, r.stderr).toBe(0);
        } else if (setup === 'v1-to-v2' && ex) {
          const r = await run(process.execPath, [
            MAIN,
            'create',
            '--repo',
            v1Repo,
            '--gpg-import',
            ex.gpgKey,
            '--no-fsync',
            drive,
            'org.example.App',
          ]);
          expect(r.code, r.stderr).toBe(0);
          source = ex.repo;
          key = ex.gpgKey;
        }
        const args = ['create', '--repo', source, '--gpg-import', key, drive, 'org.example.App'];
        const k = await killDuring(args, repo, phase);
        if (!k.killed) {
          counts.finishedBeforeKill++;
          await fs.rm(drive, { recursive: true, force: true });
          continue;
        }
        counts.kills++;
        counts.byPhase[phase] = (counts.byPhase[phase] ?? 0) + 1;
        counts.seenOnDisk[k.seen] = (counts.seenOnDisk[k.seen] ?? 0) + 1;
        counts.bySetup[setup] = (counts.bySetup[setup] ?? 0) + 1;

        const again = await run(process.execPath, [MAIN, ...args]);
        expect(again.code, `kill ${i} (${setup}, ${phase}): re-run\n${again.stderr}`).toBe(0);
        const v = await run(process.execPath, [MAIN, 'verify', '--upstream-gpg', key, drive]);
        expect(v.code, `kill ${i} (${setup}, ${phase}): verify\n${v.stdout}`).toBe(0);
        expect(v.stdout, `kill ${i}: leftovers`).not.toContain('left by an interrupted run');
        counts.verified++;
        const f = await run('ostree', ['fsck', `--repo=${repo}`]);
        expect(f.code, `kill ${i} (${setup}, ${phase}): ostree fsck\n${f.stderr}`).toBe(0);
        counts.fsckOk++;
        if (interopAvailable && (i + 1) % installEvery === 0) {
          const exLike = setup === 'v1-to-v2' && ex ? ex : ({ gpgKey: GPG } as ExampleRepo);
          const { result } = await offlineInstall(exLike, drive);
          expect(result.code, `kill ${i} (${setup}, ${phase}): offline install\n${result.stderr}`).toBe(0);
          counts.installed++;
        }
        await fs.rm(drive, { recursive: true, force: true });
      }
      const report = JSON.stringify({ ...counts, attempts }, null, 2);
      if (process.env['SIDELOAD_KILL_REPORT']) await fs.writeFile(process.env['SIDELOAD_KILL_REPORT'], report + '\n');
      else console.log(`kill loop: ${report}`);
      expect(counts.kills).toBe(KILLS);
      // The journal replay takes milliseconds on an idle machine: a kill aimed at it may come after the run ended
      // (counted in finishedBeforeKill); copy and staging publish last long enough to be hit every time.
      for (const p of PHASES.filter((x) => x !== 'journal' || PHASES.length === 1))
        expect(counts.byPhase[p] ?? 0, p).toBeGreaterThan(0);
    },
  );
});
