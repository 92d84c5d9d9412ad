/**
 * verify's checks against planted or left-over files (issue 12): what an upstream copy holds beyond the signed
 * set, and the leftovers of killed runs. Kept apart from verify.ts / verify-upstream.ts.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { error, warning, type Finding } from './findings.js';
import { listLeftovers } from './publish.js';
import { indexedNames, MAX_SUMMARY_BYTES, UPSTREAM_ROOT_FILES } from './upstream.js';
import { readLocalFile } from '../transport/local.js';
import { UPSTREAM_RECORD } from './upstream-record.js';

/** `<cid>.old-<pid>`: an old upstream copy an earlier version's directory replace set aside (a leftover). */
export const OLD_UPSTREAM_COPY = /\.old-\d+$/;

/**
 * Anything in an upstream copy that is not part of the signed set: a symlink or other non-regular file (never
 * read), or a regular file that neither the root files, the record, nor the summary.idx (its subsummaries, and
 * the `summaries/<sha256 of summary.idx>.idx.sig` copy ostree keeps) accounts for ('upstream-extra-file', which
 * the caller reports only while the index itself checks).
 */
export async function upstreamStrayFindings(dir: string, rel: string): Promise<Finding[]> {
  const out: Finding[] = [];
  const st = await fs.lstat(dir);
  if (!st.isDirectory())
    return [
      error(
        'upstream-not-directory',
        `${rel} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; an upstream copy is a directory of ` +
          'regular files',
        rel,
      ),
    ];
  const all: Array<[string, fs.Dirent]> = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
      if (e.isDirectory()) await walk(path.join(d, e.name), `${prefix}${e.name}/`);
      else all.push([`${prefix}${e.name}`, e]);
    }
  };
  await walk(dir, '');
  const idxFile = path.join(dir, 'summary.idx');
  const idx = await readLocalFile(idxFile, MAX_SUMMARY_BYTES).catch(() => null);
  const allowed = new Set<string>([UPSTREAM_RECORD, ...UPSTREAM_ROOT_FILES, ...(idx ? indexedNames(idx) : [])]);
  for (const [name, e] of all) {
    if (!e.isFile())
      out.push(
        error(
          'upstream-unexpected-file',
          `${rel}/${name} is ${e.isSymbolicLink() ? 'a symlink' : 'not a regular file'}: an upstream copy holds ` +
            'only the signed summary files',
          `${rel}/${name}`,
        ),
      );
    else if (!allowed.has(name))
      out.push(
        error(
          'upstream-extra-file',
          `${rel}/${name} is not part of the signed upstream summary (not a root file, nor named by its summary.idx)`,
          `${rel}/${name}`,
        ),
      );
  }
  return out;
}

/**
 * Leftovers of a killed run (publish.ts listLeftovers): harmless to clients; --repair and the next create remove them.
 */
export async function leftoverFindings(repo: string): Promise<Finding[]> {
  return (await listLeftovers(repo).catch(() => [] as string[])).map((p) =>
    warning(
      'leftover',
      `${p} was left by an interrupted run; \`sideload verify --repair\` (or the next \`sideload create\`) removes it`,
      p,
    ),
  );
}
