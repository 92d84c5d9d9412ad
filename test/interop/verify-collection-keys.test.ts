/**
 * `verify --gpg-import COLLECTION_ID=FILE`: a drive of two upstreams, each with its own throwaway GPG key (the
 * example flatpak repo, org.example.Stable, and an ostree OS repo, org.example.Os), is checked with each upstream's
 * own key. Keys given for every collection (plain FILE) cannot tell a collection signed by the other upstream's key:
 * the drive whose org.example.Os commit and summary are signed with the example key passes with both keys given
 * plainly, and fails with the keys given per collection.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import {
  CID,
  describeInterop,
  makeExampleRepo,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';

const OS_CID = 'org.example.Os';
const OS_REF = 'os/example/x86_64/stable';

interface Key {
  home: string;
  fpr: string;
  pub: string;
}

const gpg = (home: string, args: readonly string[]) =>
  runOk('gpg', ['--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);

async function keyIn(home: string, pub: string): Promise<Key> {
  const colons = await gpg(home, ['--list-secret-keys', '--with-colons']);
  const fpr = (colons.split('\n').find((l) => l.startsWith('fpr:')) as string).split(':')[9] as string;
  await runOk('sh', ['-c', 'gpg --homedir "$0" --batch --export "$1" > "$2"', home, fpr, pub]);
  return { home, fpr, pub };
}

/** An archive repo of collection org.example.Os with one commit of OS_REF and its summary, signed by `key`. */
async function osRepo(key: Key): Promise<string> {
  const dir = await tempDir('sideload-ckeys-os-');
  const repo = path.join(dir, 'repo');
  const tree = path.join(dir, 'tree');
  await fs.mkdir(path.join(tree, 'usr'), { recursive: true });
  await fs.writeFile(path.join(tree, 'usr/os-release'), 'NAME=example\n');
  const sign = [`--gpg-sign=${key.fpr}`, `--gpg-homedir=${key.home}`];
  await runOk('ostree', [`--repo=${repo}`, 'init', '--mode=archive', `--collection-id=${OS_CID}`]);
  await runOk('ostree', [`--repo=${repo}`, 'commit', `--branch=${OS_REF}`, '-s', 'os', ...sign, tree]);
  await runOk('ostree', [`--repo=${repo}`, 'summary', '-u', ...sign]);
  return repo;
}

/** A drive with the example app (org.example.Stable) and OS_REF from `os` (org.example.Os), from one manifest. */
async function twoCollectionDrive(ex: ExampleRepo, os: string, osKey: Key): Promise<string> {
  const work = await tempDir('sideload-ckeys-');
  const manifest = path.join(work, 'm.yaml');
  await fs.writeFile(
    manifest,
    `sources:\n  - repo: ${ex.repo}\n    gpg-import: [${ex.gpgKey}]\n    refs: [org.example.App]\n` +
      `  - repo: ${os}\n    gpg-import: [${osKey.pub}]\n    refs: [${OS_REF}]\n`,
  );
  const drive = path.join(work, 'drive');
  await fs.mkdir(drive);
  const r = await sideload(['create', '--quiet', '--no-fsync', '--manifest', manifest, drive]);
  expect(r.code, r.stderr).toBe(0);
  return drive;
}

interface VerifyJson {
  ok: boolean;
  repos: Array<{ collections: string[]; findings: Array<{ severity: string; code: string; message: string }> }>;
}

async function verifyJson(args: readonly string[]): Promise<{ code: number | null; report: VerifyJson | null }> {
  const r = await sideload(['verify', '--json', ...args]);
  return { code: r.code, report: r.stdout ? (JSON.parse(r.stdout) as VerifyJson) : null };
}

const errors = (v: { report: VerifyJson | null }) =>
  (v.report?.repos ?? []).flatMap((r) => r.findings.filter((f) => f.severity === 'error'));

