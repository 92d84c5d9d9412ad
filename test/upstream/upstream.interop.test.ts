/**
 * Upstream's own tests as an oracle (issue 16): the drive-related installed tests of ostree 2022.7 (`ostree-tests`)
 * and flatpak 1.14.10 (`flatpak-tests`) run unmodified, with the shims in test/upstream/shim/ first on PATH, so that
 * every `ostree create-usb` / `flatpak create-usb` they make is a `sideload create` (the shim log proves it). Each
 * upstream check (TAP line) is asserted against the table below. A check expected to fail must say why and is run
 * against the real create-usb too (SIDELOAD_SHIM_MODE=real), where it must fail the same way: a failure that the
 * real tool shares is a client or test-design matter, never one of ours. Skipped (and said) without the packages,
 * failing under CI=true, where .ci/run installs them.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, run, tempDir } from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';

const OSTREE_TESTS = '/usr/libexec/installed-tests/libostree';
const FLATPAK_TESTS = '/usr/libexec/installed-tests/Flatpak';
const SHIM = path.join(projectRoot, 'test/upstream/shim');
const isCI = process.env['CI'] === 'true';

type Expected =
  | 'ok'
  /** Fails with sideload and with the real create-usb alike. */
  | { fails: string };

interface UpstreamScript {
  /** As in the .test file under /usr/share/installed-tests. */
  readonly name: string;
  readonly dir: string;
  readonly argv: readonly string[];
  /** TAP descriptions → expectation; their number is the plan. */
  readonly checks: Readonly<Record<string, Expected>>;
  /** Upstream skips the whole script on this machine by design (not a sideload matter): the reason. */
  readonly skips?: string;
  /** Number of create-usb calls the script makes (0: the script writes no drive). */
  readonly createUsbCalls: number;
  /** Checks that pass with sideload and fail with the real create-usb (measured on every run), and why. */
  readonly realFails?: { readonly checks: readonly string[]; readonly reason: string };
  readonly env?: Readonly<Record<string, string>>;
}

const SCRIPTS: readonly UpstreamScript[] = [
  {
    name: 'ostree test-create-usb.sh',
    dir: OSTREE_TESTS,
    argv: [`${OSTREE_TESTS}/test-create-usb.sh`],
    checks: {
      '1 simple usb': 'ok',
      '2 usb in standard location': 'ok',
      '3 usb in non-standard location': 'ok',
      '4 adding ref to an existing usb': 'ok',
      '5 find from usb repo': 'ok',
    },
    createUsbCalls: 5,
  },
  {
    // Finders over config remotes: no drive is written; run because drives are found the same way.
    name: 'ostree test-find-remotes.sh',
    dir: OSTREE_TESTS,
    argv: [`${OSTREE_TESTS}/test-find-remotes.sh`],
    checks: { 'find-remotes': 'ok' },
    createUsbCalls: 0,
  },
  {
    name: 'ostree test-repo-finder-mount-integration.sh',
    dir: OSTREE_TESTS,
    argv: [`${OSTREE_TESTS}/test-repo-finder-mount-integration.sh`],
    checks: {},
    // Its three checks need sudo, udisks and a disposable USB stick (MOUNT_INTEGRATION_DEV); the same end-to-end
    // path (create-usb on a mounted filesystem, find-remotes --finders=mount --pull) is test/interop/os-refs.test.ts.
    skips: 'needs a disposable USB stick (MOUNT_INTEGRATION_DEV), udisks and OSTREE_TEST_SUDO',
    createUsbCalls: 0,
  },
  ...(['user', 'system'] as const).map((kind): UpstreamScript => ({
    name: `flatpak test-sideload.sh (${kind}${kind === 'system' ? ', through the system helper' : ''})`,
    dir: FLATPAK_TESTS,
    argv: [`${FLATPAK_TESTS}/test-wrapper.sh`, `${FLATPAK_TESTS}/test-sideload@${kind}.wrap`, '--tap'],
    checks: {
      'created sideloaded repo': 'ok',
      'installed sideloaded app': 'ok',
      'installed w/ runtime sideload option': 'ok',
      'updated sideloaded appstream': 'ok',
      'installed sideloaded app when online': 'ok',
      "updates from sideload don't go backwards": 'ok',
      'update to explicit old version': 'ok',
      'update offline to new version': 'ok',
      'migrate to gpg-verify-summary': 'ok',
    },
    createUsbCalls: 2,
  })),
  {
    // Ours, not upstream's (flatpak 1.14.10 ships no test-p2p-security.sh, and upstream's version is about P2P
    // updates from a second remote, not drives): flatpak's test library, an impostor-signed update in a local mirror
    // whose remote trusts the legit key, a drive written from it by `ostree create-usb`, an offline user update.
    name: 'drive-impostor.sh (ours, on flatpak libtest.sh)',
    dir: FLATPAK_TESTS,
    argv: [
      'bash',
      '-c',
      `. ${path.join(projectRoot, 'test/upstream/scripts/drive-impostor.sh')}`,
      `${FLATPAK_TESTS}/drive-impostor.sh`,
    ],
    env: { USE_SYSTEMDIR: 'no' },
    checks: {
      'mirror holds the impostor commit': 'ok',
      'the impostor commit is not on the drive': 'ok',
      'the installation keeps the legit commit': 'ok',
    },
    createUsbCalls: 1,
    realFails: {
      checks: ['the impostor commit is not on the drive', 'the installation keeps the legit commit'],
      reason:
        'ostree create-usb copies any commit, and a flatpak 1.14.10 user installation installs an impostor-signed commit from a drive',
    },
  },
];

