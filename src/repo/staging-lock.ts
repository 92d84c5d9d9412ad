/**
 * The write lock of a repo's staging area (`tmp/sideload-staging.lock`: "<pid> <boot id>"), and the boot ID that
 * also decides whether staged objects of an interrupted run can be trusted.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FailureError } from '../errors.js';
import { writeError } from './write-error.js';
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

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of a live process of this boot (not us) named by a lock file's text, or null. */
function liveHolder(text: string): number | null {
  const [pidText, boot] = text.trim().split(' ');
  const pid = Number(pidText);
  return boot === bootId() && Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) ? pid : null;
}

/**
 * Takes the repo's write lock (a stale one is replaced). @throws FailureError ELOCKED while another process holds it.
 */
export async function acquireLock(repoPath: string): Promise<void> {
  const file = path.join(repoPath, LOCK_FILE);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const me = `${process.pid} ${bootId()}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, me, { flag: 'wx', mode: 0o644 });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(e, repoPath, LOCK_FILE);
    }
    await assertUnlocked(repoPath);
    await fs.rm(file, { force: true }); // stale lock
  }
  throw new FailureError(`cannot lock ${file}`, { path: repoPath }, 'ELOCKED');
}

export async function releaseLock(repoPath: string): Promise<void> {
  await fs.rm(path.join(repoPath, LOCK_FILE), { force: true });
}

/** @throws FailureError ELOCKED while another live sideload process holds the repo's write lock (a dry run's check). */
export async function assertUnlocked(repoPath: string): Promise<void> {
  const pid = await lockHolder(repoPath);
  if (pid !== null)
    throw new FailureError(
      `another sideload process (pid ${pid}) is writing to ${repoPath}; the drive is left to it: run again once ` +
        'it has finished',
      { path: repoPath, pid },
      'ELOCKED',
    );
}

/** The pid of a live sideload process holding the repo's write lock, or null (no lock, or a stale one). */
export async function lockHolder(repoPath: string): Promise<number | null> {
  return liveHolder((await readLocalText(path.join(repoPath, LOCK_FILE), 4096).catch(() => null)) ?? '');
}
