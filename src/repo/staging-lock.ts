/**
 * The write lock of a repo's staging area (`tmp/sideload-staging.lock`: "<pid> <boot id> <start time>", the start
 * time where /proc gives it: see processStart), and the boot ID that also decides whether staged objects of an
 * interrupted run can be trusted.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FailureError } from '../errors.js';
import { writeError } from './write-error.js';
import { mkdirp } from './staged-files.js';
import { readLocalText } from '../transport/local.js';

/** The lock file, relative to the repo. */
export const LOCK_FILE = 'tmp/sideload-staging.lock';

let cachedBootId: string | null = null;
/** The kernel's boot ID (Linux), else host + boot time: staged objects are trusted only within one boot. */
export function bootId(): string {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = `${os.hostname()}-${Math.round(Date.now() / 1000 - os.uptime())}`;
    }
  }
  return cachedBootId;
}

/**
 * When process `pid` started (clock ticks after boot: field 22 of Linux's /proc/PID/stat), or null where that is
 * unknown (no /proc, the process is gone). With the pid and the boot ID it names one process: a pid is reused.
 */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses; the fields after it start at field 3.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start && /^\d+$/.test(start) ? start : null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The repos (by real path) whose lock a run in this process holds or is taking. A lock file that names our own pid
 * is live only if it is listed here: one left by an earlier process that had our pid (a crash, pid reuse) is stale.
 */
const held = new Set<string>();
/** The key each held lock was taken under, by the path it was taken with (found again if the repo is gone). */
const heldAs = new Map<string, string>();

async function lockKey(repoPath: string): Promise<string> {
  return fs.realpath(repoPath).catch(() => path.resolve(repoPath));
}

/**
 * The pid of a live process of this boot named by a lock file's text ("<pid> <boot id> [<start time>]"), or null;
 * our own pid counts if `ours`. A lock that records when its process started is stale once its pid is another
 * process's (a run killed with kill -9, its pid reused: a container's pid 1 is the host's init): without that check
 * such a lock blocked every run and verify for good, naming "another sideload process" that was none.
 */
function liveHolder(text: string, ours: boolean): number | null {
  const [pidText, boot, start] = text.trim().split(' ');
  const pid = Number(pidText);
  if (boot !== bootId() || !Number.isInteger(pid) || pid <= 0) return null;
  if (pid === process.pid) return ours ? pid : null;
  if (!pidAlive(pid)) return null;
  const now = start === undefined ? null : processStart(pid);
  return now !== null && now !== start ? null : pid;
}

/**
 * Takes the repo's write lock (a stale one is replaced). @throws FailureError ELOCKED while another process, or
 * another run in this process, holds it.
 */
export async function acquireLock(repoPath: string): Promise<void> {
  const key = await lockKey(repoPath);
  // Checked and taken with no await in between: of two runs of this process, the second finds the first here.
  if (held.has(key)) throw lockedError(repoPath, process.pid);
  held.add(key);
  try {
    await takeLockFile(repoPath);
  } catch (e) {
    held.delete(key);
    throw e;
  }
  heldAs.set(path.resolve(repoPath), key);
}

async function takeLockFile(repoPath: string): Promise<void> {
  const file = path.join(repoPath, LOCK_FILE);
  await mkdirp(path.dirname(file)).catch((e: unknown) => {
    throw writeError(e, repoPath, path.dirname(LOCK_FILE));
  });
  const start = processStart(process.pid);
  const me = `${process.pid} ${bootId()}${start === null ? '' : ` ${start}`}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, me, { flag: 'wx', mode: 0o644 });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(e, repoPath, LOCK_FILE);
    }
    // No other run of this process holds it (we do now): a lock file with our pid is an earlier process's.
    const pid = liveHolder(await readLock(repoPath), false);
    if (pid !== null) throw lockedError(repoPath, pid);
    await fs.rm(file, { force: true }); // stale lock
  }
  throw new FailureError(`cannot lock ${file}`, { path: repoPath }, 'ELOCKED');
}

export async function releaseLock(repoPath: string): Promise<void> {
  const key = heldAs.get(path.resolve(repoPath)) ?? (await lockKey(repoPath));
  try {
    await fs.rm(path.join(repoPath, LOCK_FILE), { force: true });
  } finally {
    heldAs.delete(path.resolve(repoPath));
    held.delete(key); // only once the file is gone: a run of this process must not take it as stale meanwhile
  }
}

/** Who holds a lock, for messages: "another sideload process (pid N)" or "another sideload run in this process". */
export function lockHolderName(pid: number): string {
  return pid === process.pid ? 'another sideload run in this process' : `another sideload process (pid ${pid})`;
}

function lockedError(repoPath: string, pid: number): FailureError {
  return new FailureError(
    `${lockHolderName(pid)} is writing to ${repoPath}; the drive is left to it: run again once it has finished`,
    { path: repoPath, pid },
    'ELOCKED',
  );
}

/**
 * @throws FailureError ELOCKED while another live sideload process, or another run in this process, holds the
 * repo's write lock (a dry run's check).
 */
export async function assertUnlocked(repoPath: string): Promise<void> {
  const pid = await lockHolder(repoPath);
  if (pid !== null) throw lockedError(repoPath, pid);
}

async function readLock(repoPath: string): Promise<string> {
  return (await readLocalText(path.join(repoPath, LOCK_FILE), 4096).catch(() => null)) ?? '';
}

/**
 * The pid of a live sideload process holding the repo's write lock (ours when a run in this process holds it), or
 * null (no lock, or a stale one).
 */
export async function lockHolder(repoPath: string): Promise<number | null> {
  const ours = held.has(await lockKey(repoPath));
  return liveHolder(await readLock(repoPath), ours);
}
