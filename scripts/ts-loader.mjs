// Module hooks that run the TypeScript sources directly: each `.ts` file is compiled alone with TypeScript's
// transpileModule (types dropped), and a `.js` import that does not exist beside a `.ts` importer resolves to the
// `.ts` file, as tsc's NodeNext resolution does. src/repo/worker-pool.ts registers these for its copy workers when
// it runs from the sources (vitest); the compiled dist/ never uses them.
//
// Loading the compiler costs seconds, and each worker has its own hooks: outputs are cached on disk under the
// SHA-256 of (compiler version, source), so a worker starts with the compiler loaded only when a source changed.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const tsVersion = require('typescript/package.json').version;
const cacheDir = path.join(os.tmpdir(), `sideload-ts-loader-${process.getuid?.() ?? 'u'}`);
let ts = null;

export async function resolve(specifier, context, next) {
  if (context.parentURL?.endsWith('.ts') && specifier.startsWith('.') && specifier.endsWith('.js')) {
    const url = new URL(specifier, context.parentURL);
    if (!existsSync(fileURLToPath(url))) {
      const tsUrl = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
      if (existsSync(fileURLToPath(tsUrl))) return { url: tsUrl.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  const key = createHash('sha256').update(`${tsVersion}\0${file}\0`).update(source).digest('hex');
  const cached = path.join(cacheDir, `${key}.mjs`);
  const hit = await readFile(cached, 'utf8').catch(() => null);
  if (hit !== null) return { format: 'module', source: hit, shortCircuit: true };
  ts ??= (await import('typescript')).default;
  const out = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      inlineSourceMap: true,
      inlineSources: true,
    },
  }).outputText;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${cached}.${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, out);
  await rename(tmp, cached);
  return { format: 'module', source: out, shortCircuit: true };
}
