/**
 * What the running command is doing, for the Ctrl-C handler in main.ts: an interrupt during the journaled publish
 * step does not stop it (the drive must not be left half-published), so the message must say so; a prune deletes
 * as it goes, so it stops where it is. `writingRun` keeps the phase for every command that writes a drive through a
 * plan (create, update, remove) and explains a failure with the step and the drive's state.
 */
import type { ProgressCallback, ProgressEvent } from '../usb/events.js';
import type { Source } from '../usb/source.js';
import { forCopy } from './heap.js';

export const runState: { phase: string; interrupted: boolean } = { phase: 'idle', interrupted: false };

/**
 * Runs a drive-writing call with a progress callback that records the phase (and passes events on to `show`). A
 * failure comes back with the step it failed in, whether the drive is full, whether a publish is pending and what
 * staged data was kept (usb/failure.ts). `sources`: those the run copies from (V8 is tuned for the copy: heap.ts).
 */
export async function writingRun<T>(
  drive: string,
  destinationRepo: string | undefined,
  show: ((e: ProgressEvent) => void) | undefined,
  run: (onProgress: ProgressCallback) => Promise<T>,
  sources: readonly Pick<Source, 'kind'>[] = [],
): Promise<T> {
  const local = sources.length > 0 && sources.every((s) => s.kind !== 'remote');
  try {
    return await run((e) => {
      if (e.phase === 'copy' && e.objectsDone > 0) forCopy(local); // after the copy workers have loaded (heap.ts)
      runState.phase = e.phase;
      show?.(e);
    });
  } catch (e) {
    const [{ explainCreateFailure }, { locateDrive }] = await Promise.all([
      import('../usb/failure.js'),
      import('../usb/drive.js'),
    ]);
    const repo = await locateDrive(drive, destinationRepo).then(
      (l) => l.repo,
      () => null,
    );
    throw repo ? await explainCreateFailure(e, { repo, phase: runState.phase }) : e;
  } finally {
    runState.phase = 'idle';
  }
}
