/**
 * The dependency direction of src/ (ARCHITECTURE.md): every import, static or dynamic, type-only or not, goes down
 * or sideways in the layer order, never up; the pure folders do no file I/O; no file imports itself through a
 * cycle. And the test projects stay honest: a unit-project test file reaches for no tool fixture and no dist/.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/shared.js';

const SRC = path.join(projectRoot, 'src');

/** Layer of each src/ folder; higher may import lower or equal, never the other way. */
export const LAYERS: Readonly<Record<string, number>> = {
  'errors.ts': 0, // shared at the bottom
  'warnings.ts': 0, // likewise (it imports errors.ts only)
  'code-cache.ts': 0, // loads code with V8's code cache (cli's launcher, sign's OpenPGP.js); node's modules only
  gvariant: 1,
  keyfile: 1,
  ostree: 2,
  summary: 3,
  sign: 3,
  transport: 3,
  repo: 4,
  flatpak: 5,
  usb: 6,
  cli: 7,
  'index.ts': 8, // the library's public entry point re-exports from everywhere
};
/** Folders that only compute on bytes: no file-system access. */
const PURE = new Set(['gvariant', 'keyfile', 'ostree', 'summary']);
const FS_MODULES = new Set(['fs', 'fs/promises', 'node:fs', 'node:fs/promises', 'fs-extra']);

interface Import {
  readonly from: string; // src-relative file
  readonly spec: string; // as written
  readonly to: string | null; // src-relative file for a relative import, else null
}

function srcFiles(dir = SRC): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...srcFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

/** Every import of a file's text (import/export … from, import(), require()). */
export function importsOf(rel: string, text: string): Import[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map(({ fileName: spec }) => {
    if (!spec.startsWith('.')) return { from: rel, spec, to: null };
    const to = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)).replace(/\.js$/, '.ts');
    return { from: rel, spec, to };
  });
}

const unitOf = (rel: string) => (rel.includes('/') ? (rel.split('/')[0] as string) : rel);
function layerOf(rel: string): number {
  const l = LAYERS[unitOf(rel)];
  if (l === undefined)
    throw new Error(`src/${rel}: its folder '${unitOf(rel)}' has no layer in test/structure/layers.test.ts`);
  return l;
}

/** The rule violations among `imports`, one line each. */
export function violations(imports: readonly Import[]): string[] {
  const out: string[] = [];
  for (const i of imports) {
    if (i.to === null) {
      if (PURE.has(unitOf(i.from)) && FS_MODULES.has(i.spec))
        out.push(`src/${i.from} imports '${i.spec}': ${unitOf(i.from)}/ is pure (no file I/O)`);
      continue;
    }
    if (i.to.startsWith('../')) {
      out.push(`src/${i.from} imports '${i.spec}', outside src/`);
      continue;
    }
    const [a, b] = [layerOf(i.from), layerOf(i.to)];
    if (b > a)
      out.push(
        `src/${i.from} (${unitOf(i.from)}, layer ${a}) imports src/${i.to} (${unitOf(i.to)}, layer ${b}): upward`,
      );
  }
  return out;
}

/** Import cycles between files, each as `a → b → … → a`. */
export function cycles(imports: readonly Import[]): string[] {
  const edges = new Map<string, Set<string>>();
  for (const i of imports)
    if (i.to !== null) (edges.get(i.from) ?? edges.set(i.from, new Set()).get(i.from))?.add(i.to);
  const out: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of [...(edges.get(f) ?? [])].sort()) {
      if (state.get(t) === 'open') out.push([...stack.slice(stack.indexOf(t)), t].join(' → '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...edges.keys()].sort()) if (!state.has(f)) visit(f);
  return out;
}

const all = srcFiles().flatMap((f) =>
  importsOf(path.relative(SRC, f).split(path.sep).join('/'), fs.readFileSync(f, 'utf8')),
);

describe('src/ layers', () => {
  it('finds the imports (the parser sees static, type-only, re-export and dynamic imports)', () => {
    expect(all.length).toBeGreaterThan(200);
    const fake = importsOf(
      'ostree/x.ts',
      "import type { A } from '../repo/a.js';\nexport { b } from '../usb/b.js';\nconst c = await import('../cli/c.js');\nimport fs from 'node:fs';\n",
    );
    expect(fake.map((i) => i.to ?? i.spec)).toEqual(['repo/a.ts', 'usb/b.ts', 'cli/c.ts', 'node:fs']);
    expect(violations(fake)).toHaveLength(4);
    expect(
      violations(
        importsOf(
          'repo/x.ts',
          "import { a } from '../ostree/a.js';\nimport { e } from '../errors.js';\nimport fs from 'fs-extra';\n",
        ),
      ),
    ).toEqual([]);
    expect(cycles(importsOf('a.ts', "import './b.js';").concat(importsOf('b.ts', "import './a.js';")))).toEqual([
      'a.ts → b.ts → a.ts',
    ]);
  });

  it(`no upward import (${Object.keys(LAYERS).join(' ')}), no node:fs or fs-extra in ${[...PURE].join(', ')}`, () => {
    expect(violations(all)).toEqual([]);
  });

  it('no import cycle between files', () => {
    expect(cycles(all)).toEqual([]);
  });
});

describe('test projects (vitest.config.ts)', () => {
  it('no unit-project test file uses the tool fixtures or dist/ (those are *.interop.test.ts or under test/interop/)', () => {
    const tests: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.test.ts')) tests.push(path.relative(projectRoot, p).split(path.sep).join('/'));
      }
    };
    walk(path.join(projectRoot, 'test'));
    const unit = tests.filter(
      (t) => !t.startsWith('test/interop/') && !t.endsWith('.interop.test.ts') && t !== 'test/structure/layers.test.ts',
    );
    expect(unit.length).toBeGreaterThan(5);
    const bad = unit.flatMap((t) => {
      const text = fs.readFileSync(path.join(projectRoot, t), 'utf8');
      const specs = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
      const why = specs.filter(
        (s) => /helpers\/(flatpak-fixtures|repo-fixtures|build-fixtures|fsck)\.js$/.test(s) || /(^|\/)dist\//.test(s),
      );
      if (/dist\/cli\/main\.js/.test(text)) why.push('runs the compiled CLI');
      return why.map((w) => `${t}: ${w}`);
    });
    expect(bad).toEqual([]);
  });
});
