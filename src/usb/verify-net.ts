/**
 * Checks of `verify` for what lies around in a drive (issue 13): a commit's collection binding against the
 * collection it is listed under, the `sideload.json` record of each upstream copy, and stray files or symlinks in
 * `objects/` and the repo root. Each is a small function returning findings; verify.ts calls them.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { expectOnly } from '../errors.js';
import { commitBindings, type Commit } from '../ostree/commit.js';
import { METADATA_REF } from '../ostree/formats.js';
import type { DecodedRef } from '../summary/summary.js';
import { readLocalText } from '../transport/local.js';
import { error, warning, type Finding } from './findings.js';
import { RECORD_LIMIT } from './upstream-record.js';

type Listed = ReadonlyMap<string, readonly DecodedRef[]>;
type LoadCommit = (c: string) => Promise<{ commit: Commit } | null>;

/**
 * A ref whose commit is bound to another collection (`ostree.collection-binding`) than the one it is listed under,
 * or to refs (`ostree.ref-binding`) that do not include it: clients refuse both.
 */
export async function checkCollectionBindings(listed: Listed, loadCommit: LoadCommit): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const [cid, entries] of listed) {
    for (const e of entries) {
      if (e.ref === METADATA_REF) continue; // checked with the rest of the ostree-metadata commit
      const c = await loadCommit(e.checksum);
      const { collection, refs } = c ? commitBindings(c.commit) : {};
      const at = `refs/mirrors/${cid}/${e.ref}`;
      const commit = `its commit ${e.checksum.slice(0, 12)}…`;
      if (collection !== undefined && collection !== cid)
        out.push(
          error(
            'collection-binding-mismatch',
            `'${e.ref}' is listed under collection '${cid}' but ${commit} is bound to '${collection}' ` +
              '(ostree.collection-binding): clients refuse it',
            at,
          ),
        );
      if (refs !== undefined && !refs.includes(e.ref))
        out.push(
          error(
            'collection-binding-mismatch',
            `'${e.ref}' points at ${commit}, which is bound to ${refs.map((r) => `'${r}'`).join(', ') || 'no ref'} ` +
              '(ostree.ref-binding): clients refuse it',
            at,
          ),
        );
    }
  }
  return out;
}

/** `sideload.json` of an upstream copy: JSON of the shape `create` writes, listing exactly the files beside it. */
export async function checkSideloadJson(dir: string, rel: string, files: readonly string[]): Promise<Finding[]> {
  const p = `${rel}/sideload.json`;
  const text = await readLocalText(path.join(dir, 'sideload.json'), RECORD_LIMIT).catch(() => null);
  if (text === null)
    return [
      error('bad-sideload-json', `the upstream copy has no sideload.json (where it came from and who signed it)`, p),
    ];
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return [error('bad-sideload-json', `sideload.json is not JSON: ${expectOnly(e, SyntaxError).message}`, p)];
  }
  const o = j as Record<string, unknown>;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const problems: string[] = [];
  if (!o || typeof o !== 'object' || Array.isArray(o)) problems.push('not an object');
  else {
    if (typeof o['origin'] !== 'string') problems.push("'origin' is not a string");
    if (!strings(o['signedBy'])) problems.push("'signedBy' is not a list of strings");
    if (!strings(o['keys'])) problems.push("'keys' is not a list of strings");
    if (o['root'] !== 'summary' && o['root'] !== 'summary.idx')
      problems.push("'root' is neither 'summary' nor 'summary.idx'");
    if (!strings(o['files'])) problems.push("'files' is not a list of strings");
    else {
      const listed = [...(o['files'] as string[])].sort();
      const have = files.filter((f) => f !== 'sideload.json').sort();
      const extra = have.filter((f) => !listed.includes(f));
      const gone = listed.filter((f) => !have.includes(f));
      if (extra.length) problems.push(`files not listed in it: ${extra.join(', ')}`);
      if (gone.length) problems.push(`listed files that are missing: ${gone.join(', ')}`);
    }
  }
  return problems.length
    ? [error('bad-sideload-json', `sideload.json does not describe the upstream copy: ${problems.join('; ')}`, p)]
    : [];
}

const OBJECT_NAME = /^[0-9a-f]{62}\.(commit|commitmeta|dirtree|dirmeta|filez)$/;
/** What ostree, flatpak and sideload keep at the top of an archive repo. */
const ROOT_NAMES = new Set([
  'config',
  'objects',
  'refs',
  'state',
  'tmp',
  'extensions',
  'summary',
  'summary.sig',
  'summary.idx',
  'summary.idx.sig',
  'summaries',
  'deltas',
  'delta-indexes',
  '.lock',
  'uncompressed-objects-cache',
]);

/**
 * `objects/` holds only `xx/` directories of regular object files: a symlink there (a client would follow it out of
 * the repo) or any other file is an error. Unknown entries at the repo root are warnings.
 */
export async function checkStrayFiles(repo: string): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const e of await fs.readdir(repo, { withFileTypes: true }).catch(() => [] as fs.Dirent[]))
    if (!ROOT_NAMES.has(e.name))
      out.push(warning('stray-file', `'${e.name}' at the repo root is not part of an ostree repo`, e.name));
  const objects = path.join(repo, 'objects');
  for (const d of (await fs.readdir(objects, { withFileTypes: true }).catch(() => [] as fs.Dirent[])).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const rel = `objects/${d.name}`;
    if (d.isSymbolicLink()) {
      out.push(
        error(
          'object-symlink',
          `${rel} is a symlink (to '${await fs.readlink(path.join(objects, d.name)).catch(() => '?')}'), not a ` +
            'directory of objects',
          rel,
        ),
      );
      continue;
    }
    if (!d.isDirectory() || !/^[0-9a-f]{2}$/.test(d.name)) {
      out.push(
        error('stray-object-file', `${rel} does not belong in objects/ (only xx/ directories of objects do)`, rel),
      );
      continue;
    }
    for (const f of (
      await fs.readdir(path.join(objects, d.name), { withFileTypes: true }).catch(() => [] as fs.Dirent[])
    ).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const frel = `${rel}/${f.name}`;
      if (f.isSymbolicLink())
        out.push(
          error(
            'object-symlink',
            `${frel} is a symlink (to ` +
              `'${await fs.readlink(path.join(objects, d.name, f.name)).catch(() => '?')}'), not an object file`,
            frel,
          ),
        );
      else if (!f.isFile() || !OBJECT_NAME.test(f.name))
        out.push(error('stray-object-file', `${frel} is not an object of an archive repo`, frel));
    }
  }
  return out;
}
