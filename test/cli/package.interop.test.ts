/**
 * The npm package as a user gets it: `npm pack` of a copy of the project (prepack builds dist/ there), then an
 * install of the tarball into an empty directory with the npm cache only (--offline), then the installed program
 * and the shipped example. Also: what the tarball holds (LICENSE, no source maps, the docs and examples the README
 * links to) and which lifecycle scripts a consumer would run (none).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { run, runOk, tempDir } from '../helpers/flatpak-fixtures.js';
import { exampleCreateArgs, projectRoot } from '../helpers/shared.js';

let work = '';
let tarball = '';
let files: string[] = [];
let consumer = '';

beforeAll(async () => {
  work = await tempDir('sideload-pack-');
  const copy = path.join(work, 'src-copy');
  await fs.mkdir(copy);
  for (const f of [
    'package.json',
    'package-lock.json',
    'README.md',
    'LICENSE',
    'tsconfig.json',
    'tsconfig.build.json',
    'scripts',
    'src',
    'docs',
    'examples',
    'schemas',
  ])
    await fs.cp(path.join(projectRoot, f), path.join(copy, f), { recursive: true });
  await fs.symlink(path.join(projectRoot, 'node_modules'), path.join(copy, 'node_modules'));
  const out = await runOk('npm', ['pack', '--json', '--pack-destination', work], { cwd: copy });
  const info = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(work, info[0]?.filename as string);
  files = (info[0]?.files ?? []).map((f) => f.path).sort();
  consumer = path.join(work, 'consumer');
  await fs.mkdir(consumer);
  // The npm cache holds the dependencies' tarballs (not registry metadata): a lockfile naming them (the project's
  // own entries, less the dev ones) lets `npm ci --offline` install the tarball with its dependencies from it.
  const spec = `file:${tarball}`;
  const pkg = JSON.parse(await fs.readFile(path.join(projectRoot, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
  };
  const lock = JSON.parse(await fs.readFile(path.join(projectRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const deps = Object.fromEntries(
    Object.entries(lock.packages).filter(([k, v]) => k.startsWith('node_modules/') && !v.dev),
  );
  await fs.writeFile(
    path.join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: { sideload: spec } }, null, 2),
  );
  await fs.writeFile(
    path.join(consumer, 'package-lock.json'),
    JSON.stringify(
      {
        name: 'consumer',
        version: '1.0.0',
        lockfileVersion: 3,
        requires: true,
        packages: {
          '': { name: 'consumer', version: '1.0.0', dependencies: { sideload: spec } },
          'node_modules/sideload': {
            version: pkg.version,
            resolved: spec,
            license: 'LGPL-2.1-or-later',
            dependencies: pkg.dependencies,
            bin: pkg.bin,
            engines: { node: '>=20' },
          },
          ...deps,
        },
      },
      null,
      2,
    ),
  );
  await runOk('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: consumer, timeoutMs: 240_000 });
}, 300_000);
afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

it('ships LICENSE (LGPL-2.1 text), dist without source maps, the docs and examples, and no prepare script', async () => {
  expect(files).toContain('LICENSE');
  expect(await fs.readFile(path.join(consumer, 'node_modules/sideload/LICENSE'), 'utf8')).toContain(
    'GNU LESSER GENERAL PUBLIC LICENSE\n                       Version 2.1, February 1999',
  );
  expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
  expect(files.filter((f) => f.startsWith('src/'))).toEqual([]);
  expect(files).toEqual(
    expect.arrayContaining([
      'dist/cli/main.cjs',
      'dist/index.js',
      'dist/index.d.ts',
      'docs/json-schema.md',
      'examples/library.mjs',
      'examples/repo/config',
    ]),
  );
  const pkg = JSON.parse(await fs.readFile(path.join(consumer, 'node_modules/sideload/package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  for (const s of ['prepare', 'install', 'postinstall', 'preinstall']) expect(pkg.scripts[s], s).toBeUndefined();
});

it('every relative link and docs/ or examples/ path in the shipped README names a shipped file', async () => {
  const readme = await fs.readFile(path.join(consumer, 'node_modules/sideload/README.md'), 'utf8');
  const links = [...readme.matchAll(/\]\(([^)#\s]+)\)/g)].map((m) => m[1] as string).filter((l) => !/^[a-z]+:/.test(l));
  const paths = [...readme.matchAll(/`((?:docs|examples)\/[^`\s]*)`/g)].map((m) => m[1] as string);
  expect(links.length).toBeGreaterThan(0);
  for (const l of [...links, ...paths]) {
    const p = l.replace(/\/$/, '');
    expect(
      files.some((f) => f === p || f.startsWith(`${p}/`)),
      l,
    ).toBe(true);
  }
  expect(readme).not.toMatch(/\.\.\/shared/);
});

it('npx sideload --help and a create from the shipped example work in the consumer', async () => {
  const help = await run('npx', ['--offline', '--no-install', 'sideload', '--help'], { cwd: consumer });
  expect(help.code, help.stderr).toBe(0);
  expect(help.stdout).toContain('sideload <command>');
  const ex = path.join(consumer, 'node_modules/sideload/examples');
  const drive = path.join(work, 'drive');
  await fs.mkdir(drive);
  await fs.mkdir(path.join(work, 'drive2'));
  const r = await run(
    'npx',
    ['--offline', '--no-install', 'sideload', 'create', '--no-fsync', ...exampleCreateArgs(drive, ex)],
    { cwd: consumer },
  );
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/added\s+org\.example\.Stable app\/org\.example\.App\//);
  const v = await run(
    'npx',
    ['--offline', '--no-install', 'sideload', 'verify', '--gpg-import', path.join(ex, 'example.gpg'), drive],
    { cwd: consumer },
  );
  expect(v.code, v.stdout + v.stderr).toBe(0);
  // The shipped library example runs against the installed package's dist/.
  const lib = await run(process.execPath, [path.join(ex, 'library.mjs'), path.join(work, 'drive2')], { cwd: consumer });
  expect(lib.code, lib.stderr).toBe(0);
  expect(lib.stdout).toContain('verified');
});

it('a strict TypeScript consumer type-checks against the shipped declarations (skipLibCheck off)', async () => {
  // The library's declarations name only node's built-ins and each other: a dependency whose types are a dev
  // dependency here (@types/fs-extra) is not installed with the package. drive-fs.d.ts imported fs-extra's types,
  // and the consumer's check below passed only where an @types/fs-extra happened to sit in a parent directory.
  const dist = path.join(consumer, 'node_modules/sideload/dist');
  const bare: string[] = [];
  for (const f of files.filter((f) => f.endsWith('.d.ts') && f.startsWith('dist/') && !f.startsWith('dist/cli/'))) {
    const text = await fs.readFile(path.join(dist, '..', f), 'utf8');
    for (const m of text.matchAll(/(?:from|import\()\s*'([^']+)'/g))
      if (!/^(\.|node:)/.test(m[1] as string)) bare.push(`${f}: ${m[1]}`);
  }
  expect(bare).toEqual([]);
  await fs.writeFile(
    path.join(consumer, 'use.ts'),
    [
      "import { createDrive, createDriveFrom, lockManifest, openRepoSource, parseManifest, pruneDrive } from 'sideload';",
      "import { removeFromDrive, updateDrive, verifyDrive, type Finding, type Lockfile } from 'sideload';",
      'export async function build(drive: string): Promise<number> {',
      "  const source = await openRepoSource('repo', { keys: { gpgKeyrings: ['k.gpg'] } });",
      "  const plan = (await createDrive({ drive, refs: ['org.example.App'], dryRun: true }, source)).plan;",
      "  const lock: Lockfile = await lockManifest(parseManifest('sources: []', 'm.yaml'), [source]);",
      '  await createDriveFrom({ drive }, lock.sources.map((s) => ({ source, locked: s.refs })));',
      '  await updateDrive({ drive }, source);',
      "  await removeFromDrive({ drive, refs: ['org.example.App'], withDeps: true });",
      '  const freed = (await pruneDrive({ drive })).bytesFreed;',
      '  const findings: Finding[] = (await verifyDrive(drive)).repos.flatMap((r) => [...r.findings]);',
      '  return plan.entries.length + freed + findings.length;',
      '}',
      '',
    ].join('\n'),
  );
  await fs.writeFile(
    path.join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [path.join(projectRoot, 'node_modules/@types')],
      },
      files: ['use.ts'],
    }),
  );
  const tsc = await run(process.execPath, [path.join(projectRoot, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
    cwd: consumer,
  });
  expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
});
