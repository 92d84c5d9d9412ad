/**
 * Records of GPG checks that passed, kept per user, so that a run meeting the same bytes again (a re-run: the same
 * upstream summary, signatures and keyring) does not load OpenPGP.js to check them once more: loading it was ~33 ms of
 * a ~130 ms re-run with nothing new (docs/benchmark.md, round 17).
 *
 * A record is named by the SHA-256 of everything the check's answer depends on: a domain string (this format's
 * version and OpenPGP.js's, so a library update that changes what it accepts checks again), the keyrings, the data
 * and the signatures, each length-prefixed. It holds the key that verified and the time window the answer holds for:
 * from the signature's creation to the first of the signature's and the signing keys' expiry. A record is used only
 * inside that window, so an expired key or signature is checked again (and refused) as without records; a revocation
 * added to a keyring changes the keyring's bytes, so the name. Only passes are recorded.
 *
 * The records are trusted as the keyrings they stand beside are (a flatpak installation's `<remote>.trustedkeys.gpg`
 * is the user's own file): a record is read only from directories and files this user owns and nobody else may
 * write to, never through a symlink, and at most 4 KiB of it. Anything else, or anything unreadable, is no record.
 * The directory is $SIDELOAD_CACHE_DIR, else $XDG_CACHE_HOME/sideload, else ~/.cache/sideload; SIDELOAD_CACHE_DIR=off
 * keeps none. Writing one is best effort: a read-only home costs the next run the check, nothing else.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface CheckRecord {
  /** The fingerprint of the key that verified. */
  readonly keyId: string;
  /** The signature's creation time, ms since the epoch: before it, the record is not used. */
  readonly notBefore: number;
  /** The first expiry among the signature and its signing keys, ms since the epoch; null: none expires. */
  readonly notAfter: number | null;
}

const SUBDIR = 'gpg-checks';
const MAX_RECORD = 4096;
/** Records kept before the oldest go: a summary that changes daily leaves ~365 a year. */
const MAX_RECORDS = 1000;
const NAME = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9A-F]{16,64}$/;

/** The records' directory, or null when records are off. */
export function recordsDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const set = env['SIDELOAD_CACHE_DIR'];
  if (set === 'off') return null;
  if (set) return path.resolve(set, SUBDIR);
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg) return path.resolve(xdg, 'sideload', SUBDIR);
  let home = env['HOME'];
  try {
    home ||= os.homedir();
  } catch {
    return null; // no home directory: no records
  }
  return path.resolve(home, '.cache', 'sideload', SUBDIR);
}

/** The record name for one check: SHA-256 over the domain and each part, each part length-prefixed. */
export function recordName(
  domain: string,
  keyrings: readonly Uint8Array[],
  data: Uint8Array,
  signatures: readonly Uint8Array[],
): string {
  const h = createHash('sha256');
  const part = (b: Uint8Array): void => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(b.length));
    h.update(len).update(b);
  };
  part(Buffer.from(domain, 'utf8'));
  for (const list of [keyrings, [data], signatures]) {
    part(Buffer.from(String(list.length)));
    for (const b of list) part(b);
  }
  return h.digest('hex');
}

/** Owned by this user (where there are users) and writable by nobody else. */
function ownPrivate(st: { uid: number; mode: number }): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

/** `dir` and its parent are directories (not symlinks) of this user's that nobody else may write to. */
async function privateDirs(dir: string): Promise<boolean> {
  for (const d of [path.dirname(dir), dir]) {
    const st = await fs.lstat(d);
    if (!st.isDirectory() || !ownPrivate(st)) return false;
  }
  return true;
}

/** The record `name` in `dir` when it is there, trustworthy, well-formed, for this name, and holds at `now`. */
export async function readRecord(dir: string, name: string, now = Date.now()): Promise<CheckRecord | null> {
  if (!NAME.test(name)) return null;
  try {
    if (!(await privateDirs(dir))) return null;
    const C = fs.constants;
    const fh = await fs.open(path.join(dir, name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK); // a FIFO: no wait
    let text: string;
    try {
      const st = await fh.stat();
      if (!st.isFile() || !ownPrivate(st) || st.size > MAX_RECORD) return null;
      const buf = Buffer.alloc(MAX_RECORD + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_RECORD) return null;
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
    const r = parseRecord(text, name);
    return r && now >= r.notBefore && (r.notAfter === null || now < r.notAfter) ? r : null;
  } catch {
    return null;
  }
}

function parseRecord(text: string, name: string): CheckRecord | null {
  const v = JSON.parse(text) as unknown;
  const time = (t: unknown): t is number => typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;
  if (typeof v !== 'object' || v === null) return null;
  const { v: version, name: named, keyId, notBefore, notAfter } = v as Record<string, unknown>;
  if (version !== 1 || named !== name) return null;
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId) || !time(notBefore)) return null;
  if (notAfter !== null && !time(notAfter)) return null;
  return { keyId, notBefore, notAfter };
}

/**
 * Writes the record (mode 0600, through a temp file and a rename) where readRecord would trust it, else nowhere;
 * failures are ignored.
 */
export async function writeRecord(dir: string, name: string, record: CheckRecord): Promise<void> {
  if (!NAME.test(name)) return;
  const tmp = path.join(dir, `.${name}.${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
    await fs.mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    if (!(await privateDirs(dir))) return; // a record there would never be read: write none
    const C = fs.constants;
    const fh = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(JSON.stringify({ v: 1, name, ...record }));
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path.join(dir, name));
    await trim(dir);
  } catch {
    await fs.rm(tmp, { force: true }).catch(() => {});
  }
}

/** Past MAX_RECORDS, removes the oldest records (by modification time) down to half of it. */
async function trim(dir: string): Promise<void> {
  const names = (await fs.readdir(dir)).filter((n) => NAME.test(n));
  if (names.length <= MAX_RECORDS) return;
  const aged = await Promise.all(
    names.map(async (n) => ({ n, t: (await fs.lstat(path.join(dir, n)).catch(() => null))?.mtimeMs ?? 0 })),
  );
  aged.sort((a, b) => a.t - b.t);
  for (const { n } of aged.slice(0, names.length - MAX_RECORDS / 2)) await fs.rm(path.join(dir, n), { force: true });
}
