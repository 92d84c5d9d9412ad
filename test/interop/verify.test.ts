/**
 * A drive made by `sideload create --sign-key` (two runs, so the ostree-metadata commit has a parent) from the
 * GPG-signed example repo, checked by the real tools: ostree show/log/fsck read it, the carried upstream summary
 * is byte-identical to the source's and its GPG signatures check with gpgv, ostree and flatpak, the drive's
 * ed25519 signatures check with openssl, flatpak installs from it offline; then `sideload verify` passes it and
 * fails each kind of damage with its own finding naming the path, and `verify --json` / `list --json` carry the facts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSignatures } from '../../src/sign/index.js';
import { swap64 } from '../../src/ostree/endian.js';
import { objectPath, type ObjectType } from '../../src/ostree/object.js';
import {
  ARCH,
  CID,
  describeInterop,
  flatpakEnv,
  installedCommits,
  makeExampleRepo,
  offlineInstall,
  remoteAdd,
  run,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
  type RunResult,
} from '../helpers/flatpak-fixtures.js';
import { fsck } from '../helpers/fsck.js';
import { mirrorRefs } from './create-helpers.js';

const UPSTREAM = `extensions/sideload/upstream/${CID}`;
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

interface Finding {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  path?: string;
}
interface VerifyJson {
  ok: boolean;
  repos: Array<{
    repo: string;
    ok: boolean;
    refs: number;
    objects: number;
    collections: string[];
    findings: Finding[];
  }>;
}

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, r)));
    else out.push(r);
  }
  return out.sort();
}

/** An object's path in the drive's (archive) repo. */
const objPath = (checksum: string, type: ObjectType) => objectPath(checksum, type, 'archive');

/** A new archive repo with the remote `up` at `url`, its summary checked against `gpgKey` (gpg-verify-summary). */
async function ostreeClient(url: string, gpgKey: string): Promise<string> {
  const client = path.join(await tempDir('sideload-upclient-'), 'repo');
  await runOk('ostree', ['init', `--repo=${client}`, '--mode=archive']);
  await runOk('ostree', [
    'remote',
    'add',
    `--repo=${client}`,
    `--gpg-import=${gpgKey}`,
    '--set=gpg-verify-summary=true',
    'up',
    url,
  ]);
  return client;
}

async function flipByte(file: string, at: (len: number) => number): Promise<void> {
  const b = await fs.readFile(file);
  const i = at(b.length);
  b[i] = (b[i] as number) ^ 0x01;
  await fs.writeFile(file, b);
}

/** `ostree show --print-metadata-key` text, trimmed. */
const metaKey = (repo: string, commit: string, key: string) =>
  runOk('ostree', ['show', `--repo=${repo}`, `--print-metadata-key=${key}`, commit]).then((s) => s.trim());

