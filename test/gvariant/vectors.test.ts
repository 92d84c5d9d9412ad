import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, encode, isNormal, print, GVariantError } from '../../src/gvariant/index.js';
import { hex, projectRoot, sharedDir, unhex } from '../helpers/shared.js';

interface NormalVector {
  kind: 'normal';
  type: string;
  text: string;
  hex: string;
}
interface HostileVector {
  kind: 'hostile';
  type: string;
  hex: string;
  normal: boolean;
  glibText: string;
  glibNormalHex: string;
}

// A copy of ../shared/vectors/gvariant-glib.jsonl, so a clone runs the suite wherever it lies; the last suite below
// checks the copy against ../shared whenever that is beside the checkout.
const VECTORS = 'vectors/gvariant-glib.jsonl';
const vectorFile = path.join(projectRoot, 'test/fixtures/gvariant/gvariant-glib.jsonl');
const vectorText = readFileSync(vectorFile, 'utf8');
const vectors = vectorText
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as NormalVector | HostileVector);
const normal = vectors.filter((v): v is NormalVector => v.kind === 'normal');
const hostile = vectors.filter((v): v is HostileVector => v.kind === 'hostile');

describe('GLib vectors: normal values', () => {
  it('has the vectors', () => {
    expect(normal.length).toBeGreaterThan(500);
    expect(hostile.length).toBe(500);
  });

  it('decodes each to the value GLib prints, and re-encodes to the same bytes', () => {
    const failures: string[] = [];
    for (const vec of normal) {
      const bytes = unhex(vec.hex);
      try {
        expect(isNormal(vec.type, bytes)).toBe(true);
        const value = decode(vec.type, bytes);
        const text = print(vec.type, value);
        if (text !== vec.text) failures.push(`${vec.type}: text ${text.slice(0, 200)} != ${vec.text.slice(0, 200)}`);
        const again = hex(encode(vec.type, value));
        if (again !== vec.hex)
          failures.push(`${vec.type}: re-encoded ${again.slice(0, 80)} != ${vec.hex.slice(0, 80)}`);
      } catch (e) {
        failures.push(`${vec.type}: ${(e as Error).message}`);
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
  });
});

describe('GLib vectors: hostile bytes', () => {
  it('strict decoding rejects exactly the non-normal ones with a typed error', () => {
    const failures: string[] = [];
    for (const vec of hostile) {
      const bytes = unhex(vec.hex);
      if (isNormal(vec.type, bytes) !== vec.normal)
        failures.push(`${vec.type} ${vec.hex.slice(0, 60)}: isNormal ${!vec.normal}, GLib ${vec.normal}`);
      try {
        decode(vec.type, bytes);
        if (!vec.normal) failures.push(`${vec.type} ${vec.hex.slice(0, 60)}: strict decode accepted non-normal bytes`);
      } catch (e) {
        if (!(e instanceof GVariantError)) failures.push(`${vec.type}: untyped error ${String(e)}`);
        else if (vec.normal)
          failures.push(`${vec.type} ${vec.hex.slice(0, 60)}: strict decode rejected normal bytes: ${e.message}`);
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
  });

  it('lenient decoding reads what GLib reads, and its normal form is what GLib rebuilds', () => {
    const failures: string[] = [];
    for (const vec of hostile) {
      const value = decode(vec.type, unhex(vec.hex), { strict: false });
      const text = print(vec.type, value);
      if (text !== vec.glibText)
        failures.push(`${vec.type} ${vec.hex.slice(0, 60)}: ${text.slice(0, 120)} != ${vec.glibText.slice(0, 120)}`);
      const normalForm = hex(encode(vec.type, value));
      if (normalForm !== vec.glibNormalHex)
        failures.push(
          `${vec.type} ${vec.hex.slice(0, 60)}: normal form ${normalForm.slice(0, 60)} != ${vec.glibNormalHex.slice(0, 60)}`,
        );
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(failures.length).toBe(0);
  });
});

// Skipped in a clone with no ../shared beside it (nothing to compare with); CI has it.
const sharedVectors = path.join(sharedDir, VECTORS);
(existsSync(sharedVectors) ? describe : describe.skip)('GLib vectors: the copy in test/fixtures', () => {
  it('is byte for byte ../shared/vectors/gvariant-glib.jsonl', () => {
    expect(vectorText === readFileSync(sharedVectors, 'utf8')).toBe(true);
  });
});
