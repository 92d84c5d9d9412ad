/**
 * Drive files are world-readable whatever the umask (0644, directories 0755), as flatpak create-usb writes them.
 * Filesystems without POSIX modes (FAT through fusefat: ENOSYS; some FUSE and network mounts: EPERM, ENOTSUP)
 * refuse chmod; there every file is readable anyway, so that refusal is not an error.
 */
const NO_MODES = new Set(['ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM']);

/** Use as `.catch(noModes)` on a chmod: swallows "this filesystem has no modes", rethrows anything else. */
export function noModes(e: unknown): void {
  if (!NO_MODES.has((e as NodeJS.ErrnoException)?.code ?? '')) throw e;
}

/** fchmodSync that tolerates a filesystem without modes (for the copy workers). */
export function fchmodQuiet(fchmod: () => void): void {
  try {
    fchmod();
  } catch (e) {
    noModes(e);
  }
}
