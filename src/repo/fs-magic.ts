/**
 * Filesystems by their statfs type (linux/magic.h), for the few decisions that depend on them: FAT limits
 * (usb/drive.ts), how to make renames durable through FUSE (staging-sync.ts), and where a directory rename is
 * trusted (publish-objects.ts).
 */
import fs from 'node:fs/promises';

export const MSDOS_MAGIC = 0x4d44;
export const EXFAT_MAGIC = 0x2011bab0;
export const FUSE_MAGIC = 0x65735546;

/** The statfs type of the filesystem holding `dir`; null when statfs fails or is not supported. */
export async function statfsType(dir: string): Promise<number | null> {
  try {
    return Number((await fs.statfs(dir)).type);
  } catch {
    return null;
  }
}
