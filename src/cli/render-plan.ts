/** Human output of a run (create, update, remove, dry runs): the plan per ref, then what was written. */
import type { CreateResult } from '../usb/create.js';
import { formatBytes, type Output } from './output.js';

/**
 * What part of a partial ref is on the drive, as every human output (plan, run result, list) says it: a Locale's
 * languages (`partial (de, fr)`), `partial (metadata only)`, or `partial` when the part is not recorded. The
 * languages come from the plan, or for a ref already on the drive from its pull subpaths (`/files/de` → de).
 */
export function partialNote(ref: {
  readonly languages?: readonly string[] | 'all';
  readonly subpaths?: readonly string[] | null;
}): string {
  if (!Array.isArray(ref.languages) && !ref.subpaths) return 'partial';
  const parts = Array.isArray(ref.languages)
    ? ref.languages
    : (ref.subpaths ?? []).filter((p) => p !== '/metadata').map((p) => p.replace(/^\/files\//, ''));
  return `partial (${parts.join(', ') || 'metadata only'})`;
}

const REPAIR_NOTHING = 'Repair: every object the refs reach is on the drive and intact.';

export function renderRun(out: Output, r: CreateResult): void {
  out.info(r.dryRun ? `Plan for ${r.repo} (dry run: nothing written):` : `Drive repo: ${r.repo}`);
  // Columns line up across collections too (their IDs differ in length).
  const width = Math.max(0, ...r.refs.map((x) => x.ref.length));
  const cidWidth = Math.max(0, ...r.refs.map((x) => x.collectionId.length));
  for (const ref of r.refs) {
    const extra = ref.partial ? ` ${partialNote(ref)}` : '';
    const from =
      ref.change === 'updated' && ref.previous
        ? ` (was ${ref.previous.slice(0, 12)}${ref.downgrade ? ', downgrade' : ''})`
        : '';
    out.info(
      `  ${ref.change.padEnd(9)} ${ref.collectionId.padEnd(cidWidth)} ${ref.ref.padEnd(width)} ${ref.commit.slice(0, 12)} ` +
        `[${ref.reason}]${extra}${from}`,
    );
  }
  const c = r.plan.entries.reduce<Record<string, number>>((a, e) => ((a[e.action] = (a[e.action] ?? 0) + 1), a), {});
  // A plan (a dry run) says what is to happen; a real run, what happened (nothing new included: 0 added).
  const [add, update, remove] = r.dryRun ? ['to add', 'to update', 'to remove'] : ['added', 'updated', 'removed'];
  out.info(
    `Refs: ${c['add'] ?? 0} ${add}, ${c['update'] ?? 0} ${update}, ${c['unchanged'] ?? 0} unchanged, ` +
      `${c['remove'] ?? 0} ${remove}, ${c['kept'] ?? 0} kept`,
  );
  if (r.estimate)
    out.info(
      `To write: ${r.estimate.objects} objects, ${r.estimate.exact ? '' : 'up to '}${formatBytes(r.estimate.bytes)}` +
        // Large allocation units (exFAT's 128 KiB clusters): the room the files take, which the free space must hold.
        (r.estimate.unit > 16 * 1024
          ? ` (${formatBytes(r.estimate.space)} in ${r.estimate.unit / 1024} KiB clusters)`
          : '') +
        (r.freeBytes !== null ? `; free on the drive: ${formatBytes(r.freeBytes)}` : ''),
    );
  if (r.dryRun) {
    // --repair: the damaged refs found, named as a run names them (before, only --json did), or that there are none.
    if (r.repaired)
      out.info(
        r.repaired.refs.length
          ? `To repair: missing or corrupt objects in ${r.repaired.refs.join(', ')}, to be copied again`
          : REPAIR_NOTHING,
      );
    out.info('Checks passed: sources and signatures, drive writable, free space');
    return;
  }
  if (r.resumedPublish)
    out.info('Finished the publish an interrupted run had left pending: clients now see what that run meant to write.');
  if (r.repaired && !r.repaired.refs.length) out.info(REPAIR_NOTHING);
  if (!r.changed) {
    out.info('Nothing new: the drive was left untouched.');
    return;
  }
  // A run that only takes refs off or re-signs copies nothing: no line of zeros.
  if (r.objects.copied + r.objects.skipped > 0)
    out.info(
      `Objects: ${r.objects.copied} copied (${formatBytes(r.objects.bytes)}), ${r.objects.skipped} already there ` +
        '(on the drive, or shared with a ref copied before)',
    );
  if (r.repaired?.refs.length)
    out.info(
      `Repaired: ${r.repaired.objects} missing or corrupt objects copied again, in ${r.repaired.refs.join(', ')}`,
    );
  for (const [cid, up] of Object.entries(r.upstream))
    out.info(
      `Upstream summary ${cid}: ` +
        (up
          ? `${up.root}, ${up.files} files, signed by ${up.signedBy.join('+') || 'nobody (allowed)'}`
          : r.upstreamKept.includes(cid)
            ? "none from the source; the drive keeps the copy an earlier run carried (it may not list the refs' " +
              'newer commits)'
            : 'none from the source; the drive carries none'),
    );
  for (const [cid, m] of Object.entries(r.metadataCommits)) out.info(`ostree-metadata ${cid}: ${m.slice(0, 12)}`);
  if (r.summary?.signed) out.info('Summary signed (ed25519)');
}