describeInterop('a signed drive against ostree, gpg, openssl and flatpak; sideload verify and list', () => {
  let ex: ExampleRepo;
  let work: string;
  let drive: string;
  let repo: string;
  let keyFile: string;
  let pubFile: string;
  let otherPubFile: string;
  let refs: Map<string, string>; // `cid ref` → commit, from refs/mirrors
  let meta: string; // the ostree-metadata commit
  let firstMeta: string; // the one of the first run (its parent)

  beforeAll(async () => {
    ex = await makeExampleRepo();
    work = await tempDir('sideload-verify-');
    drive = path.join(work, 'drive');
    repo = path.join(drive, '.ostree/repo');
    keyFile = path.join(work, 'drive.key');
    pubFile = `${keyFile}.pub`;
    otherPubFile = path.join(work, 'other.key.pub');
    await fs.mkdir(drive);
    for (const args of [
      ['keygen', '-o', keyFile],
      ['keygen', '-o', path.join(work, 'other.key')],
    ]) {
      const r = await sideload(args);
      expect(r.code, r.stderr).toBe(0);
    }
    const create = (ref: string) =>
      sideload([
        'create',
        '--repo',
        ex.repo,
        '--gpg-import',
        ex.gpgKey,
        '--sign-key',
        keyFile,
        '--no-fsync',
        '-q',
        drive,
        ref,
      ]);
    // First run: the runtime alone; the second adds the app, so its ostree-metadata commit has a parent.
    let r = await create(`runtime/org.example.Platform/${ARCH}/stable`);
    expect(r.code, r.stderr).toBe(0);
    firstMeta = (await fs.readFile(path.join(repo, 'refs/mirrors', CID, 'ostree-metadata'), 'utf8')).trim();
    r = await create('org.example.App');
    expect(r.code, r.stderr).toBe(0);
    refs = await mirrorRefs(repo);
    meta = refs.get(`${CID} ostree-metadata`) as string;
    expect(meta).toMatch(/^[0-9a-f]{64}$/);
  });

  const appRefs = () => [...refs.keys()].map((k) => k.slice(CID.length + 1)).filter((r) => /^(app|runtime)\//.test(r));

  describe('the real tools read the drive', () => {
    it('ostree show reads the ostree-metadata commit; ostree log shows the first run as its parent', async () => {
      const shown = await runOk('ostree', ['show', `--repo=${repo}`, meta]);
      expect(shown).toMatch(new RegExp(`^commit ${meta}$`, 'm'));
      const log = await runOk('ostree', ['log', `--repo=${repo}`, meta]);
      expect([...log.matchAll(/^commit ([0-9a-f]{64})$/gm)].map((m) => m[1])).toEqual([meta, firstMeta]);
      expect(await metaKey(repo, meta, 'ostree.collection-binding')).toBe(`'${CID}'`);
      expect(await metaKey(repo, meta, 'ostree.ref-binding')).toBe("['ostree-metadata']");
    });

    it('sideload.refs, as ostree prints it, is the ref → commit map of refs/mirrors with the commit sizes', async () => {
      const text = await metaKey(repo, meta, 'sideload.refs');
      const printed = new Map<string, { size: bigint; checksum: string }>();
      for (const m of text.matchAll(/\('([^']+)', \((?:uint64 )?(\d+), \[(?:byte )?([0-9a-fx, ]+)\]/g)) {
        const checksum = (m[3] as string)
          .split(', ')
          .map((h) => h.replace('0x', ''))
          .join('');
        // ostree prints commit metadata byte-swapped (it is big-endian); the summary's commit size is native.
        printed.set(m[1] as string, { size: swap64(BigInt(m[2] as string)), checksum });
      }
      const expected = [...refs]
        .filter(([k]) => !k.endsWith(' ostree-metadata'))
        .map(([k, c]) => [k.slice(CID.length + 1), c] as const);
      expect([...printed.keys()].sort()).toEqual(expected.map(([r]) => r).sort());
      for (const [ref, commit] of expected) {
        expect(printed.get(ref)?.checksum, ref).toBe(commit);
        expect(printed.get(ref)?.size, ref).toBe(
          BigInt((await fs.stat(path.join(repo, objPath(commit, 'commit')))).size),
        );
      }
    });

    it("xa.cache, as ostree prints it, holds each app/runtime's sizes and metadata from its commit, and nothing else", async () => {
      const text = await metaKey(repo, meta, 'xa.cache');
      const keys = [...text.matchAll(/'((?:app|runtime|appstream2?)\/[^']+)': \(/g)].map((m) => m[1]);
      expect(keys.sort()).toEqual(appRefs().sort());
      for (const ref of appRefs()) {
        const c = refs.get(`${CID} ${ref}`) as string;
        const [inst, dl, md = ''] = await Promise.all(
          ['xa.installed-size', 'xa.download-size', 'xa.metadata'].map((k) =>
            metaKey(repo, c, k).then((v) => v.replace(/^uint64 /, '')),
          ),
        );
        const entry = `'${ref}': \\((uint64 )?${inst}, (uint64 )?${dl}, ${md.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`;
        expect(text, ref).toMatch(new RegExp(entry));
      }
    });

    it('ostree fsck passes', async () => {
      expect(await fsck(repo)).toMatch(/completed successfully - no errors found/);
    });

    it('ostree summary --view lists exactly the refs under refs/mirrors, ostree-metadata at its commit', async () => {
      const view = await runOk('ostree', ['summary', '--view', `--repo=${repo}`]);
      const listed = [...view.matchAll(/^\* \(([^,]+), (.+)\)\n\s+Latest Commit \(.*\):\n\s+([0-9a-f]{64})$/gm)].map(
        (m) => [`${m[1]} ${m[2]}`, m[3]],
      );
      expect(new Map(listed as Array<[string, string]>)).toEqual(refs);
    });
  });

  describe('the carried upstream summary', () => {
    it('is byte for byte the source repo’s summary, summary.sig, summary.idx, summary.idx.sig and summaries/*', async () => {
      const src = (await filesUnder(ex.repo)).filter((f) => /^summary(\.idx)?(\.sig)?$|^summaries\//.test(f));
      expect(src).toEqual(expect.arrayContaining(['summary', 'summary.sig', 'summary.idx', 'summary.idx.sig']));
      expect(src.some((f) => f.startsWith('summaries/'))).toBe(true);
      const carried = (await filesUnder(path.join(repo, UPSTREAM))).filter((f) => f !== 'sideload.json');
      expect(carried).toEqual(src);
      for (const f of src)
        expect(
          createHash('sha256')
            .update(await fs.readFile(path.join(repo, UPSTREAM, f)))
            .digest('hex'),
          f,
        ).toBe(
          createHash('sha256')
            .update(await fs.readFile(path.join(ex.repo, f)))
            .digest('hex'),
        );
      // The index's subsummary is there under its digest.
      const gz = carried.find((f) => /^summaries\/[0-9a-f]{64}\.gz$/.test(f)) as string;
      expect(
        createHash('sha256')
          .update(gunzipSync(await fs.readFile(path.join(repo, UPSTREAM, gz))))
          .digest('hex'),
      ).toBe(gz.slice('summaries/'.length, -3));
    });

    it('its GPG signatures (ostree.gpgsigs of summary.sig and summary.idx.sig) check with gpgv and the upstream key', async () => {
      const dir = await tempDir('sideload-gpgv-');
      for (const f of ['summary', 'summary.idx']) {
        const sigs = readSignatures(
          new Uint8Array(await fs.readFile(path.join(repo, UPSTREAM, `${f}.sig`))),
          'ostree.gpgsigs',
        );
        expect(sigs.length, f).toBeGreaterThan(0);
        await fs.writeFile(path.join(dir, `${f}.gpgsig`), Buffer.concat(sigs));
        const good = await run(
          'gpgv',
          ['--keyring', path.resolve(ex.gpgKey), path.join(dir, `${f}.gpgsig`), path.join(repo, UPSTREAM, f)],
          { env: { GNUPGHOME: dir } },
        );
        expect(good.code, good.stderr).toBe(0);
        expect(good.stderr).toContain('Good signature');
        // The same signature over one flipped byte fails: gpgv checks these very bytes.
        await fs.copyFile(path.join(repo, UPSTREAM, f), path.join(dir, f));
        await flipByte(path.join(dir, f), (n) => n >> 1);
        const bad = await run(
          'gpgv',
          ['--keyring', path.resolve(ex.gpgKey), path.join(dir, `${f}.gpgsig`), path.join(dir, f)],
          { env: { GNUPGHOME: dir } },
        );
        expect(bad.code).not.toBe(0);
        expect(bad.stderr).toContain('BAD signature');
      }
    });

    it('is a catalogue ostree (gpg-verify-summary) and flatpak (summary.idx + subsummary, GPG) read as a remote', async () => {
      const client = await ostreeClient(`file://${path.join(repo, UPSTREAM)}`, ex.gpgKey);
      const summary = await runOk('ostree', ['remote', 'summary', `--repo=${client}`, 'up']);
      expect(summary).toContain(`(${CID}, app/org.example.App/`);
      const f = await flatpakEnv();
      await remoteAdd(f, 'up', `file://${path.join(repo, UPSTREAM)}`, ex.gpgKey, { collectionId: null });
      const ls = await f.flatpakOk(['--user', 'remote-ls', '--all', '--columns=ref,commit', 'up']);
      const src = await runOk('ostree', ['rev-parse', `--repo=${ex.repo}`, `app/org.example.App/${ARCH}/stable`]);
      expect(ls).toMatch(new RegExp(`app/org\\.example\\.App/\\S+/stable\\s+${src.trim().slice(0, 12)}`));
    });
  });

  describe('the drive signatures', () => {
    const opensslVerify = async (data: string, sig: Uint8Array, pub: string) => {
      const dir = await tempDir('sideload-ossl-');
      const der = path.join(dir, 'pub.der');
      await fs.writeFile(
        der,
        Buffer.concat([SPKI_PREFIX, Buffer.from((await fs.readFile(pub, 'utf8')).trim(), 'base64')]),
      );
      await fs.writeFile(path.join(dir, 'sig'), sig);
      return run('openssl', [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        der,
        '-keyform',
        'DER',
        '-rawin',
        '-in',
        data,
        '-sigfile',
        path.join(dir, 'sig'),
      ]);
    };

    it('summary.sig holds one ed25519 signature (no GPG one) that openssl verifies over the summary bytes', async () => {
      const sigFile = new Uint8Array(await fs.readFile(path.join(repo, 'summary.sig')));
      expect(readSignatures(sigFile, 'ostree.gpgsigs')).toEqual([]);
      const sigs = readSignatures(sigFile, 'ostree.sign.ed25519');
      expect(sigs.map((s) => s.length)).toEqual([64]);
      const ok = await opensslVerify(path.join(repo, 'summary'), sigs[0] as Uint8Array, pubFile);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('Signature Verified Successfully');
      expect((await opensslVerify(path.join(repo, 'summary'), sigs[0] as Uint8Array, otherPubFile)).code).not.toBe(0);
    });

    it("the ostree-metadata commit's .commitmeta signature verifies with openssl over the .commit bytes", async () => {
      const sigs = readSignatures(
        new Uint8Array(await fs.readFile(path.join(repo, objPath(meta, 'commitmeta')))),
        'ostree.sign.ed25519',
      );
      expect(sigs.length).toBe(1);
      const ok = await opensslVerify(path.join(repo, objPath(meta, 'commit')), sigs[0] as Uint8Array, pubFile);
      expect(ok.code, ok.stderr).toBe(0);
    });
  });

  it('flatpak still installs the app offline from the drive', async () => {
    const { f, result } = await offlineInstall(ex, drive);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const installed = await installedCommits(f);
    const a = ARCH;
    expect(installed.get(`app/org.example.App/${a}/stable`)).toBe(refs.get(`${CID} app/org.example.App/${a}/stable`));
    expect(installed.get(`runtime/org.example.Platform/${a}/stable`)).toBe(
      refs.get(`${CID} runtime/org.example.Platform/${a}/stable`),
    );
  });

  describe('sideload verify', () => {
    const keyArgs = () => ['--trusted-key', pubFile, '--upstream-gpg', ex.gpgKey];

    it('passes the good drive with the keys (exit 0); --json carries the counts and no finding', async () => {
      const [r, human] = await Promise.all([
        sideload(['verify', '--json', ...keyArgs(), drive]),
        sideload(['verify', ...keyArgs(), drive]),
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as VerifyJson;
      expect(j.ok).toBe(true);
      expect(j.repos.length).toBe(1);
      const rep = j.repos[0] as VerifyJson['repos'][number];
      // `refs` counts the ostree-metadata ref too (as it always did); `flatpakRefs` and the human line do not.
      const flatpakRefs = [...refs.keys()].filter((k) => !k.endsWith(' ostree-metadata')).length;
      expect(flatpakRefs).toBe(refs.size - 1);
      expect(rep).toMatchObject({
        repo: await fs.realpath(repo).catch(() => repo),
        ok: true,
        refs: refs.size,
        flatpakRefs,
        collections: [CID],
      });
      const objects = (await filesUnder(path.join(repo, 'objects'))).length;
      expect(rep.objects).toBe(objects);
      expect(rep.findings).toEqual([]);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(
        new RegExp(
          `^OK +${repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${flatpakRefs} refs \\+ ostree-metadata, ${objects} objects, ` +
            `collections ${CID}$`,
          'm',
        ),
      );
    });

    it('passes the good drive without keys too (exit 0), warning that the signatures were not checked', async () => {
      const r = await sideload(['verify', '--json', drive]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const f = (JSON.parse(r.stdout) as VerifyJson).repos[0]?.findings ?? [];
      expect(f.filter((x) => x.severity === 'error')).toEqual([]);
      expect(f.map((x) => [x.code, x.path])).toEqual([
        ['signature-not-checked', 'summary.sig'],
        ['upstream-not-checked', UPSTREAM],
      ]);
    });

    it('fails the good drive checked against another key (exit 6): summary and ostree-metadata both named', async () => {
      const r = await sideload(['verify', '--json', '--trusted-key', otherPubFile, drive]);
      expect(r.code).toBe(6);
      const errs = ((JSON.parse(r.stdout) as VerifyJson).repos[0]?.findings ?? []).filter(
        (x) => x.severity === 'error',
      );
      expect(errs.map((x) => [x.code, x.path])).toEqual([
        ['bad-metadata-signature', objPath(meta, 'commitmeta')],
        ['bad-summary-signature', 'summary.sig'],
      ]);
    });

    interface Damage {
      name: string;
      /** Damages the copy's repo; returns the path (relative to the repo) the finding must name. */
      apply(r: string): Promise<string>;
      codes: string[];
      message: RegExp;
      keys?: boolean;
      /** ostree fsck must fail on this copy too. */
      fsckFails?: boolean;
    }

    /** A regular file of the app (its content object checksum), from `ostree ls -R -C`. */
    const appFileObject = async (r: string) => {
      const ls = await runOk('ostree', [
        'ls',
        `--repo=${r}`,
        '-R',
        '-C',
        refs.get(`${CID} app/org.example.App/${ARCH}/stable`) as string,
        '/files',
      ]);
      const line = ls.split('\n').find((l) => l.startsWith('-')) as string;
      return (line.split(/\s+/)[4] as string).trim();
    };

    const damages: Damage[] = [
      {
        name: 'a missing object',
        apply: async (r) => {
          const c = await appFileObject(r);
          await fs.rm(path.join(r, objPath(c, 'file')));
          return objPath(c, 'file');
        },
        codes: ['incomplete-ref'],
        message:
          /'app\/org\.example\.App\/[^']+' of 'org\.example\.Stable' is incomplete: 1 object missing, first objects\//,
        fsckFails: true,
      },
      {
        name: 'a missing object after ostree fsck marked its commit partial',
        apply: async (r) => {
          const c = await appFileObject(r);
          await fs.rm(path.join(r, objPath(c, 'file')));
          const out = (await run('ostree', ['fsck', `--repo=${r}`])).stderr;
          expect(out).toContain('Marking commit as partial');
          const app = refs.get(`${CID} app/org.example.App/${ARCH}/stable`) as string;
          expect(await fs.stat(path.join(r, 'state', `${app}.commitpartial`)).then(() => true)).toBe(true);
          return objPath(c, 'file');
        },
        codes: ['incomplete-ref', 'unexpected-partial'],
        message: /is marked partial but the ostree-metadata commit records it as complete/,
      },
      {
        name: 'a missing dirtree',
        apply: async (r) => {
          const app = refs.get(`${CID} app/org.example.App/${ARCH}/stable`) as string;
          const line = (await runOk('ostree', ['ls', `--repo=${r}`, '-d', '-C', app, '/files'])).trim();
          const tree = line.split(/\s+/)[4] as string;
          await fs.rm(path.join(r, objPath(tree, 'dirtree')));
          return objPath(tree, 'dirtree');
        },
        codes: ['incomplete-ref'],
        message:
          /'app\/org\.example\.App\/[^']+' of 'org\.example\.Stable' is incomplete: .*\.dirtree \(the walk stops there\)/,
        fsckFails: true,
      },
      {
        name: 'a flipped byte in a .filez',
        apply: async (r) => {
          const c = await appFileObject(r);
          await flipByte(path.join(r, objPath(c, 'file')), (n) => n - 8);
          return objPath(c, 'file');
        },
        codes: ['corrupt-object'],
        message: /content does not match its name|corrupt|invalid|incorrect/i,
        fsckFails: true,
      },
      {
        name: 'a truncated .commit',
        apply: async (r) => {
          const c = refs.get(`${CID} app/org.example.App/${ARCH}/stable`) as string;
          const p = path.join(r, objPath(c, 'commit'));
          await fs.truncate(p, Math.floor((await fs.stat(p)).size / 2));
          return objPath(c, 'commit');
        },
        codes: ['corrupt-commit', 'corrupt-object'],
        message: /cannot be read from objects\//,
        fsckFails: true,
      },
      {
        name: 'a summary listing a ref not in refs/mirrors',
        apply: async (r) => {
          const ref = `runtime/org.example.Platform.GL.default/${ARCH}/1.4`;
          await fs.rm(path.join(r, 'refs/mirrors', CID, ref));
          return `refs/mirrors/${CID}/${ref}`;
        },
        codes: ['summary-ref-missing'],
        message:
          /the summary lists 'runtime\/org\.example\.Platform\.GL\.default\/[^']+' of 'org\.example\.Stable' but refs\/mirrors\/.* does not exist/,
      },
      {
        name: 'a ref in refs/mirrors not in the summary',
        apply: async (r) => {
          const a = ARCH;
          const ref = `app/org.example.Extra/${a}/stable`;
          await fs.mkdir(path.dirname(path.join(r, 'refs/mirrors', CID, ref)), { recursive: true });
          await fs.copyFile(
            path.join(r, 'refs/mirrors', CID, `app/org.example.App/${a}/stable`),
            path.join(r, 'refs/mirrors', CID, ref),
          );
          return `refs/mirrors/${CID}/${ref}`;
        },
        codes: ['ref-not-in-summary'],
        message: /is not in the summary: clients cannot see it/,
      },
      {
        name: 'an ostree-metadata commit out of step with the summary',
        // The first run's ostree-metadata back in place, and the summary regenerated by ostree from the refs.
        apply: async (r) => {
          await fs.writeFile(path.join(r, 'refs/mirrors', CID, 'ostree-metadata'), `${firstMeta}\n`);
          await runOk('ostree', ['summary', '-u', `--repo=${r}`]);
          return `refs/mirrors/${CID}/ostree-metadata`;
        },
        codes: ['metadata-mismatch'],
        message:
          /ostree-metadata of 'org\.example\.Stable': 'app\/org\.example\.App\/[^']+' is in the summary but not in sideload\.refs/,
        keys: false,
      },
      {
        name: 'a bad drive signature',
        apply: async (r) => {
          const file = path.join(r, 'summary.sig');
          const bytes = await fs.readFile(file);
          const [sig] = readSignatures(new Uint8Array(bytes), 'ostree.sign.ed25519');
          const at = bytes.indexOf(Buffer.from(sig as Uint8Array));
          expect(at).toBeGreaterThanOrEqual(0);
          await flipByte(file, () => at + 10);
          return 'summary.sig';
        },
        codes: ['bad-summary-signature'],
        message: /summary\.sig does not verify with the trusted keys \(1 signature\(s\), none valid/,
      },
      {
        name: 'a garbage summary.sig, no key given',
        // Not what ostree writes (an a{sv}): a client holding the key refuses it, so it fails without a key too.
        apply: async (r) => {
          await fs.truncate(path.join(r, 'summary.sig'), 20);
          return 'summary.sig';
        },
        codes: ['corrupt-summary-signature'],
        message: /^summary\.sig does not decode as signatures \(.+\): a client holding the drive's key refuses/,
        keys: false,
      },
      {
        name: 'a tampered upstream summary.idx',
        apply: async (r) => {
          await flipByte(path.join(r, UPSTREAM, 'summary.idx'), (n) => n - 12);
          return UPSTREAM;
        },
        codes: ['upstream-tampered'],
        message: /summary\.idx: signature does not verify/,
      },
      {
        name: 'a tampered upstream subsummary',
        apply: async (r) => {
          const gz = (await fs.readdir(path.join(r, UPSTREAM, 'summaries'))).find((f) => f.endsWith('.gz')) as string;
          // A valid gzip of other bytes: only the digest check can catch it.
          const plain = gunzipSync(await fs.readFile(path.join(r, UPSTREAM, 'summaries', gz)));
          plain[plain.length - 1] = (plain[plain.length - 1] as number) ^ 0x01;
          const { gzipSync } = await import('node:zlib');
          await fs.writeFile(path.join(r, UPSTREAM, 'summaries', gz), gzipSync(plain));
          return UPSTREAM;
        },
        codes: ['upstream-tampered'],
        message: /subsummary '[^']+' does not match its digest/,
      },
    ];

    interface DamageReport {
      copy: string;
      repo: string;
      where: string;
      res: RunResult;
      human: RunResult;
      errs: Finding[];
    }
    /**
     * Each damage applied to its own copy of the drive and verified once (JSON and human report side by side),
     * memoized: the per-damage tests and the cross-check below share the result, and either runs alone too.
     */
    const reports = new Map<string, Promise<DamageReport>>();
    const report = (d: Damage): Promise<DamageReport> => {
      let p = reports.get(d.name);
      if (!p) {
        p = (async () => {
          const copy = path.join(work, `damaged-${d.name.replace(/\W+/g, '-')}`);
          await fs.cp(drive, copy, { recursive: true, verbatimSymlinks: true });
          const r = path.join(copy, '.ostree/repo');
          const where = await d.apply(r);
          const args = d.keys === false ? [] : keyArgs();
          const [res, human] = await Promise.all([
            sideload(['verify', '--json', ...args, copy]),
            sideload(['verify', ...args, copy]),
          ]);
          const errs =
            res.code === 6
              ? ((JSON.parse(res.stdout) as VerifyJson).repos[0]?.findings ?? []).filter((x) => x.severity === 'error')
              : [];
          return { copy, repo: r, where, res, human, errs };
        })();
        reports.set(d.name, p);
      }
      return p;
    };

    for (const d of damages) {
      it(`fails ${d.name} (exit 6), with a finding naming the path`, async () => {
        const { repo: r, where, res, human, errs } = await report(d);
        expect(res.code, res.stdout + res.stderr).toBe(6);
        const j = JSON.parse(res.stdout) as VerifyJson;
        expect(j.ok).toBe(false);
        expect([...new Set(errs.map((x) => x.code))].sort(), JSON.stringify(errs, null, 1)).toEqual(
          [...d.codes].sort(),
        );
        const main = errs.find((x) => x.path === where || x.message.includes(where));
        expect(main, `a finding naming ${where}: ${JSON.stringify(errs, null, 1)}`).toBeDefined();
        expect(
          errs.some((x) => d.message.test(x.message)),
          JSON.stringify(errs, null, 1),
        ).toBe(true);
        // The human report names the path too.
        expect(human.code).toBe(6);
        expect(human.stdout).toMatch(/^FAIL /m);
        expect(human.stdout).toContain(where);
        // ostree fsck after verify (it marks damaged commits partial).
        if (d.fsckFails) await fsck(r, 'fails');
      });
    }

    it('reports every kind of damage differently', async () => {
      const messages = new Map<string, string>();
      for (const d of damages) {
        const { copy, res, errs } = await report(d);
        expect(res.code, `${d.name}: ${res.stdout}${res.stderr}`).toBe(6);
        messages.set(d.name, errs.map((x) => `${x.code}: ${x.message.replaceAll(copy, '')}`).join('\n'));
      }
      expect(messages.size).toBe(damages.length);
      expect(new Set(messages.values()).size).toBe(damages.length);
    });

    it('the real tools agree the tampered upstream copies are bad: flatpak and ostree refuse them', async () => {
      const copy = path.join(work, 'damaged-upstream-tools');
      await fs.cp(path.join(repo, UPSTREAM), copy, { recursive: true });
      await flipByte(path.join(copy, 'summary.idx'), (n) => n - 12);
      await flipByte(path.join(copy, 'summary'), (n) => n - 12);
      const f = await flatpakEnv();
      await remoteAdd(f, 'up', `file://${copy}`, ex.gpgKey, { collectionId: null }).catch(() => undefined);
      const ls = await f.flatpak(['--user', 'remote-ls', '--all', 'up']);
      expect(ls.code).not.toBe(0);
      const client = await ostreeClient(`file://${copy}`, ex.gpgKey);
      expect((await run('ostree', ['remote', 'summary', `--repo=${client}`, 'up'])).code).not.toBe(0);
    });
  });

  it('a partial drive (--locales de): sideload.subpaths as ostree prints it, verify passes, a lost /files/de object fails', async () => {
    const pdrive = path.join(work, 'partial');
    await fs.mkdir(pdrive);
    const c = await sideload([
      'create',
      '--repo',
      ex.repo,
      '--gpg-import',
      ex.gpgKey,
      '--locales',
      'de',
      '--no-fsync',
      '-q',
      pdrive,
      'org.example.App',
    ]);
    expect(c.code, c.stderr).toBe(0);
    const prepo = path.join(pdrive, '.ostree/repo');
    const prefs = await mirrorRefs(prepo);
    const pmeta = prefs.get(`${CID} ostree-metadata`) as string;
    expect(await metaKey(prepo, pmeta, 'sideload.subpaths')).toBe(
      `{'runtime/org.example.App.Locale/${ARCH}/stable': ['/files/de', '/metadata'], 'runtime/org.example.Platform.Locale/${ARCH}/stable': ['/files/de', '/metadata']}`,
    );
    const locale = prefs.get(`${CID} runtime/org.example.Platform.Locale/${ARCH}/stable`) as string;
    expect(await fs.stat(path.join(prepo, 'state', `${locale}.commitpartial`)).then(() => true)).toBe(true);
    const good = await sideload(['verify', '--json', '--upstream-gpg', ex.gpgKey, pdrive]);
    expect(good.code, good.stdout).toBe(0);
    expect(((JSON.parse(good.stdout) as VerifyJson).repos[0]?.findings ?? []).map((f) => f.code)).toEqual([]);
    // list names the languages of each partial ref.
    const listed = await sideload(['list', pdrive]);
    expect(listed.stdout).toMatch(
      new RegExp(`runtime/org\\.example\\.Platform\\.Locale/${ARCH}/stable ${locale.slice(0, 12)} .*partial \\(de\\)`),
    );
    const lj = JSON.parse((await sideload(['list', '--json', pdrive])).stdout) as {
      repos: Array<{ collections: Array<{ refs: Array<{ ref: string; subpaths?: string[] }> }> }>;
    };
    expect(
      lj.repos[0]?.collections[0]?.refs.find((r) => r.ref.startsWith('runtime/org.example.Platform.Locale/'))?.subpaths,
    ).toEqual(['/files/de', '/metadata']);
    // One file under /files/de of the Platform locale goes missing.
    const ls = await runOk('ostree', ['ls', `--repo=${prepo}`, '-R', '-C', locale, '/files/de']);
    const obj = (ls.split('\n').find((l) => l.startsWith('-')) as string).split(/\s+/)[4] as string;
    await fs.rm(path.join(prepo, objPath(obj, 'file')));
    const bad = await sideload(['verify', '--json', pdrive]);
    expect(bad.code).toBe(6);
    const errs = ((JSON.parse(bad.stdout) as VerifyJson).repos[0]?.findings ?? []).filter(
      (f) => f.severity === 'error',
    );
    expect(errs.map((f) => [f.code, f.path])).toEqual([
      ['incomplete-ref', `refs/mirrors/${CID}/runtime/org.example.Platform.Locale/${ARCH}/stable`],
    ]);
    expect(errs[0]?.message).toContain(objPath(obj, 'file'));
  });

  describe('sideload list --json', () => {
    it('carries the refs, commits, timestamps, sizes and signature facts of the drive', async () => {
      const r = await sideload(['list', '--json', drive]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as {
        ok: boolean;
        repos: Array<{
          repo: string;
          lastModified: number;
          summarySignature: 'present' | 'absent' | 'empty' | 'damaged';
          collections: Array<{
            collectionId: string;
            upstreamSummary: boolean;
            refs: Array<{
              ref: string;
              commit: string;
              timestamp: number;
              installedSize?: number;
              downloadSize?: number;
              partial: boolean;
              commitSignature: 'present' | 'absent' | 'empty' | 'damaged';
            }>;
          }>;
        }>;
      };
      expect(j.ok).toBe(true);
      expect(j.repos.length).toBe(1);
      const rep = j.repos[0] as (typeof j.repos)[number];
      expect(rep.summarySignature).toBe('present'); // a file that exists; verify checks it
      // last-modified is the ostree-metadata commit's timestamp (drive.md §4), as ostree shows it.
      const shown = await runOk('ostree', ['show', `--repo=${repo}`, meta]);
      const date = /^Date:\s+(\S+ \S+) \+0000$/m.exec(shown)?.[1] as string;
      expect(new Date(rep.lastModified * 1000).toISOString().replace('T', ' ').replace('.000Z', '')).toBe(date);
      expect(rep.collections.map((c) => [c.collectionId, c.upstreamSummary])).toEqual([[CID, true]]);
      const listed = rep.collections[0]?.refs ?? [];
      const expected = [...refs].filter(([k]) => !k.endsWith(' ostree-metadata'));
      expect(new Map(listed.map((x) => [`${CID} ${x.ref}`, x.commit]))).toEqual(new Map(expected));
      await Promise.all(
        listed.map(async (x) => {
          const ts = await runOk('ostree', ['show', `--repo=${repo}`, x.commit]);
          const d = /^Date:\s+(\S+ \S+) \+0000$/m.exec(ts)?.[1] as string;
          expect(new Date(x.timestamp * 1000).toISOString().replace('T', ' ').replace('.000Z', ''), x.ref).toBe(d);
          expect(x.partial).toBe(false);
          // The example repo GPG-signs every commit: the .commitmeta came along.
          expect(x.commitSignature, x.ref).toBe('present');
          if (/^(app|runtime)\//.test(x.ref)) {
            expect(x.installedSize, x.ref).toBe(
              Number((await metaKey(repo, x.commit, 'xa.installed-size')).replace('uint64 ', '')),
            );
            expect(x.downloadSize, x.ref).toBe(
              Number((await metaKey(repo, x.commit, 'xa.download-size')).replace('uint64 ', '')),
            );
          }
        }),
      );
      // The human listing shows the same refs.
      const human = await sideload(['list', drive]);
      expect(human.code).toBe(0);
      expect(human.stdout).toContain('(summary.sig present, unchecked');
      for (const x of listed) expect(human.stdout).toContain(`${x.ref} ${x.commit.slice(0, 12)}`);
    });
  });
});
