// Using sideload as a library: build a drive from a local repo, then verify it.
// Run after `npm run build`:  node examples/library.mjs /path/to/empty/drive
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDrive, openRepoSource, verifyDrive } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const drive = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'sideload-lib-'));

const source = await openRepoSource(path.join(here, 'repo'), { keys: { gpgKeyrings: [path.join(here, 'example.gpg')] } });
try {
  const result = await createDrive(
    {
      drive,
      refs: ['org.example.App'],
      locales: ['de'], // only German for the Locale extensions: written as partial commits
      fsync: false, // a throwaway target
      onWarning: (w) => console.error(`warning: ${w.message}`),
    },
    source,
  );
  for (const r of result.refs) console.log(`${r.change} ${r.ref} ${r.commit.slice(0, 12)}${r.partial ? ' (partial)' : ''}`);
} finally {
  await source.close();
}

// Check every object, the summary ↔ ostree-metadata agreement, and the carried upstream summary's signature.
const report = await verifyDrive(drive, { upstreamGpg: [readFileSync(path.join(here, 'example.gpg'))] });
console.log(report.ok ? `verified ${drive}` : `problems on ${drive}`);
process.exitCode = report.ok ? 0 : 1;
