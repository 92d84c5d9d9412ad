import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  isNormal,
  parseType,
  print,
  GVariantError,
  Just,
  Variant,
  type GValue,
  type TypeInfo,
} from '../../src/gvariant/index.js';
import { hex, unhex } from '../helpers/shared.js';

describe('format.md §3.7 worked examples', () => {
  const cases: Array<[string, GValue, string]> = [
    ['(su)', ['a', 1], '6100 0000 01000000 02'],
    ['as', ['ab', 'c'], '616200 6300 0305'],
    ['a{sv}', [['k', new Variant('u', 1)]], '6b00 000000000000 0100000000 75 02 0f'],
    ['(a(say)a(sayay))', [[], []], '00'],
    ['(uuua(ayay))', [0, 0, 0o40755, []], '00000000 00000000 ed410000'],
    ['mi', 5, '05000000'],
    ['ms', 'x', '780000'],
    ['ms', null, ''],
    ['()', [], '00'],
    ['(yt)', [1, 2n], '01000000000000000200000000000000'],
    ['aay', [new Uint8Array([1, 2]), new Uint8Array()], '01020202'],
  ];
  for (const [type, value, bytes] of cases) {
    it(`${type} ${print(type, value)}`, () => {
      expect(hex(encode(type, value))).toBe(bytes.replace(/ /g, ''));
      expect(decode(type, unhex(bytes))).toEqual(value);
    });
  }

  it("as ['x'*300, 'y'] uses 2-byte offsets", () => {
    const bytes = encode('as', ['x'.repeat(300), 'y']);
    expect(bytes.length).toBe(307);
    expect(hex(bytes.subarray(-4))).toBe('2d012f01');
    expect(decode('as', bytes)).toEqual(['x'.repeat(300), 'y']);
  });

  it('dummy GPG summary.sig of format.md §7.1', () => {
    const bytes = encode('a{sv}', [['ostree.gpgsigs', new Variant('aay', [new Uint8Array([0xaa, 0xbb, 0xcc])])]]);
    expect(hex(bytes)).toBe(
      Buffer.from('ostree.gpgsigs\0').toString('hex') +
        '00' +
        'aabbcc03' +
        '00' +
        Buffer.from('aay').toString('hex') +
        '0f19',
    );
  });

  it('the empty dirtree and the standard dirmeta (BE values)', () => {
    expect(hex(encode('(a(say)a(sayay))', [[], []]))).toBe('00');
    // ostree stores dirmeta uid/gid/mode byte-swapped: 040755 as BE is the LE integer 0xed410000
    expect(hex(encode('(uuua(ayay))', [0, 0, 0xed410000, []]))).toBe('00000000' + '00000000' + '000041ed');
  });
});

describe('maybe and nested maybe', () => {
  it('distinguishes Nothing, Just(Nothing) and Just(Just 4)', () => {
    expect(hex(encode('mmi', null))).toBe('');
    expect(hex(encode('mmi', new Just(null)))).toBe('00');
    expect(hex(encode('mmi', new Just(4)))).toBe('0400000000');
    expect(decode('mmi', unhex('00'))).toEqual(new Just(null));
    expect(print('mmi', new Just(null))).toBe('@mmi just nothing');
    expect(print('mmi', new Just(4))).toBe('@mmi 4');
  });
});

describe('encoding errors name the member at fault', () => {
  it('rejects values that do not fit the type', () => {
    expect(() => encode('(su)', ['a', -1])).toThrow(/\.1.*'u'.*integer/);
    expect(() => encode('s', 'a\0b')).toThrow(GVariantError);
    expect(() => encode('a{sv}', [['k', 1]])).toThrow(/\[0\]\.1.*Variant/);
    expect(() => encode('t', 1)).toThrow(/bigint/);
    expect(() => encode('o', 'not/a/path')).toThrow(/object path/);
    expect(() => parseType('a{vs}')).toThrow(/basic type/);
    expect(() => parseType('(s')).toThrow(GVariantError);
    expect(() => parseType('a'.repeat(200) + 'y')).toThrow(/deeper/);
  });
});

// ---- property tests: random types and values round-trip and are normal; random bytes never crash ----

const basicChars = ['b', 'y', 'n', 'q', 'i', 'u', 'x', 't', 'h', 'd', 's', 'o', 'g'] as const;

const typeArb: fc.Arbitrary<string> = fc.letrec<{ t: string }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...basicChars, 'v'),
    tie('t').map((t) => `a${t}`),
    tie('t').map((t) => `m${t}`),
    fc.array(tie('t'), { maxLength: 4 }).map((ts) => `(${ts.join('')})`),
    fc.tuple(fc.constantFrom(...basicChars), tie('t')).map(([k, val]) => `a{${k}${val}}`),
  ),
})).t;

const leafVariantTypes = ['s', 'u', 'ay', 'a{sv}', '(tt)', 'mb'];

