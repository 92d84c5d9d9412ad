// Where the bench writes its targets: by default (as root) a fresh ext4 filesystem with a journal, made for this run
// on a loop device, as on a freshly formatted USB stick; otherwise a plain directory under --work.
//
// Why: this machine's disk is ext4 without a journal. There, an inode creation skips every free inode deleted less
// than 60 s ago (360 s while its inode-table block is dirty, which a neighbour's creation makes it again), one
// buffer-cache lookup each, scanning from the start of the group (recently_deleted in fs/ext4/ialloc.c; journalled
// ext4 never does this). After a round's targets are deleted, the next round paid for it: with the plain directory
// and a 65 s wait, `perf` put 14% of sideload's CPU in recently_deleted, and create-usb ran 1.4x slower with a 32 s
// wait than with 65 s (7.15 against 5.16 s). Media that are nobody's scratch space do not have that history.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { hasCommand, log, run, runOk } from './proc.mjs';

/**
 * Prepares `<work>/targets` for `o.media` ('auto', 'ext4' or 'dir'), with room for `neededMb` MiB at once.
 * @returns { kind, describe, settles, release() }: `settles` true when rounds must wait out the deletion window
 * (runner.mjs settle()).
 */
export async function prepareMedia(o, neededMb) {
  const targets = path.join(o.work, 'targets');
  await releaseStale(targets);
  await fsp.rm(targets, { recursive: true, force: true });
  await fsp.mkdir(targets, { recursive: true });
  const canLoop =
    process.getuid?.() === 0 &&
    (await hasCommand('mkfs.ext4')) &&
    (await hasCommand('mount')) &&
    (await hasCommand('umount'));
  if (o.media === 'ext4' && !canLoop) throw new Error('--media ext4 needs root, mkfs.ext4 and mount');
  if (o.media === 'dir' || !canLoop) {
    if (o.media === 'auto')
      log('targets in a plain directory (not root, or no mkfs.ext4): see scripts/bench/media.mjs');
    return {
      kind: 'dir',
      describe: `a directory on the work disk (${targets})`,
      settles: true,
      release: async () => {
        if (!o.keep) await fsp.rm(targets, { recursive: true, force: true });
      },
    };
  }
  // A sparse file: only what is written takes room on the work disk.
  const bytes = Math.max(4 * 1024, Math.ceil(neededMb * 1.25)) * 1024 * 1024;
  const image = path.join(o.work, 'media.img');
  await fsp.rm(image, { force: true });
  await fsp.writeFile(image, '');
  await fsp.truncate(image, bytes);
  await runOk('mkfs.ext4', ['-q', '-F', '-L', 'sideload-bench', image]);
  await runOk('mount', ['-o', 'loop', image, targets]);
  log(`targets on a fresh ext4 filesystem (journal; ${(bytes / 2 ** 30).toFixed(0)} GiB, loop device) at ${targets}`);
  const throttle = fs.existsSync(BLKIO_WRITE_BPS) ? throttler(targets) : null;
  if (o.writeMbps) {
    if (!throttle) throw new Error(`--write-mbps needs cgroup v1's ${BLKIO_WRITE_BPS}`);
    throttle(o.writeMbps);
  }
  return {
    kind: o.writeMbps ? `ext4-loop-${o.writeMbps}MBps` : 'ext4-loop',
    describe:
      'a fresh ext4 filesystem with a journal on a loop device (as a formatted USB stick)' +
      (o.writeMbps ? `, writes throttled to ${o.writeMbps} MB/s` : ''),
    settles: false,
    // Sets the media's write limit in MB/s (0: none), for cases that run on slow media (peers.mjs `mbps`).
    throttle,
    release: async () => {
      throttle?.(0);
      if (o.keep) return log(`--keep: ${targets} stays mounted (umount ${targets}; rm ${image})`);
      await runOk('umount', [targets]);
      await fsp.rm(image, { force: true });
      await fsp.rm(targets, { recursive: true, force: true });
    },
  };
}

const BLKIO_WRITE_BPS = '/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device';

/**
 * A function that limits writes to the block device mounted at `dir` to `mbps` MB/s (0: no limit), for every process
 * in the root blkio cgroup (cgroup v1 charges buffered writeback there too), as on a USB stick.
 */
function throttler(dir) {
  const mount = mountAt(dir);
  if (!mount) throw new Error(`${dir} is not mounted`);
  const rdev = fs.statSync(mount[0]).rdev;
  const dev = `${(rdev >> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
  return (mbps) => {
    fs.writeFileSync(BLKIO_WRITE_BPS, `${dev} ${Math.round(mbps * 1e6)}`);
    if (mbps) log(`writes to ${mount[0]} (${dev}) throttled to ${mbps} MB/s`);
  };
}

/** The /proc/mounts entry (its fields: source, mount point, type …) mounted at `dir`, or null. */
function mountAt(dir) {
  const mounts = fs.existsSync('/proc/mounts') ? fs.readFileSync('/proc/mounts', 'utf8') : '';
  return (
    mounts
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => f[1] === dir) ?? null
  );
}

/** An earlier bench that died with its filesystem mounted. */
async function releaseStale(targets) {
  if (mountAt(targets)) await run('umount', [targets]);
}
