/**
 * How far the copy is, as a fraction the progress bar can fill. The copy discovers objects while it walks each
 * commit, so an object count only says how many were found so far; the refs' sizes are known before the first
 * byte: flatpak's build-export records `xa.download-size` (the archive bytes of the commit) in each commit.
 * Each ref weighs its download size: finished refs count whole, the current one by the bytes copied for it (capped
 * at its weight: objects a ref shares with one before it, or already on the drive, are not copied again, so a ref
 * may end short of its weight; the fraction then jumps to the next ref's start, never back). The recorded size is
 * flatpak's count, not the copy's: it counts a file once per path, where the drive stores each content once (the
 * bench's 384 MiB mix records 227 MB for 181 MB copied, so its bar goes from ~80% to full at the end). A calibration
 * from the refs done so far was tried and dropped: the duplication differs from ref to ref. A ref with no recorded
 * size weighs nothing (flatpak's appstream commits have none, and are small); with no sized ref at all, there is no
 * fraction and the bar counts objects.
 */
export class CopyFraction {
  private readonly starts: number[] = [];
  private readonly total: number;

  /** `weights`: each ref's download size, in copy order. */
  private constructor(private readonly weights: readonly number[]) {
    let sum = 0;
    for (const w of weights) {
      this.starts.push(sum);
      sum += w;
    }
    this.total = sum;
  }

  /** Null unless some ref has a positive download size (a commit not built by flatpak has none). */
  static of(weights: ReadonlyArray<number | null>): CopyFraction | null {
    const known = weights.map((w) => (w !== null && Number.isFinite(w) && w > 0 ? w : 0));
    return known.some((w) => w > 0) ? new CopyFraction(known) : null;
  }

  /** The fraction done while ref `index` (0-based) has copied `bytes`. */
  at(index: number, bytes: number): number {
    const w = this.weights[index] ?? 0;
    return Math.min(1, ((this.starts[index] ?? this.total) + Math.min(Math.max(bytes, 0), w)) / this.total);
  }
}