interface Tap {
  plan: number | null;
  skip: string | null;
  results: Map<string, 'ok' | 'not ok'>;
}

export function parseTap(out: string): Tap {
  const tap: Tap = { plan: null, skip: null, results: new Map() };
  for (const line of out.split('\n')) {
    const plan = /^1\.\.(\d+)(?:\s*#\s*SKIP\s*(.*))?$/.exec(line);
    if (plan) {
      tap.plan = Number(plan[1]);
      if (plan[2] !== undefined) tap.skip = plan[2];
      continue;
    }
    const m = /^(not ok|ok)\b\s*(.*)$/.exec(line);
    if (m) tap.results.set((m[2] as string).replace(/\s+#.*$/, '').trim(), m[1] as 'ok' | 'not ok');
  }
  return tap;
}

async function runScript(
  s: UpstreamScript,
  mode: 'sideload' | 'real',
): Promise<{ code: number; tap: Tap; log: string[]; out: string; seconds: number }> {
  const dir = await tempDir('sideload-upstream-');
  const work = path.join(dir, 'work'); // the scripts insist on an empty working directory
  await fs.mkdir(work);
  const logFile = path.join(dir, 'shim.log');
  const started = Date.now();
  const r = await run('bash', ['-c', 'cd "$0" && exec "$@"', work, ...s.argv], {
    env: {
      PATH: `${SHIM}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      // The scripts' own mktemp files go under this run's directory (removed at the end), not loose in /tmp.
      TMPDIR: dir,
      G_TEST_SRCDIR: s.dir,
      G_TEST_BUILDDIR: s.dir,
      SIDELOAD_SHIM_LOG: logFile,
      SIDELOAD_SHIM_MODE: mode,
      ...(s.env ?? {}),
    },
    timeoutMs: 600_000,
  });
  const seconds = (Date.now() - started) / 1000;
  const log = (await fs.readFile(logFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  if (r.code === 0) await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
  return {
    code: r.code,
    tap: parseTap(r.stdout),
    log,
    out: `${r.stdout}\n--- stderr (tail) ---\n${r.stderr.split('\n').slice(-40).join('\n')}`,
    seconds,
  };
}

const installed = existsSync(`${OSTREE_TESTS}/test-create-usb.sh`) && existsSync(`${FLATPAK_TESTS}/test-sideload.sh`);

function describeUpstream(name: string, fn: () => void): void {
  if (installed) describe(name, fn);
  else if (isCI)
    describe(name, () => {
      it('needs ostree-tests and flatpak-tests', () => {
        throw new Error('ostree-tests / flatpak-tests are not installed and CI=true: .ci/run installs them');
      });
    });
  else describe.skip(`${name} (needs the ostree-tests and flatpak-tests packages)`, fn);
}

describe('parseTap', () => {
  it('reads numbered and unnumbered checks, the plan and a whole-script skip', () => {
    const t = parseTap(
      '1..3\nok 1 simple usb\nnoise\nnot ok 2 usb in standard location\nok installed sideloaded app # comment\n',
    );
    expect(t.plan).toBe(3);
    expect([...t.results]).toEqual([
      ['1 simple usb', 'ok'],
      ['2 usb in standard location', 'not ok'],
      ['installed sideloaded app', 'ok'],
    ]);
    expect(parseTap('1..0 # SKIP needs sudo\n').skip).toBe('needs sudo');
  });
});

describeUpstream('upstream drive tests with sideload as the drive writer', () => {
  beforeAll(async () => {
    await ensureBuilt();
  });

  for (const s of SCRIPTS) {
    // Each script has its own temp directories (and flatpak's its own dbus and system helper): they run concurrently.
    it.concurrent(s.name, { timeout: 900_000 }, async () => {
      const r = await runScript(s, 'sideload');
      console.log(
        `${s.name}: ${r.seconds.toFixed(1)} s, exit ${r.code}, ${[...r.tap.results.values()].filter((v) => v === 'ok').length}/${r.tap.plan ?? '?'} ok`,
      );
      if (s.skips) {
        expect(r.tap.skip, r.out).not.toBeNull();
        expect(r.tap.plan).toBe(0);
        return;
      }
      if (r.tap.skip !== null) {
        // The script skipped itself (no bwrap, no gpgme …): a machine matter. Fail on CI, where everything is set up.
        if (isCI) throw new Error(`${s.name} skipped itself on CI: ${r.tap.skip}`);
        console.warn(`${s.name} skipped itself: ${r.tap.skip}`);
        return;
      }
      // Every create-usb went through sideload, none to the real tool.
      expect(r.log.filter((l) => l.startsWith('sideload create')).length, r.log.join('\n')).toBe(s.createUsbCalls);
      expect(r.log.filter((l) => l.startsWith('real-'))).toEqual([]);
      expect(r.tap.plan, r.out).toBe(Object.keys(s.checks).length);
      const got = Object.fromEntries(Object.keys(s.checks).map((c) => [c, r.tap.results.get(c) ?? 'missing']));
      const want = Object.fromEntries(Object.entries(s.checks).map(([c, e]) => [c, e === 'ok' ? 'ok' : 'not ok']));
      expect(got, r.out).toEqual(want);
      const expectedFailures = Object.entries(s.checks).filter(([, e]) => e !== 'ok');
      if (s.realFails) {
        // The same checks with the real drive writer: they fail, which is what sideload's refusal prevents.
        const real = await runScript(s, 'real');
        console.log(
          `${s.name} with the real create-usb: ${real.seconds.toFixed(1)} s, ${s.realFails.checks.map((c) => `${c}: ${real.tap.results.get(c) ?? 'missing'}`).join('; ')} (${s.realFails.reason})`,
        );
        expect(
          real.log.some((l) => l.startsWith('real-')),
          real.log.join('\n'),
        ).toBe(true);
        for (const c of s.realFails.checks)
          expect(real.tap.results.get(c), `${c} with the real create-usb\n${real.out}`).toBe('not ok');
      }
      if (expectedFailures.length === 0) expect(r.code, r.out).toBe(0);
      else {
        // Honest comparison: the same checks fail with the real create-usb.
        const real = await runScript(s, 'real');
        expect(
          real.log.some((l) => l.startsWith('real-')),
          real.log.join('\n'),
        ).toBe(true);
        for (const [c] of expectedFailures)
          expect(real.tap.results.get(c) ?? 'missing', `${c} with the real create-usb\n${real.out}`).not.toBe('ok');
      }
    });
  }
});
