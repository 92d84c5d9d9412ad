/**
 * The CLI's behaviour around the work (issue 13), against the real built program and the bundled example repo:
 * closed pipes, short options, one flag scheme (old spellings still working), unwritable drives, an unpublished
 * drive, --quiet, the JSON envelope, help text and shell completion.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCH, ensureBuilt, run, sideload, tempDir } from '../helpers/flatpak-fixtures.js';
import { Variant } from '../../src/gvariant/index.js';
import { encodeCommit } from '../../src/ostree/commit.js';
import { Repo, type RefLocation } from '../../src/repo/index.js';
import { SIDELOAD_SUBPATHS_KEY } from '../../src/summary/metadata-commit.js';
import { projectRoot } from '../helpers/shared.js';
import { hasTool, requireOrSkip } from '../helpers/tools.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { createExampleDrive } from '../helpers/example-drive.js';

const main = path.join(projectRoot, 'dist/cli/main.cjs');
const EX = path.join(projectRoot, 'examples');
const fromExample = ['--repo', path.join(EX, 'repo'), '--gpg-import', path.join(EX, 'example.gpg'), '--no-fsync'];
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const dirs: string[] = [];
const fresh = async (p: string) => {
  const d = await tempDir(p);
  dirs.push(d);
  return d;
};
let drive = '';
let signed = '';
let pub = '';

beforeAll(async () => {
  await ensureBuilt();
  drive = await fresh('sideload-cli-');
  const r = await sideload(['create', ...fromExample, drive, 'org.example.App']);
  if (r.code !== 0) throw new Error(r.stderr);
  const keys = await fresh('sideload-cli-keys-');
  const k = await sideload(['keygen', '-o', path.join(keys, 'drive.key')]);
  if (k.code !== 0) throw new Error(k.stderr);
  pub = path.join(keys, 'drive.key.pub');
  signed = await fresh('sideload-cli-signed-');
  const s = await sideload([
    'create',
    ...fromExample,
    '--sign-key',
    path.join(keys, 'drive.key'),
    signed,
    'org.example.App',
  ]);
  if (s.code !== 0) throw new Error(s.stderr);
}, 120_000);
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true }).catch(() => {});
});

describe('a closed output pipe', () => {
  it('`list D | head -1` prints the first line, no stack trace, and exits 141 as ls and git do', async () => {
    const r = await run('bash', [
      '-c',
      `node ${q(main)} list ${q(drive)} | head -1; echo "status=\${PIPESTATUS[0]}" >&2`,
    ]);
    expect(r.stdout).toBe(
      `${path.join(await fs.realpath(drive), '.ostree/repo')}, updated ${r.stdout.split('updated ')[1]}`,
    );
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    // 141 when a write came after head left, 0 when every line was in the pipe by then: never a stack trace.
    expect(['status=141\n', 'status=0\n']).toContain(r.stderr);
  });

  it('`create … | true`: the drive is written, the program ends quietly with 141', async () => {
    const d = await fresh('sideload-cli-pipe-');
    const r = await run('bash', [
      '-c',
      `node ${q(main)} create ${fromExample.map(q).join(' ')} ${q(d)} org.example.App | true; echo "status=\${PIPESTATUS[0]}" >&2`,
    ]);
    expect(r.stderr).toBe('status=141\n');
    const l = await sideload(['list', d]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain('app/org.example.App/');
  });
});

describe('options', () => {
  it('-u is --user: it takes no value, so the drive path stays a positional', async () => {
    const user = await fresh('sideload-cli-user-');
    const d = await fresh('sideload-cli-u-');
    const r = await sideload(['create', '-u', d, 'org.example.App'], {
      env: { FLATPAK_USER_DIR: user, FLATPAK_SYSTEM_DIR: path.join(user, 'none') },
    });
    // The (empty) user installation is read (exit 3), not a usage error about a missing argument (exit 2).
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`'${user}' is not a flatpak installation`);
  });

  it('verify: --drive-key and --gpg-import, and the old --trusted-key / --upstream-gpg still work', async () => {
    for (const flags of [
      ['--drive-key', pub, '--gpg-import'],
      ['--trusted-key', pub, '--upstream-gpg'],
    ]) {
      const r = await sideload(['verify', ...flags, path.join(EX, 'example.gpg'), signed]);
      expect(r.code, `${flags.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
    }
    // A drive key that did not sign the drive fails under both spellings.
    const other = await fresh('sideload-cli-other-');
    await sideload(['keygen', '-o', path.join(other, 'k')]);
    for (const flag of ['--drive-key', '--trusted-key']) {
      const r = await sideload(['verify', flag, path.join(other, 'k.pub'), signed]);
      expect(r.code, flag).toBe(6);
    }
    // Without an upstream key, the warning names options verify --help shows (not the hidden old spellings).
    const bare = await sideload(['verify', signed]);
    const named = bare.stdout.match(/upstream summary .* was not checked: pass (.*)/)?.[1] ?? '';
    const help = (await sideload(['verify', '--help'])).stdout;
    expect(named.match(/--[\w-]+/g)).toEqual(['--gpg-import', '--upstream-key']);
    for (const o of named.match(/--[\w-]+/g) ?? []) expect(help).toContain(`  ${o} `);
  });

  it('create: --upstream-key and the old --trusted-key both read the key file', async () => {
    for (const flag of ['--upstream-key', '--trusted-key']) {
      const r = await sideload([
        'create',
        ...fromExample,
        flag,
        '/nonexistent/up.pub',
        await fresh('sideload-cli-k-'),
        'org.example.App',
      ]);
      expect(r.code, flag).toBe(3);
      expect(r.stderr).toContain('/nonexistent/up.pub');
    }
  });

  it('help shows the new names only; every positional and option is described; no `[default: []]`', async () => {
    for (const cmd of ['create', 'lock', 'update', 'remove', 'prune', 'list', 'verify', 'keygen', 'dump']) {
      const h = await run(process.execPath, [main, cmd, '--help'], { env: { COLUMNS: '100' } });
      expect(h.code).toBe(0);
      expect(h.stdout).not.toContain('--trusted-key');
      expect(h.stdout).not.toContain('--upstream-gpg');
      expect(h.stdout).not.toContain('[default: []]');
      // An option or positional line that has nothing but its name and type is undescribed.
      const bare = h.stdout
        .split('\n')
        .filter(
          (l) =>
            /^\s+(-\w, )?--[\w-]+\s+\[(string|boolean|array|number)\]/.test(l) ||
            /^ {2}\w[\w-]*\s+\[(string|array)\]/.test(l),
        );
      expect(bare, cmd).toEqual([]);
      // Examples: whole commands, continued with \ and never longer than 78 columns.
      const ex = h.stdout.slice(h.stdout.indexOf('Examples:'));
      expect(
        ex.split('\n').every((l) => l.length <= 78),
        cmd,
      ).toBe(true);
    }
    const create = await run(process.execPath, [main, 'create', '--help'], { env: { COLUMNS: '100' } });
    expect(create.stdout).toMatch(/-u, --user/);
    expect(create.stdout).toMatch(/-v, --verbose/);
    expect(create.stdout).toContain('--upstream-key');
  });

  it('the examples in create --help are valid shell: joined, they parse as one command each', async () => {
    const h = await run(process.execPath, [main, 'create', '--help']);
    const ex = h.stdout.slice(h.stdout.indexOf('Examples:')).split('\n').slice(1);
    const commands = ex
      .join('\n')
      .replace(/ \\\n\s+/g, ' ')
      .split('\n')
      .filter((l) => l.trim().startsWith('sideload '));
    expect(commands.length).toBe(8);
    expect(commands).toContain(
      '  sideload create --repo ./repo --gpg-import repo.gpg --arch x86_64 --arch aarch64 /mnt/usb org.example.App',
    );
    expect(commands).toContain(
      '  sideload create --repair --repo ./repo --gpg-import repo.gpg /mnt/usb org.example.App',
    );
  });
});

describe('a mistyped command line', () => {
  it('names the unknown flag (even where it swallowed the drive), the missing argument, or the unknown command', async () => {
    const cases: Array<[string[], string]> = [
      // `--jsn` took the drive as its value: yargs said "Not enough non-option arguments: got 0, need at least 1".
      [['list', '--jsn', drive], "unknown option --jsn (did you mean --json?)\nRun 'sideload list --help'"],
      [['verify', drive, '--frobnicate', '-x'], "unknown options --frobnicate, -x\nRun 'sideload verify --help'"],
      [['create', '--dryrun', drive, 'org.example.App'], 'unknown option --dryrun (did you mean --dry-run?)'],
      [['remove', drive], "missing <refs..> (usage: sideload remove <drive> <refs..>)\nRun 'sideload remove --help'"],
      [['list'], 'missing <drive> (usage: sideload list <drive>)'],
      [['lst', drive], "unknown command 'lst' (did you mean list?)\nRun 'sideload --help'"],
      [['frob'], "unknown command 'frob' (commands: create, lock, update, remove, prune, list, verify, keygen, dump,"],
      // A command's options after a word that is no command: the command is what is wrong ("unknown option -q").
      [['bogus', '-q'], "unknown command 'bogus' (commands: create,"],
      [['lst', '--quiet', drive], "unknown command 'lst' (did you mean list?)"],
    ];
    for (const [args, message] of cases) {
      const r = await sideload(args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([2, '']);
      expect(r.stderr, args.join(' ')).toContain(`sideload: ${message}`);
    }
    // With --json, the error document says so too (it said "unknown option --json").
    const j = await sideload(['bogus', '--json']);
    expect(j.code).toBe(2);
    expect((JSON.parse(j.stdout) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'EUSAGE',
      message: expect.stringMatching(/^unknown command 'bogus' \(commands: create,/) as string,
    });
    // Still fine: a flag's negation, its camelCase spelling, a short alias.
    for (const args of [
      ['list', '--no-json', drive],
      ['list', '-v', drive],
      ['create', '--dryRun', ...fromExample, drive, 'org.example.App'],
    ]) {
      const r = await sideload(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).not.toBe(2);
    }
  });
});

describe('a signed drive', () => {
  it('keeps its signature: a run that would publish unsigned refuses (exit 2) unless --unsigned; a no-op leaves it', async () => {
    const d = await tempDir('sideload-signed-');
    const key = path.join(d, '..', `${path.basename(d)}.key`);
    expect((await sideload(['keygen', '-o', key])).code).toBe(0);
    const c = await sideload(['create', ...fromExample, '--sign-key', key, d, 'org.example.App']);
    expect(c.code, c.stderr).toBe(0);
    const sig = path.join(d, '.ostree/repo/summary.sig');
    const before = await snapshotDir(d);
    // Nothing new and no key: nothing written (it used to publish again, unsigned).
    const noop = await sideload(['update', ...fromExample, '--json', d]);
    expect([noop.code, (JSON.parse(noop.stdout) as { changed: boolean }).changed]).toEqual([0, false]);
    expect(await snapshotDir(d)).toEqual(before);
    const gl = /runtime\/org\.example\.Platform\.GL\.default\/\S+/.exec(c.stdout)?.[0] as string;
    for (const dry of [['--dry-run'], []]) {
      const r = await sideload(['remove', ...dry, d, gl]);
      expect([r.code, r.stderr], dry.join('')).toEqual([
        2,
        `sideload: error: the drive's summary is signed (${sig}): pass --sign-key with its key to keep it signed, ` +
          'or --unsigned to publish it without a signature\n',
      ]);
    }
    expect(await snapshotDir(d)).toEqual(before);
    expect((await sideload(['remove', '--sign-key', key, '--no-fsync', d, gl])).code).toBe(0);
    const v = await sideload(['verify', '--drive-key', `${key}.pub`, d]);
    expect(v.code, v.stdout).toBe(0);
    // Another key: with nothing else new it still signs (it said "Nothing new" and kept the old signature), and it
    // says the key changed; --strict stops there (it re-signed without a word).
    const key2 = path.join(d, '..', `${path.basename(d)}-2.key`);
    expect((await sideload(['keygen', '-o', key2])).code).toBe(0);
    const kept = await snapshotDir(d);
    const strict = await sideload(['create', ...fromExample, '--strict', '--sign-key', key2, d, 'org.example.App']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('--strict: warning drive-key-changed');
    expect(await snapshotDir(d)).toEqual(kept);
    const moved = await sideload(['create', ...fromExample, '--sign-key', key2, '--json', d, 'org.example.App']);
    const mj = JSON.parse(moved.stdout) as { changed: boolean; warnings?: Array<{ code: string }> };
    expect([moved.code, mj.changed, mj.warnings?.map((w) => w.code)]).toEqual([0, true, ['drive-key-changed']]);
    expect((await sideload(['verify', '--drive-key', `${key2}.pub`, d])).code).toBe(0);
    expect((await sideload(['verify', '-q', '--drive-key', `${key}.pub`, d])).code).toBe(6);
    // The same key again: nothing to do.
    const again = await sideload(['create', ...fromExample, '--sign-key', key2, '--json', d, 'org.example.App']);
    expect((JSON.parse(again.stdout) as { changed: boolean }).changed).toBe(false);
    // Dropping the signature is a choice: --unsigned, and then it is a write even with nothing else new.
    const u = await sideload(['create', ...fromExample, '--unsigned', '--json', d, 'org.example.App']);
    expect([u.code, (JSON.parse(u.stdout) as { changed: boolean }).changed]).toEqual([0, true]);
    await expect(fs.access(sig)).rejects.toThrow();
  });
});

describe('a misspelt ref', () => {
  it.each([['org.example.Ap'], ['org.example.app']])(
    "'%s': not found (exit 3) with a suggestion from what the source offers",
    async (arg) => {
      const r = await sideload(['create', '--dry-run', ...fromExample, drive, arg]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        new RegExp(`ref '${arg}' \\(arch \\w+\\) was not found in the source; did you mean org\\.example\\.App\\?`),
      );
      const j = await sideload(['create', '--json', '--dry-run', ...fromExample, drive, arg]);
      expect(JSON.parse(j.stdout).error.data.suggestions).toEqual(['org.example.App']);
    },
  );
});

describe('files named on the command line', () => {
  it('a missing file to dump, manifest or lockfile is not found (exit 3) and named; a directory is refused', async () => {
    const gone = path.join(drive, 'no-such', 'summary');
    for (const [args, what] of [
      [['dump', gone], 'file'],
      [['create', '--dry-run', '--manifest', gone, drive], 'manifest'],
      [['create', '--dry-run', '--lock', gone, drive], 'lockfile'],
      [['lock', gone], 'manifest'],
    ] as const) {
      const r = await sideload([...args]);
      expect([r.code, r.stderr], args.join(' ')).toEqual([3, `sideload: error: ${what} '${gone}' does not exist\n`]);
    }
    // A name that says no type: still not found (it said "cannot tell the type of 'nope'", exit 2).
    const nope = path.join(drive, 'no-such', 'nope');
    for (const json of [[], ['--json']]) {
      const r = await sideload(['dump', ...json, nope]);
      expect(r.code, json.join('')).toBe(3);
      expect(json.length ? (JSON.parse(r.stdout) as { error: { message: string } }).error.message : r.stderr).toContain(
        `file '${nope}' does not exist`,
      );
    }
    // A drive directory is never made: a mistyped mount point would fill the system disk.
    const mount = path.join(drive, 'no-such-mount');
    const c = await sideload(['create', ...fromExample, mount, 'org.example.App']);
    expect([c.code, c.stderr]).toEqual([
      3,
      `sideload: error: drive directory '${mount}' does not exist (mount the drive there first; for a plain ` +
        'directory, mkdir it)\n',
    ]);
    await expect(fs.access(mount)).rejects.toThrow();
    // list and verify say the same of a drive path that does not exist (it was a raw ENOENT, exit 1).
    for (const cmd of ['list', 'verify']) {
      const r = await sideload([cmd, mount]);
      expect([r.code, r.stderr], cmd).toEqual([
        3,
        `sideload: error: drive directory '${mount}' does not exist (is the drive mounted there?)\n`,
      ]);
      const j = await sideload([cmd, '--json', mount]);
      expect([j.code, (JSON.parse(j.stdout) as { error: { code: string } }).error.code], cmd).toEqual([3, 'ENOTFOUND']);
    }
    const dir = await sideload(['dump', '--type', 'a{sv}', drive]);
    expect(dir.code).toBe(4);
    expect(dir.stderr).toContain(`'${drive}'`);
  });

  it('a manifest, lockfile or --from file named through a symlink is read (naming a link is choosing its target)', async () => {
    const links = await tempDir('sideload-links-');
    const link = async (name: string, target: string) => {
      await fs.symlink(target, path.join(links, name));
      return path.join(links, name);
    };
    // Paths in the file are taken relative to the path named (here absolute, so either way).
    const real = path.join(links, 'real.yaml');
    await fs.writeFile(
      real,
      `sources:\n  - repo: ${path.join(EX, 'repo')}\n    gpg-import: [${path.join(EX, 'example.gpg')}]\n` +
        '    refs: [org.example.App]\n',
    );
    const manifest = await link('media.yaml', real);
    const lockFile = path.join(links, 'real.lock');
    const l = await sideload(['lock', manifest, '-o', lockFile]);
    expect(l.code, l.stderr).toBe(0);
    const lock = await link('media.lock', lockFile);
    for (const args of [
      ['--manifest', manifest],
      ['--lock', lock],
    ]) {
      const r = await sideload(['create', '--dry-run', ...args, await tempDir('sideload-links-drive-')]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const repofile = path.join(links, 'example.flatpakrepo');
    await fs.writeFile(repofile, '[Flatpak Repo]\nUrl=http://127.0.0.1:9/unreachable/\n');
    const from = await sideload(
      ['create', '--dry-run', '--from', await link('via.flatpakrepo', repofile), drive, 'x'],
      {
        env: { ...process.env, SIDELOAD_HTTP_RETRIES: '0' },
      },
    );
    // Read and understood: the run gets as far as the (unreachable) URL it names.
    expect(from.stderr).toContain('127.0.0.1:9');
    expect(from.stderr).not.toMatch(/symlink/);
  });
});

describe('unwritable drives', () => {
  const hasUnshare = (() => {
    try {
      execFileSync('unshare', ['-rm', 'true'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasUnshare)(
    'a read-only filesystem: EROFS, says to remount read-write; the JSON code is EROFS',
    async () => {
      const d = await fresh('sideload-cli-ro-');
      const r = await run('unshare', [
        '-rm',
        'sh',
        '-c',
        `mount -t tmpfs -o ro tmpfs ${q(d)} && exec ${q(process.execPath)} ${q(main)} create --json ${fromExample.map(q).join(' ')} ${q(d)} org.example.App`,
      ]);
      expect(r.code, r.stderr).toBe(1);
      const j = JSON.parse(r.stdout) as {
        schemaVersion: number;
        ok: boolean;
        error: { code: string; message: string };
      };
      expect(j).toMatchObject({ schemaVersion: 1, ok: false, error: { code: 'EROFS' } });
      expect(j.error.message).toContain('read-only');
      expect(j.error.message).toContain('remount');
    },
  );

  const isRoot = process.getuid?.() === 0;
  it.skipIf(!isRoot)('no permission (run as nobody): EACCES, says what to check', async () => {
    // 'nobody' runs a copy of the program and the example under a world-readable directory, wherever the checkout
    // is (a mktemp clone is private, 0700): the bundled CLI, package.json (the version), openpgp (its one external
    // module used here) and the example repo. Outside the run's private temp root, so that nobody can reach the
    // drive and only writing fails.
    const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'sideload-cli-perm-'));
    dirs.push(parent);
    await fs.chmod(parent, 0o755);
    const copy = (rel: string) => fs.cp(path.join(projectRoot, rel), path.join(parent, rel), { recursive: true });
    for (const rel of [
      'package.json',
      'dist/cli/main.cjs',
      'dist/cli/sideload.cjs',
      'dist/cli/sideload.cache',
      'dist/cli/copy-worker.js',
      'node_modules/openpgp',
      'examples',
    ])
      await copy(rel);
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath];
    const prog = path.join(parent, 'dist/cli/main.cjs');
    const ex = path.join(parent, 'examples');
    const args = ['--repo', path.join(ex, 'repo'), '--gpg-import', path.join(ex, 'example.gpg'), '--no-fsync'];
    await run('chmod', ['-R', 'a+rX', parent]);
    const d = path.join(parent, 'drive');
    await fs.mkdir(d, { mode: 0o755 });
    const r = await run('setpriv', [...asNobody, prog, 'create', ...args, d, 'org.example.App'], {
      env: { HOME: '/nonexistent' },
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`no permission to write to '${d}'`);
    expect(r.stderr).toContain('ls -ld');
    const j = await run('setpriv', [...asNobody, prog, 'create', '--json', ...args, d, 'org.example.App']);
    expect((JSON.parse(j.stdout) as { error: { code: string } }).error.code).toBe('EACCES');
  });
});

describe('an interrupted first create', () => {
  it('list says nothing is published yet and how to resume (exit 3, ENOTPUBLISHED), not a raw ENOENT', async () => {
    // What a first create interrupted before its publish leaves: the repo skeleton and staged objects, no summary.
    const d = await fresh('sideload-cli-int-');
    const repo = path.join(d, '.ostree/repo');
    for (const sub of ['objects', 'refs/heads', 'tmp/sideload-staging'])
      await fs.mkdir(path.join(repo, sub), { recursive: true });
    await fs.writeFile(path.join(repo, 'config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
    const r = await sideload(['list', d]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('nothing published yet');
    expect(r.stderr).toContain('run the same create again to resume');
    expect(r.stderr).not.toContain('ENOENT');
    const j = await sideload(['list', '--json', d]);
    expect((JSON.parse(j.stdout) as { error: { code: string } }).error.code).toBe('ENOTPUBLISHED');
  });
});

describe('a real run with nothing new', () => {
  it('says what happened in the past tense, as a run that changed something does; a dry run keeps the plan tense', async () => {
    const r = await sideload(['create', ...fromExample, drive, 'org.example.App']);
    expect(r.code, r.stderr).toBe(0);
    // Before: "Refs: 0 to add, 0 to update, N unchanged, 0 to remove, 0 kept", the plan's future tense.
    expect(r.stdout).toMatch(
      /\nRefs: 0 added, 0 updated, [1-9]\d* unchanged, 0 removed, 0 kept\nNothing new: the drive/,
    );
    const dry = await sideload(['create', '--dry-run', ...fromExample, drive, 'org.example.App']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/\nRefs: 0 to add, 0 to update, [1-9]\d* unchanged, 0 to remove, 0 kept\n/);
  });
});

describe('verify --repair of a pending publish', () => {
  it('says it finished the publish, as create and update do, and --json has resumedPublish', async () => {
    const d = await fresh('sideload-cli-repair-');
    await fs.cp(drive, d, { recursive: true });
    const repo = path.join(d, '.ostree/repo');
    // The journal a run interrupted in its publish leaves (here: one ref, rewritten to the commit it holds).
    const [cid] = await fs.readdir(path.join(repo, 'refs/mirrors'));
    const ref = `refs/mirrors/${cid}/app/org.example.App/${ARCH}/stable`;
    const checksum = (await fs.readFile(path.join(repo, ref), 'utf8')).trim();
    const journal = JSON.stringify({ version: 1, ops: [{ op: 'ref', path: ref, checksum }] });
    await fs.writeFile(path.join(repo, 'tmp/sideload-publish.json'), journal);
    // Before: just "OK …", nothing about the publish it finished.
    const r = await sideload(['verify', '--repair', d]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `Finished the publish an interrupted run had left pending in ${await fs.realpath(repo)}: clients now see what`,
    );
    await fs.writeFile(path.join(repo, 'tmp/sideload-publish.json'), journal);
    const j = await sideload(['verify', '--repair', '--json', d]);
    const doc = JSON.parse(j.stdout) as {
      ok: boolean;
      resumedPublish?: boolean;
      repos: { resumedPublish?: boolean }[];
    };
    expect([doc.ok, doc.resumedPublish, doc.repos[0]?.resumedPublish]).toEqual([true, true, true]);
    // Nothing pending: no such field, no such line.
    const again = await sideload(['verify', '--repair', '--json', d]);
    const none = JSON.parse(again.stdout) as { resumedPublish?: boolean; repos: { resumedPublish?: boolean }[] };
    expect([none.resumedPublish, none.repos[0]?.resumedPublish]).toEqual([undefined, undefined]);
    expect((await sideload(['verify', '--repair', d])).stdout).not.toContain('Finished the publish');
  });
});

describe('--quiet and --json', () => {
  it('-q prints nothing at all on success, warnings included; --json carries the warnings', async () => {
    const d = await fresh('sideload-cli-q-');
    const r = await sideload(['create', '-q', '--locales', 'de', ...fromExample, d, 'org.example.App']);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const j = await sideload([
      'create',
      '--json',
      '--locales',
      'de',
      ...fromExample,
      await fresh('sideload-cli-qj-'),
      'org.example.App',
    ]);
    expect((JSON.parse(j.stdout) as { warnings: Array<{ code: string }> }).warnings.map((w) => w.code)).toEqual([
      'partial-locale',
      'partial-locale',
    ]);
  });

  it('list, verify, keygen and dump take -q/--quiet too: nothing on stdout or stderr, the exit code says it', async () => {
    const keys = await fresh('sideload-cli-qk-');
    for (const args of [
      ['list', '-q', signed],
      ['verify', '--quiet', signed],
      ['keygen', '-q', '-o', path.join(keys, 'k')],
      ['dump', '-q', path.join(signed, '.ostree/repo/summary')],
    ]) {
      const r = await sideload(args);
      // They said "unknown option -q" (exit 2), where the README says -q prints nothing but errors.
      expect(r, args.join(' ')).toEqual({ code: 0, stdout: '', stderr: '' });
    }
    expect((await fs.readdir(keys)).sort()).toEqual(['k', 'k.pub']);
    // A drive verify fails (--strict: its upstream summary was not checked) is exit 6, still silent.
    expect(await sideload(['verify', '-q', '--strict', drive])).toEqual({ code: 6, stdout: '', stderr: '' });
  });

  it('a language the source lacks is named plainly, and the drive side says what it got', async () => {
    const r = await sideload([
      'create',
      '--locales',
      'xx',
      ...fromExample,
      await fresh('sideload-cli-xx-'),
      'org.example.App',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /the source has no xx for 'runtime\/org\.example\.App\.Locale\/\w+\/stable' \(it has de, es, fr\); .* goes on the drive without any language \(its metadata only\)/,
    );
    expect(r.stdout).toMatch(/org\.example\.App\.Locale\/\w+\/stable +\w{12} \[related\] partial \(metadata only\)/);
    expect(r.stdout + r.stderr).not.toContain('(none)');
    expect(r.stdout).not.toContain('partial ()');
  });

  it("--locales all is every language, as a manifest's `locales: all`, and overrides a manifest's list", async () => {
    type Doc = { refs: Array<{ ref: string; partial: boolean }>; warnings: Array<{ code: string; message: string }> };
    const locales = (d: Doc) => d.refs.filter((r) => r.ref.includes('.Locale/')).map((r) => r.partial);
    const manifest = path.join(EX, 'media.yaml'); // locales: [de]
    const d = await fresh('sideload-cli-all-');
    for (const args of [
      [...fromExample, d, 'org.example.App'],
      ['--manifest', manifest, d],
    ]) {
      const r = await sideload(['create', '--dry-run', '--json', '--locales', 'all', ...args]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as Doc;
      // It was read as a language called "all": both Locales partial, metadata only, with a warning each.
      expect(doc.warnings, args.join(' ')).toEqual([]);
      expect(locales(doc), args.join(' ')).toEqual([false, false]);
    }
    const mixed = await sideload(['create', '--dry-run', '--locales', 'all,de', ...fromExample, d, 'org.example.App']);
    expect([mixed.code, mixed.stderr]).toEqual([
      2,
      "sideload: error: --locales 'all,de': 'all' stands alone (every language), or name the languages\n",
    ]);
  });

  it('every command prints schemaVersion 1 and its name; create, dry-run and list share one ref shape', async () => {
    const created = JSON.parse(
      (await sideload(['create', '--json', ...fromExample, await fresh('sideload-cli-j-'), 'org.example.App'])).stdout,
    );
    const dry = JSON.parse(
      (
        await sideload([
          'create',
          '--json',
          '--dry-run',
          ...fromExample,
          await fresh('sideload-cli-dry-'),
          'org.example.App',
        ])
      ).stdout,
    );
    const listed = JSON.parse((await sideload(['list', '--json', signed])).stdout);
    const verified = JSON.parse((await sideload(['verify', '--json', signed])).stdout);
    const dumped = JSON.parse((await sideload(['dump', '--json', path.join(signed, '.ostree/repo/summary')])).stdout);
    for (const [doc, cmd] of [
      [created, 'create'],
      [dry, 'create'],
      [listed, 'list'],
      [verified, 'verify'],
      [dumped, 'dump'],
    ] as const)
      expect(doc, cmd).toMatchObject({ schemaVersion: 1, command: cmd, ok: true });
    const core = ['collectionId', 'commit', 'partial', 'ref', 'subpaths'];
    const keysOf = (r: Record<string, unknown>) =>
      Object.keys(r)
        .filter((k) => core.includes(k))
        .sort();
    const listRefs = listed.repos[0].collections[0].refs as Array<Record<string, unknown>>;
    for (const r of [...created.refs, ...dry.refs, ...listRefs]) expect(keysOf(r)).toEqual(core);
    // Same ref, same values, whichever command printed it.
    const app = (rs: Array<Record<string, unknown>>) => rs.find((r) => String(r['ref']).startsWith('app/'));
    expect(core.map((k) => app(created.refs)?.[k])).toEqual(core.map((k) => app(listRefs)?.[k]));
    // `languages`: on every Locale ref (`all` when whole), on no other, with the same value in every command.
    const shape = (rs: Array<Record<string, unknown>>) =>
      rs
        .map((r) => {
          // Subpaths as printed: one order (sorted, as flatpak merges them) whichever command wrote or read them.
          return [r['ref'], r['partial'], r['subpaths'], r['languages'] ?? 'absent'];
        })
        .sort();
    const whole = shape(listRefs);
    expect(whole.filter((r) => String(r[0]).includes('.Locale/')).map((r) => r[3])).toEqual(['all', 'all']);
    expect(whole.filter((r) => !String(r[0]).includes('.Locale/')).every((r) => r[3] === 'absent')).toBe(true);
    expect(shape(created.refs)).toEqual(whole);
    expect(shape(dry.refs)).toEqual(whole);
    // A drive of partial Locales: create, update (which resolves none of them) and list say the same languages.
    const part = await fresh('sideload-cli-jp-');
    const cp = await sideload(['create', '--json', '--locales', 'de', ...fromExample, part, 'org.example.App']);
    const up = await sideload(['update', '--json', ...fromExample, part]);
    const lp = await sideload(['list', '--json', part]);
    const partial = shape(JSON.parse(lp.stdout).repos[0].collections[0].refs);
    expect(partial.filter((r) => String(r[0]).includes('.Locale/')).map((r) => r[3])).toEqual([['de'], ['de']]);
    expect(shape(JSON.parse(cp.stdout).refs)).toEqual(partial);
    expect(shape(JSON.parse(up.stdout).refs)).toEqual(partial);
    expect(partial.filter((r) => String(r[0]).includes('.Locale/')).map((r) => r[2])).toEqual([
      ['/files/de', '/metadata'],
      ['/files/de', '/metadata'],
    ]);
    // A drive an earlier sideload wrote records them as copied (`/metadata` first): list and update still say them
    // in the one order (before, list printed the recorded order and update's plan the sorted one).
    await recordSubpathsReversed(part);
    const oldList = shape(JSON.parse((await sideload(['list', '--json', part])).stdout).repos[0].collections[0].refs);
    const oldUp = await sideload(['update', '--json', ...fromExample, part]);
    expect(oldList).toEqual(partial);
    expect(shape(JSON.parse(oldUp.stdout).refs)).toEqual(partial);
    // Signatures: a file that exists is called present, not "signed".
    expect(listed.repos[0].summarySignature).toBe('present');
    expect(listed.repos[0]).not.toHaveProperty('signed');
    expect(listRefs.every((r) => r['commitSignature'] === 'present' && !('signed' in r))).toBe(true);
  });

  it('lock --json -o -: stdout is one JSON document, the lockfile text in its `text` field', async () => {
    const manifest = path.join(EX, 'media.yaml');
    const plain = await sideload(['lock', manifest, '-o', '-']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^# sideload lockfile/);
    const j = await sideload(['lock', '--json', manifest, '-o', '-']);
    expect(j.code, j.stderr).toBe(0);
    // It used to print the YAML and then the document: not one JSON document.
    const doc = JSON.parse(j.stdout) as { command: string; lockfile: string; text: string };
    expect(doc).toMatchObject({ command: 'lock', ok: true, lockfile: '-', text: plain.stdout });
    // A lockfile written to a file is not repeated in the document.
    const file = path.join(await fresh('sideload-cli-lockj-'), 'media.lock');
    const written = JSON.parse((await sideload(['lock', '--json', manifest, '-o', file])).stdout) as object;
    expect(written).not.toHaveProperty('text');
  });

  it('a lock piped on: `lock -o -` holds full paths, `--lock -` and `lock -` read stdin, `--lock ""` is refused', async () => {
    await ensureBuilt();
    const cli = path.join(projectRoot, 'dist/cli/main.cjs');
    const work = await fresh('sideload-cli-lockpipe-');
    await fs.mkdir(path.join(work, 'locks'));
    await fs.mkdir(path.join(work, 'drive'));
    const sh = (script: string) =>
      run('sh', ['-c', script, 'sh', process.execPath, cli, path.join(EX, 'media.yaml')], { env: { W: work } });
    // Written to stdout from another directory, then read from a file elsewhere: its paths used to be relative to
    // the directory it was made in ("source repo '…/locks/…/examples/repo' does not exist", exit 3).
    const piped = await sh(
      'cd "$W" && "$1" "$2" lock "$3" -o - > locks/m.lock && "$1" "$2" create --lock locks/m.lock --dry-run -q drive',
    );
    expect(piped.code, piped.stderr).toBe(0);
    const text = await fs.readFile(path.join(work, 'locks/m.lock'), 'utf8');
    expect(text).toContain(`repo: ${path.join(EX, 'repo')}`);
    // `--lock -` was read as `--lock ''` and the drive as a ref; now stdin, as are `lock -` and a pipe the shell names.
    const stdin = await sh('cd "$W" && "$1" "$2" create --lock - --dry-run --json drive < locks/m.lock');
    expect(stdin.code, stdin.stderr).toBe(0);
    expect((JSON.parse(stdin.stdout) as { refs: unknown[] }).refs.length).toBeGreaterThan(0);
    const bash = await run(
      'bash',
      ['-c', '"$1" "$2" create --lock <(cat "$W/locks/m.lock") --dry-run -q "$W/drive"', 'bash', process.execPath, cli],
      { env: { W: work } },
    );
    expect(bash.code, bash.stderr).toBe(0);
    const manifestIn = await sh(`cd "${EX}" && "$1" "$2" lock - -o "$W/locks/s.lock" < media.yaml`);
    expect(manifestIn.code, manifestIn.stderr).toBe(0);
    expect(await fs.readFile(path.join(work, 'locks/s.lock'), 'utf8')).toContain('repo: ../../');
    // An empty --lock (an unset $LOCK) was ignored: the run planned from the default installation and exited 0.
    const empty = await sideload(['create', '--lock', '', '--dry-run', path.join(work, 'drive'), 'org.example.App']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--lock is given an empty string');
  });

  it('usage errors with --json are a JSON error document on stdout (exit 2)', async () => {
    const r = await sideload(['create', '--json', '--bogus-flag=1', drive, 'org.example.App']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      schemaVersion: 1,
      command: 'create',
      ok: false,
      error: { code: 'EUSAGE' },
    });
    const plain = await sideload(['create', '--bogus-flag=1', drive, 'org.example.App']);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toContain('bogus-flag');
  });
});

describe('SOURCE_DATE_EPOCH', () => {
  it('a value that is not whole seconds up to the year 9999 is a usage error naming it, nothing written', async () => {
    for (const v of ['9000000000000', '99999999999999999999', 'abc', '-5', '1.5', ' 1700000000']) {
      const d = await fresh('sideload-cli-sde-');
      const r = await sideload(['create', '-q', ...fromExample, d, 'org.example.App'], {
        env: { ...process.env, SOURCE_DATE_EPOCH: v },
      });
      expect([r.code, r.stdout], v).toEqual([2, '']);
      expect(r.stderr, v).toContain(`sideload: error: SOURCE_DATE_EPOCH '${v}' is not a time sideload can write`);
      expect(await fs.readdir(d), v).toEqual([]);
    }
  });

  it('list of a drive whose summary time is past any date: one JSON document with --json, a line without', async () => {
    // Written through the library's clock: the CLI no longer writes such a drive.
    const d = await fresh('sideload-cli-far-');
    await createExampleDrive(d, { now: () => 9000000000000n });
    const j = await sideload(['list', '--json', d]);
    expect(j.code, j.stderr).toBe(0);
    // It printed the document, then an EINTERNAL one for the date the text output could not format.
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, repos: [{ lastModified: 9000000000000 }] });
    const t = await sideload(['list', d]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('updated 9000000000000 seconds after 1970 (past any date)');
  });
});

describe('--strict', () => {
  type ErrorDoc = { ok: boolean; error: { code: string; message: string; data: { warning: string } } };

  it('create: a warning (a Locale with one language) fails the run with ESTRICT naming it, the drive untouched', async () => {
    const args = ['--locales', 'de', ...fromExample];
    // A fresh drive is not written to. A drive that holds the Locales whole keeps them whole: no warning there.
    const before = await snapshotDir(drive);
    const kept = await sideload(['create', '--strict', ...args, drive, 'org.example.App']);
    expect([kept.code, kept.stderr]).toEqual([0, '']);
    expect(await snapshotDir(drive)).toEqual(before);
    const target = await fresh('sideload-cli-strict-json-');
    const json = await sideload(['create', '--strict', '--json', ...args, target, 'org.example.App']);
    expect(json.code, json.stderr).toBe(1);
    const doc = JSON.parse(json.stdout) as ErrorDoc;
    expect(doc).toMatchObject({ ok: false, error: { code: 'ESTRICT', data: { warning: 'partial-locale' } } });
    expect(doc.error.message).toMatch(
      /^--strict: warning partial-locale: '.*Locale.*' goes on the drive with languages de only/,
    );
    const human = await sideload(['create', '--strict', ...args, target, 'org.example.App']);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/^sideload: error: --strict: warning partial-locale: /);
    expect(human.stderr).not.toMatch(/^warning: /m);
    expect(await fs.readdir(target)).toEqual([]);
    const empty = await fresh('sideload-cli-strict-');
    expect((await sideload(['create', '--strict', ...args, empty, 'org.example.App'])).code).toBe(1);
    expect(await fs.readdir(empty)).toEqual([]);
    // --allow-partial quiets those warnings, strict or not; without --strict the same run passes, with its warnings.
    const quiet = await sideload([
      'create',
      '--strict',
      '--allow-partial',
      '--dry-run',
      ...args,
      empty,
      'org.example.App',
    ]);
    expect(quiet.code, quiet.stderr).toBe(0);
    const loose = await sideload(['create', '--json', ...args, empty, 'org.example.App']);
    expect(loose.code, loose.stderr).toBe(0);
    const warnings = (JSON.parse(loose.stdout) as { warnings: Array<{ code: string }> }).warnings;
    expect(warnings.map((w) => w.code)).toEqual(['partial-locale', 'partial-locale']);
  });

  it('lock: --strict fails on the same warning before the lockfile is written; --json carries the warnings', async () => {
    const dir = await fresh('sideload-cli-lock-');
    const file = path.join(dir, 'media.lock');
    const manifest = path.join(EX, 'media.yaml'); // locales: [de]
    const strict = await sideload(['lock', '--strict', '--json', manifest, '-o', file]);
    expect(strict.code, strict.stderr).toBe(1);
    expect(JSON.parse(strict.stdout) as ErrorDoc).toMatchObject({
      command: 'lock',
      error: { code: 'ESTRICT', data: { warning: 'partial-locale' } },
    });
    expect(await fs.readdir(dir)).toEqual([]);
    const loose = await sideload(['lock', '--json', manifest, '-o', file]);
    expect(loose.code, loose.stderr).toBe(0);
    const doc = JSON.parse(loose.stdout) as { warnings: Array<{ code: string; message: string }> };
    expect(doc.warnings.map((w) => w.code)).toEqual(['partial-locale', 'partial-locale']);
    expect(await fs.readdir(dir)).toEqual(['media.lock']);
  });

  it('verify: --strict fails on a warning finding (exit 6), where verify alone passes', async () => {
    // Without upstream keys the carried upstream summary is not checked: a warning finding.
    const plain = await sideload(['verify', '--json', drive]);
    expect(plain.code, plain.stdout).toBe(0);
    type Report = { ok: boolean; repos: Array<{ ok: boolean; findings: Array<{ severity: string; code: string }> }> };
    const findings = (JSON.parse(plain.stdout) as Report).repos[0]?.findings;
    expect(findings).toEqual([expect.objectContaining({ severity: 'warning', code: 'upstream-not-checked' })]);
    const strict = await sideload(['verify', '--strict', '--json', drive]);
    expect(strict.code).toBe(6);
    const report = JSON.parse(strict.stdout) as Report;
    expect([report.ok, report.repos[0]?.ok]).toEqual([false, false]);
    const human = await sideload(['verify', '--strict', drive]);
    expect(human.code).toBe(6);
    expect(human.stdout).toMatch(/^FAIL /m);
  });
});

describe('shell completion', () => {
  it('`sideload completion` prints a bash script that calls back into sideload, and the callback completes commands and options', async () => {
    const script = await sideload(['completion'], { env: { SHELL: '/bin/bash' } });
    expect(script.code).toBe(0);
    expect(script.stdout).toContain('--get-yargs-completions');
    expect(script.stdout).toContain('complete -o bashdefault -o default -F _sideload_yargs_completions sideload');
    // bash really loads it and registers the function.
    const b = await run('bash', ['-c', `eval "$(node ${q(main)} completion)"; complete -p sideload`]);
    expect(b.stdout).toContain('_sideload_yargs_completions');
    const cmds = await sideload(['--get-yargs-completions', 'sideload', '']);
    expect(cmds.stdout.split('\n')).toEqual(expect.arrayContaining(['create', 'list', 'verify', 'keygen', 'dump']));
    const opts = await sideload(['--get-yargs-completions', 'sideload', 'create', '--']);
    expect(opts.stdout.split('\n')).toEqual(expect.arrayContaining(['--gpg-import', '--upstream-key', '--sign-key']));
  });
});

describe('one form for a partial ref, and columns that line up across collections', () => {
  it('a Locale with --locales de reads `partial (de)` when added, when kept, and in list; the plan lines up with two collections', async (ctx) => {
    requireOrSkip(ctx, hasTool('ostree'), 'ostree');
    const d = await fresh('sideload-cli-2cid-');
    const first = await sideload(['create', '--locales', 'de', ...fromExample, d, 'org.example.App']);
    expect(first.code, first.stderr).toBe(0);
    // A second collection, with a longer ID, from a repo ostree makes: one runtime, bound to no collection.
    const src = await fresh('sideload-cli-other-');
    const repo = path.join(src, 'repo');
    const tree = path.join(src, 'tree');
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    const meta = '[Runtime]\nname=org.other.Runtime\n';
    await fs.writeFile(path.join(tree, 'metadata'), meta);
    await fs.writeFile(path.join(tree, 'files', 'hello'), 'hi\n');
    const ref = `runtime/org.other.Runtime/${ARCH}/stable`;
    execFileSync('ostree', [`--repo=${repo}`, 'init', '--mode=archive']);
    execFileSync('ostree', [
      `--repo=${repo}`,
      'commit',
      '-b',
      ref,
      `--tree=dir=${tree}`,
      '-s',
      'x',
      `--add-metadata-string=xa.metadata=${meta}`,
    ]);
    execFileSync('ostree', [`--repo=${repo}`, 'summary', '-u']);
    const args = [
      'create',
      '--no-fsync',
      '--no-upstream-summary',
      '--repo',
      repo,
      '--collection-id',
      'org.other.LongerCollection',
    ];
    const second = await sideload([...args, d, ref]);
    expect(second.code, second.stderr).toBe(0);
    const list = await sideload(['list', d]);
    expect(list.code, list.stderr).toBe(0);

    // Every ref line of the plan has its commit in the same column.
    const lines = second.stdout.split('\n').filter((l) => / \[[a-z-]+\]/.test(l));
    expect(lines).toHaveLength(8);
    const columns = new Set(lines.map((l) => l.search(/ [0-9a-f]{12} \[/)));
    expect([...columns], lines.join('\n')).toHaveLength(1);

    const locale = (out: string) => out.split('\n').filter((l) => l.includes('.Locale/'));
    for (const [name, out] of [
      ['added', first.stdout],
      ['kept', second.stdout],
      ['list', list.stdout],
    ] as const) {
      expect(locale(out), name).toHaveLength(2);
      for (const l of locale(out)) expect(l, name).toMatch(/ partial \(de\)( |$)/);
    }
  });
});

describe('a second --locales on a drive that holds the Locale in part', () => {
  it('the plan, the warning and --json say the union the drive will hold, not only the languages asked now', async () => {
    const d = await fresh('sideload-cli-loc2-');
    const first = await sideload(['create', '-q', '--locales', 'de', ...fromExample, d, 'org.example.App']);
    expect(first.code, first.stderr).toBe(0);
    const fr = await sideload(['create', '--locales', 'fr', ...fromExample, d, 'org.example.App']);
    expect(fr.code, fr.stderr).toBe(0);
    const locale = (out: string) => out.split('\n').filter((l) => l.includes('.Locale/'));
    expect(locale(fr.stdout)).toHaveLength(2);
    for (const l of locale(fr.stdout)) expect(l).toMatch(/ partial \(de, fr\) /);
    const warned = locale(fr.stderr);
    expect(warned).toHaveLength(2);
    for (const l of warned) expect(l).toMatch(/with languages de, fr only; clients set to es will skip it offline$/);
    const list = await sideload(['list', d]);
    for (const l of locale(list.stdout)) expect(l).toMatch(/ partial \(de, fr\)( |$)/);
    // A dry run adding es: every language is then there (no warning), and `languages` matches `subpaths`.
    const dry = await sideload([
      'create',
      '--dry-run',
      '--json',
      '--locales',
      'es',
      ...fromExample,
      d,
      'org.example.App',
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    const doc = JSON.parse(dry.stdout);
    const refs = (doc.refs as Array<Record<string, unknown>>).filter((r) => String(r['ref']).includes('.Locale/'));
    expect(refs).toHaveLength(2);
    for (const r of refs)
      expect(r).toMatchObject({
        change: 'updated',
        subpaths: ['/files/de', '/files/es', '/files/fr', '/metadata'],
        languages: ['de', 'es', 'fr'],
      });
    expect(doc.warnings).toEqual([]);
  });
});

describe('shell completion scripts for bash and zsh', () => {
  // A `sideload` on PATH, as the scripts call it.
  let bin = '';
  const withSideload = async () => {
    if (bin) return bin;
    bin = await fresh('sideload-cli-bin-');
    await fs.writeFile(path.join(bin, 'sideload'), `#!/bin/sh\nexec ${q(process.execPath)} ${q(main)} "$@"\n`, {
      mode: 0o755,
    });
    return bin;
  };

  it('`completion --help` is the help, with examples; an unknown shell is a usage error naming bash and zsh', async () => {
    const help = await sideload(['completion', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('sideload completion [shell]');
    expect(help.stdout).toContain('sideload completion zsh >> ~/.zshrc');
    expect(help.stdout).not.toContain('complete -o');
    const fish = await sideload(['completion', 'fish']);
    expect(fish.code).toBe(2);
    expect(fish.stdout).toBe('');
    expect(fish.stderr).toContain('"bash", "zsh"');
  });

  it('`completion -q` prints the script (as every command, it takes -q); `completion --json` is a usage error naming it', async () => {
    const plain = await sideload(['completion', 'bash']);
    // Before: "unknown option -q", exit 2.
    const quiet = await sideload(['completion', '-q', 'bash']);
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, plain.stdout, '']);
    expect(plain.stdout).toContain('complete -o');
    // Before: an EUSAGE document without "command" ("unknown option --json").
    const j = await sideload(['completion', '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toEqual({
      schemaVersion: 1,
      command: 'completion',
      ok: false,
      error: {
        code: 'EUSAGE',
        message: 'completion prints a shell script, not a JSON document: run it without --json',
        data: {},
      },
    });
    // A mistyped flag is offered only what completion takes: before, "did you mean --json?", which it then refused.
    const typo = await sideload(['completion', '--jsn']);
    expect([typo.code, typo.stdout]).toEqual([2, '']);
    expect(typo.stderr).toMatch(/^sideload: unknown option --jsn\n/);
    expect((await sideload(['completion', '--quit'])).stderr).toContain(
      'unknown option --quit (did you mean --quiet?)',
    );
  });

  it('`completion bash` completes in bash with plain words, even when the login shell is zsh', async () => {
    const dir = await withSideload();
    const r = await run(
      'bash',
      [
        '-c',
        'eval "$(sideload completion bash)"; COMP_WORDS=(sideload create --js); COMP_CWORD=2; ' +
          '_sideload_yargs_completions; printf "<%s>\\n" "${COMPREPLY[@]}"',
      ],
      { env: { PATH: `${dir}:${process.env['PATH']}`, SHELL: '/usr/bin/zsh' } },
    );
    expect(r.stdout).toBe('<--json>\n');
  });

  it('`completion zsh` is a zsh script that completes commands, options, shells and (where a path goes) files', async (ctx) => {
    requireOrSkip(ctx, hasTool('zsh'), 'zsh');
    const dir = await withSideload();
    const script = path.join(dir, '_sideload');
    const z = await sideload(['completion', 'zsh'], { env: { SHELL: '/bin/bash' } });
    expect(z.code, z.stderr).toBe(0);
    await fs.writeFile(script, z.stdout);
    expect((await run('zsh', ['-n', script])).code).toBe(0);
    // Typed into an interactive zsh (zpty) with Tab, then the line echoed: what completion made of it.
    await fs.mkdir(path.join(dir, 'drive-one'));
    const driver = [
      'zmodload zsh/zpty',
      "zpty z 'EDITOR= VISUAL= TERM=dumb zsh -f -i'",
      `zpty -w z "PS1='> '; autoload -U compinit; compinit -u -D; source ${q(script)}"`,
      'for line in "$@"; do',
      // The Tab's completion runs sideload; the line is echoed once it is done (up to 15 s on a loaded machine).
      `  zpty -w -n z "$line"$'\\t'; sleep 1.5`,
      "  for i in {1..28}; do pgrep -f 'get-yargs-completion[s]' >/dev/null || break; sleep 0.5; done",
      `  sleep 0.5; zpty -w z $'\\x01echo LINE:'`,
      'done',
      `zpty -w z "echo EN''D:"`,
      "zpty -r z out '*END:*'",
      'zpty -d z',
      'print -r -- "$out"',
    ].join('\n');
    const lines = [
      'sideload li',
      'sideload create --js',
      'sideload completion z',
      'sideload list dr',
      'sideload create --repo=dr',
      'sideload create --extensions lo',
    ];
    const r = await run('zsh', ['-f', '-c', driver, 'zsh', ...lines], {
      cwd: dir,
      env: { PATH: `${dir}:${process.env['PATH']}` },
      timeoutMs: 110_000,
    });
    const echoed = r.stdout
      .split(/\r?\n/)
      .filter((l) => l.startsWith('LINE:'))
      .map((l) => l.slice(5).trim());
    expect(echoed).toEqual([
      'sideload list',
      'sideload create --json',
      'sideload completion zsh',
      'sideload list drive-one',
      // It beeped: yargs answered every option for `--repo=dr`, and zsh matched none of them.
      'sideload create --repo=drive-one',
      // It offered file names.
      'sideload create --extensions locale',
    ]);
  }, 130_000);
});

describe('shell completion', () => {
  const complete = async (...words: string[]) =>
    (await sideload(['--get-yargs-completions', 'sideload', ...words])).stdout.split('\n').filter(Boolean);
  it('commands first, options after a dash, and no words where a path goes (the shell then completes file names)', async () => {
    expect(await complete('')).toEqual(expect.arrayContaining(['create', 'list', 'verify']));
    expect(await complete('li')).toContain('list');
    // A drive, a ref or a file: nothing, so bash's `-o default` completes file names (it offered every option).
    expect(await complete('list', '')).toEqual([]);
    expect(await complete('create', 'DRIVE', '')).toEqual([]);
    expect(await complete('create', '--repo', '')).toEqual([]);
    expect(await complete('verify', '--drive-key', '')).toEqual([]);
    const options = await complete('create', '-');
    expect(options).toEqual(expect.arrayContaining(['--repo', '--json', '-v']));
    expect(options.filter((o) => /^--.$/.test(o))).toEqual([]); // it offered --v, --u, --q
  });
});

/**
 * Rewrites a drive's ostree-metadata commit so that `sideload.subpaths` holds each partial ref's subpaths in reverse
 * byte order (`/metadata` first), as sideload recorded them before it sorted them.
 */
async function recordSubpathsReversed(drive: string): Promise<void> {
  const repo = await Repo.open(path.join(drive, '.ostree/repo'));
  const [meta] = (await repo.listRefs('mirrors')).filter((r) => r.location.ref === 'ostree-metadata');
  const loc = meta?.location as RefLocation;
  const { commit } = await repo.readCommit((await repo.readRef(loc)) as string);
  const metadata = commit.metadata.map(([k, val]): [string, Variant] =>
    k === SIDELOAD_SUBPATHS_KEY
      ? [
          k,
          new Variant(
            val.type,
            (val.value as Array<[string, string[]]>).map(([r, sp]) => [r, [...sp].sort().reverse()]),
          ),
        ]
      : [k, val],
  );
  const bytes = encodeCommit({ ...commit, metadata });
  const checksum = createHash('sha256').update(bytes).digest('hex');
  await fs.mkdir(path.dirname(repo.objectFile(checksum, 'commit')), { recursive: true });
  await fs.writeFile(repo.objectFile(checksum, 'commit'), bytes);
  await repo.writeRef(loc, checksum);
}