function valueArb(info: TypeInfo, depth = 0): fc.Arbitrary<GValue> {
  switch (info.kind) {
    case 'basic':
      switch (info.str) {
        case 'b':
          return fc.boolean();
        case 'y':
          return fc.integer({ min: 0, max: 255 });
        case 'n':
          return fc.integer({ min: -32768, max: 32767 });
        case 'q':
          return fc.integer({ min: 0, max: 65535 });
        case 'i':
        case 'h':
          return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
        case 'u':
          return fc.integer({ min: 0, max: 2 ** 32 - 1 });
        case 'x':
          return fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
        case 't':
          return fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
        case 'd':
          return fc.double({ noNaN: true });
        case 's':
          return fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\0'));
        case 'o':
          return fc
            .array(fc.stringMatching(/^[A-Za-z0-9_]{1,6}$/), { maxLength: 3 })
            .map((p) => (p.length ? '/' + p.join('/') : '/'));
        default:
          return fc.constantFrom('', 's', 'a{sv}', '(uu)ay');
      }
    case 'variant':
      return depth > 3
        ? fc.constant(new Variant('u', 7))
        : fc
            .constantFrom(...leafVariantTypes)
            .chain((t) => valueArb(parseType(t), depth + 1).map((x) => new Variant(t, x)));
    case 'maybe': {
      const el = info.element;
      const inner = valueArb(el, depth + 1).map((x) => (el.kind === 'maybe' ? new Just(x) : x));
      return fc.option(inner, { nil: null });
    }
    case 'array':
      if (info.element.str === 'y') return fc.uint8Array({ maxLength: 300 });
      return fc.array(valueArb(info.element, depth + 1), { maxLength: depth > 2 ? 2 : 5 });
    default:
      return fc.tuple(...info.members.map((m) => valueArb(m, depth + 1)));
  }
}

const typedValueArb = typeArb
  .filter((t) => t.length < 40)
  .chain((t) => valueArb(parseType(t)).map((value) => ({ type: t, value })));

describe('property: round trip', () => {
  it('encode is normal, decodes to the same value and prints the same text', () => {
    fc.assert(
      fc.property(typedValueArb, ({ type, value }) => {
        const bytes = encode(type, value);
        expect(isNormal(type, bytes)).toBe(true);
        const back = decode(type, bytes);
        expect(print(type, back)).toBe(print(type, value));
        expect(hex(encode(type, back))).toBe(hex(bytes));
      }),
      { numRuns: 2000, seed: 20261124 },
    );
  });

  it('big containers switch to 2- and 4-byte framing offsets and still round-trip', () => {
    const big = Array.from(
      { length: 5000 },
      (_, i) => [`key-${i}`, new Variant('s', 'v'.repeat(i % 50))] as [string, Variant],
    );
    const bytes = encode('a{sv}', big);
    expect(bytes.length).toBeGreaterThan(65535);
    expect(decode('a{sv}', bytes)).toEqual(big);
  });
});

describe('property: hostile bytes', () => {
  it('flipped bytes give a typed error (strict) or a value (lenient), never a crash', () => {
    fc.assert(
      fc.property(
        typedValueArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        ({ type, value }, flips) => {
          const bytes = encode(type, value);
          if (bytes.length === 0) return;
          for (const [pos, x] of flips) bytes[pos % bytes.length] = (bytes[pos % bytes.length] as number) ^ x;
          try {
            decode(type, bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(GVariantError);
          }
          const lenient = decode(type, bytes, { strict: false });
          // GLib's rule: the value read from any bytes re-encodes to normal form.
          expect(isNormal(type, encode(type, lenient))).toBe(true);
        },
      ),
      { numRuns: 3000, seed: 7 },
    );
  });

  it('random bytes under random types decode in bounded time and memory', () => {
    fc.assert(
      fc.property(typeArb, fc.uint8Array({ maxLength: 512 }), (type, bytes) => {
        const value = decode(type, bytes, { strict: false });
        const size = encode(type, value).length;
        // Every element needs at least one input byte, so output can't outgrow input by much more than defaults.
        expect(size).toBeLessThan(bytes.length * 64 + 4096);
      }),
      { numRuns: 3000, seed: 11 },
    );
  });

  it('a value not in normal form is named by its path, below variants, maybes, arrays and tuples', () => {
    const problem = (type: string, bytes: Uint8Array) => {
      try {
        decode(type, bytes);
      } catch (e) {
        return (e as Error).message.replace(/^.*not in normal form: /, '');
      }
      return null;
    };
    // The second file name of a dirtree without its NUL.
    const tree = encode('(a(say)a(sayay))', [
      [
        ['a', new Uint8Array([1])],
        ['b', new Uint8Array([2])],
      ],
      [],
    ]);
    const at = Buffer.from(tree).indexOf(0x62); // 'b'
    tree[at + 1] = 0x63;
    expect(problem('(a(say)a(sayay))', tree)).toBe(
      `.0[1].0: invalid string at offset ${at} (needs one terminating NUL and valid UTF-8)`,
    );
    // A boolean of 2 inside a maybe inside a variant.
    const v = encode('v', new Variant('mb', true));
    v[0] = 2;
    expect(problem('v', v)).toBe('<mb>?: boolean byte 2 at offset 0 is not 0 or 1');
    expect(problem('b', new Uint8Array([2]))).toBe('value: boolean byte 2 at offset 0 is not 0 or 1');
    expect(problem('(a(say)a(sayay))', encode('(a(say)a(sayay))', [[['a', new Uint8Array([1])]], []]))).toBeNull();
  });

  it('deep nesting is refused, not a stack overflow', () => {
    // a variant holding a variant holding … 200 deep
    let bytes: Uint8Array = encode('u', 1);
    let t = 'u';
    for (let i = 0; i < 200; i++) {
      const inner = bytes;
      const out = new Uint8Array(inner.length + 1 + t.length);
      out.set(inner);
      out.set(Buffer.from(t), inner.length + 1);
      bytes = out;
      t = 'v';
    }
    expect(() => decode('v', bytes)).toThrow(GVariantError);
    const lenient = decode('v', bytes, { strict: false });
    expect(print('v', lenient)).toContain('<()>');
  });
});
