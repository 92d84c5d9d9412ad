/**
 * cli-progress adapter: renders the library's typed progress events as a bar with objects, bytes and rate.
 * Only on a TTY and never with --json; otherwise it is a no-op.
 */
import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../usb/events.js';
import { formatBytes } from './output.js';

export interface ProgressRenderer {
  onProgress(e: ProgressEvent): void;
  stop(): void;
}

export function createProgress(enabled: boolean): ProgressRenderer {
  if (!enabled || !process.stderr.isTTY) return { onProgress: () => {}, stop: () => {} };
  let bar: cliProgress.SingleBar | null = null;
  let phase = '';
  let started = Date.now();
  return {
    onProgress(e) {
      if (e.phase !== phase) {
        bar?.stop();
        phase = e.phase;
        started = Date.now(); // the rate is per phase
        bar = new cliProgress.SingleBar(
          {
            format: `${e.phase.padEnd(8)} [{bar}] {value}/{total} objects | {bytes} | {rate} {ref}`,
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: false,
            fps: 10,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(e.objectsTotal ?? 0, e.objectsDone), e.objectsDone, { bytes: formatBytes(0), rate: '', ref: '' });
      }
      const secs = Math.max(0.001, (Date.now() - started) / 1000);
      bar?.setTotal(Math.max(e.objectsTotal ?? 0, e.objectsDone));
      const ref = e.ref ? `| ${e.refIndex}/${e.refCount} ${e.ref}` : '';
      bar?.update(e.objectsDone, { bytes: formatBytes(e.bytesDone), rate: `${formatBytes(e.bytesDone / secs)}/s`, ref });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
