/** Typed progress events the library emits (it never writes to the console). */
export interface ProgressEvent {
  /**
   * 'copy': create and update copying objects into the drive's staging area; 'publish': the journaled publish
   * moving them in; 'verify': verify re-hashing the drive's objects.
   */
  readonly phase: 'copy' | 'publish' | 'verify';
  readonly objectsDone: number;
  readonly objectsTotal?: number;
  readonly bytesDone: number;
  readonly bytesTotal?: number;
  /** While copying: the ref being copied, and its place in the plan (1-based). */
  readonly ref?: string;
  readonly refIndex?: number;
  readonly refCount?: number;
  /**
   * How far the phase is (0 to 1, never going back), where the library can weigh it: the copy, by the refs'
   * download sizes (copy-progress.ts); verify, by the object directories read (repo/list.ts) and within a large
   * object by its bytes read (verify-objects.ts; verify's bytesDone: the objects' bytes on the drive). Absent where
   * only objects can be counted.
   */
  readonly fraction?: number;
  /** What the phase is doing while there is nothing to count (the progress line shows it). */
  readonly detail?: string;
}

export type ProgressCallback = (e: ProgressEvent) => void;
