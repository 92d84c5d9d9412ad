/** `sideload list DRIVE`: what a drive holds. */
import type { CommandModule } from 'yargs';
import { formatBytes } from '../output.js';
import { examplesEpilog } from '../help.js';
import { JSON_DOCUMENT, outputFor, QUIET, type OutputArgs } from '../common-options.js';
import { listRepoJson } from '../json.js';
import { partialNote } from '../render-plan.js';
import type { ListedRef, ListedRepo } from '../../usb/list.js';

interface ListArgs extends OutputArgs {
  drive: string;
}

export function listCommand(setCode: (c: number) => void): CommandModule<object, ListArgs> {
  return {
    command: 'list <drive>',
    aliases: ['ls'],
    describe: 'Show the collections, refs, commits and sizes on a drive',
    builder: (y) =>
      y
        .positional('drive', { type: 'string', demandOption: true, describe: 'Drive directory or repo path' })
        .option('json', JSON_DOCUMENT)
        .option('quiet', QUIET)
        .epilog(
          examplesEpilog([
            ['What a mounted drive holds', 'sideload list /run/media/me/USB'],
            ['The same as JSON (docs/json-schema.md), for scripts', 'sideload list --json ./iso-root'],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('list', args);
      const { listDrive } = await import('../../usb/list.js');
      const repos = await listDrive(args.drive);
      // With --json the document is all: no text is formatted after it (a failure there printed a second one).
      if (args.json) {
        out.result({ ok: true, repos: repos.map(listRepoJson) });
        setCode(0);
        return;
      }
      for (const r of repos) {
        const signed = SUMMARY_SIGNATURE_NOTE[r.summarySignature];
        const updated = r.lastModified !== undefined ? `, updated ${dateOf(r.lastModified)}` : '';
        out.info(`${r.repo}${signed}${updated}`);
        if (r.pendingPublish)
          out.info(
            "  publish pending: an interrupted run was publishing; 'sideload verify --repair' (or that command " +
              'again) finishes it. Until then this is what clients see.',
          );
        for (const c of r.collections) {
          out.info(`  ${c.collectionId}${c.upstreamSummary ? ' (carries the upstream summary)' : ''}`);
          for (const ref of c.refs) {
            const size = ref.installedSize !== undefined ? ` ${formatBytes(Number(ref.installedSize))}` : '';
            // A Locale subset shows its languages (/files/de → de), as the plan shows them.
            const partial = ref.partial ? ` ${partialNote(ref)}` : '';
            const version = ref.version ? ` v${ref.version}` : '';
            const signed = COMMIT_SIGNATURE_NOTE[ref.commitSignature];
            out.info(`    ${ref.ref} ${ref.commit.slice(0, 12)}${version}${size}${partial}${signed}`);
          }
        }
      }
      setCode(0);
    },
  };
}

/**
 * What the repo line says of summary.sig: a signature is unchecked (list has no keys); one that signs nothing says
 * so.
 */
const SUMMARY_SIGNATURE_NOTE: Record<ListedRepo['summarySignature'], string> = {
  present: ' (summary.sig present, unchecked: sideload verify checks it)',
  absent: '',
  empty: ' (summary.sig holds no signature: unsigned in effect; sideload verify reports it)',
  damaged: ' (summary.sig damaged, it does not decode: sideload verify reports it)',
};

/** What a ref line says of its commit's .commitmeta (unchecked, as the summary's). */
const COMMIT_SIGNATURE_NOTE: Record<ListedRef['commitSignature'], string> = {
  present: ' (signature present)',
  absent: '',
  empty: ' (.commitmeta holds no signature: unsigned in effect)',
  damaged: ' (.commitmeta damaged, it does not decode: sideload verify reports it)',
};

/** Seconds since 1970 as an ISO date; a time past what a date can show (the year 275760) as the number it is. */
function dateOf(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  return Number.isNaN(d.getTime()) ? `${seconds} seconds after 1970 (past any date)` : d.toISOString();
}
