/** Shared bits of the `sideload create` interop suites: drive snapshots, ref listings, source commits. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { runOk } from '../helpers/flatpak-fixtures.js';

export { snapshotDir } from '../helpers/tree-snapshot.js';
/** `ostree fsck` of a drive repo; returns its output (throws if it fails). */
export { fsck } from '../helpers/fsck.js';

/** `refs/mirrors/<cid>/<ref>` files of a repo → `cid ref` → checksum. */
export async function mirrorRefs(repo: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const base = path.join(repo, 'refs', 'mirrors');
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.set(r, (await fs.readFile(path.join(d, e.name), 'utf8')).trim());
    }
  };
  await walk(base, '');
  // `cid/ref/with/slashes` → `cid ref/with/slashes`
  return new Map(
    [...out].map(([k, v]) => [k.replace('/', ' '), v] as [string, string]).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/** The loose object files of a repo (`ab/cdef….commit`), sorted. */
export async function objectNames(repo: string): Promise<string[]> {
  const out: string[] = [];
  const base = path.join(repo, 'objects');
  for (const d of await fs.readdir(base)) for (const f of await fs.readdir(path.join(base, d))) out.push(`${d}/${f}`);
  return out.sort();
}

/** `ostree rev-parse` of each ref in a repo: the commit a `--repo` source takes for it. */
export async function revParse(repo: string, refs: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const ref of refs) out.set(ref, (await runOk('ostree', ['rev-parse', `--repo=${repo}`, ref])).trim());
  return out;
}

/** `ostree summary --view` without the Last-Modified line and without the given refs' blocks. */
export function summaryView(text: string, dropRefs: readonly string[] = []): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    const m = /^\* \(([^,]+), (.+)\)$/.exec(line);
    if (m) skipping = dropRefs.includes(m[2] as string);
    else if (skipping && line === '') {
      skipping = false; // the blank line closing a dropped block goes with it
      continue;
    } else if (/^\S/.test(line)) skipping = false;
    if (skipping) continue;
    if (/^Last-Modified \(ostree\.summary\.last-modified\):/.test(line)) continue;
    out.push(line);
  }
  return out.join('\n');
}

/** The four refs an offline install of org.example.App brings (the app, its runtime, both Locale extensions). */
export function appInstallRefs(arch: string): string[] {
  return [
    `app/org.example.App/${arch}/stable`,
    `runtime/org.example.App.Locale/${arch}/stable`,
    `runtime/org.example.Platform/${arch}/stable`,
    `runtime/org.example.Platform.Locale/${arch}/stable`,
  ];
}