describeInterop('verify with keys per collection (--gpg-import COLLECTION_ID=FILE)', () => {
  let ex: ExampleRepo;
  let exKey: Key;
  let osKey: Key;
  let good: string;
  let impostor: string;

  beforeAll(async () => {
    ex = await makeExampleRepo();
    exKey = await keyIn(path.join(ex.dir, 'gpghome'), path.join(ex.dir, 'example-again.gpg'));
    const osHome = await tempDir('sideload-ckeys-gpg-');
    await fs.chmod(osHome, 0o700);
    await gpg(osHome, ['--quick-gen-key', 'os <os@example.invalid>', 'ed25519', 'sign', 'never']);
    osKey = await keyIn(osHome, path.join(osHome, 'os.gpg'));
    // The OS collection signed by its own key, and (the impostor) by the example upstream's key.
    const [legitOs, foreignOs] = [await osRepo(osKey), await osRepo(exKey)];
    good = await twoCollectionDrive(ex, legitOs, osKey);
    impostor = await twoCollectionDrive(ex, foreignOs, exKey);
    for (const home of [osKey.home, exKey.home])
      await runOk('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']).catch(() => undefined);
  });

  const perCollection = () => ['--gpg-import', `${CID}=${ex.gpgKey}`, '--gpg-import', `${OS_CID}=${osKey.pub}`];

  it('each collection checked with its own key: the good drive passes', async () => {
    const v = await verifyJson([...perCollection(), good]);
    expect(errors(v)).toEqual([]);
    expect(v.code).toBe(0);
    expect(v.report?.repos[0]?.collections).toEqual([OS_CID, CID]);
  });

  it("a collection signed by the other upstream's key fails only with the keys given per collection", async () => {
    // Both keys for every collection: each signature is by one of them, so nothing tells the collections apart.
    const plain = await verifyJson(['--gpg-import', ex.gpgKey, '--gpg-import', osKey.pub, impostor]);
    expect(plain.code).toBe(0);
    const v = await verifyJson([...perCollection(), impostor]);
    expect(v.code).toBe(6);
    const found = errors(v);
    expect(found.map((f) => f.code).sort()).toEqual(['untrusted-commit', 'upstream-tampered']);
    for (const f of found) expect(f.message).toContain(OS_CID);
    expect(found.find((f) => f.code === 'untrusted-commit')?.message).toContain(OS_REF);
  });

  it("the keys swapped: every collection's commits, upstream summary and .flatpakrepo key are faulted", async () => {
    const v = await verifyJson(['--gpg-import', `${CID}=${osKey.pub}`, '--gpg-import', `${OS_CID}=${ex.gpgKey}`, good]);
    expect(v.code).toBe(6);
    const codes = new Set(errors(v).map((f) => f.code));
    for (const c of ['untrusted-commit', 'upstream-tampered', 'flatpakrepo-untrusted-key']) expect(codes).toContain(c);
    const untrusted = errors(v).filter((f) => f.code === 'untrusted-commit');
    expect(untrusted.some((f) => f.message.includes(`(${CID})`))).toBe(true);
    expect(untrusted.some((f) => f.message.includes(`(${OS_CID})`))).toBe(true);
  });

  it('a plain FILE still means every collection, beside the keys of one collection', async () => {
    const v = await verifyJson(['--gpg-import', ex.gpgKey, '--gpg-import', `${OS_CID}=${osKey.pub}`, good]);
    expect(errors(v)).toEqual([]);
    expect(v.code).toBe(0);
    // The example key alone for every collection: the OS collection is signed by another key.
    const only = await verifyJson(['--gpg-import', ex.gpgKey, good]);
    expect(only.code).toBe(6);
    expect(errors(only).map((f) => f.code)).toContain('untrusted-commit');
  });

  it('keys for a collection the drive does not hold: exit 2 naming it and the ones it holds', async () => {
    const r = await sideload(['verify', '--gpg-import', `org.example.Osx=${osKey.pub}`, good]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`'org.example.Osx', which the drive does not hold (its collections: ${OS_CID}, ${CID})`);
  });
});
