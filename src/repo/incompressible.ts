/**
 * The incompressibility test of the copy workers. Already-compressed data (PNG, gzip, JPEG, fonts) costs deflate as
 * much CPU as text and gains nothing, so such parts go out as stored blocks (level 0, 5 bytes of framing per
 * 64 KiB). A part counts as incompressible when each of up to 4 evenly spread 4 KiB windows has a byte entropy
 * above 7.9 bits (random 4 KiB windows measure ~7.955; text, code and tables are far below).
 */
const HIST = new Uint32Array(256);
const WINDOW = 4096;

export function incompressible(buf: Uint8Array): boolean {
  const windows = Math.min(4, Math.floor(buf.length / WINDOW));
  if (windows === 0) return false;
  const step = windows === 1 ? 0 : Math.floor((buf.length - WINDOW) / (windows - 1));
  for (let w = 0; w < windows; w++) {
    HIST.fill(0);
    const start = w * step;
    for (let i = start; i < start + WINDOW; i++) HIST[buf[i] as number]!++;
    let bits = 0;
    for (let b = 0; b < 256; b++) {
      const c = HIST[b] as number;
      if (c) bits -= c * Math.log2(c / WINDOW);
    }
    if (bits / WINDOW < 7.9) return false;
  }
  return true;
}
