import fs from 'node:fs/promises';

/** Damages `file` in place: the byte at `at` (negative: from the end) inverted. */
export async function flipByteIn(file: string, at: number): Promise<void> {
  const b = await fs.readFile(file);
  const i = at < 0 ? b.length + at : at;
  b.writeUInt8(b.readUInt8(i) ^ 0xff, i);
  await fs.writeFile(file, b);
}
