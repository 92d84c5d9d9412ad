/** `sideload list DRIVE`: what a drive holds. */
import type { CommandModule } from 'yargs';
import { formatBytes } from '../output.js';
import { examplesEpilog } from '../help.js';
import { JSON_DOCUMENT, outputFor } from '../common-options.js';
import { listRepoJson } from '../json.js';

interface ListArgs {
  drive: string;
  json?: boolean;
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
      out.result({ ok: true, repos: repos.map(listRepoJson) });
      for (const r of repos) {
        const signed = r.signed ? ' (summary.sig present, unchecked: sideload verify checks it)' : '';
        const updated =
          r.lastModified !== undefined ? `, updated ${new Date(Number(r.lastModified) * 1000).toISOString()}` : '';
        out.info(`${r.repo}${signed}${updated}`);
        for (const c of r.collections) {
          out.info(`  ${c.collectionId}${c.upstreamSummary ? ' (carries the upstream summary)' : ''}`);
          for (const ref of c.refs) {
            const size = ref.installedSize !== undefined ? ` ${formatBytes(Number(ref.installedSize))}` : '';
            // A Locale subset shows its languages: /files/de → de.
            const subset = ref.subpaths
              ? ref.subpaths
                  .filter((p) => p !== '/metadata')
                  .map((p) => p.replace(/^\/files\//, ''))
                  .join(', ')
              : '';
            const partial = ref.partial ? (subset ? ` partial (${subset})` : ' partial') : '';
            const version = ref.version ? ` v${ref.version}` : '';
            const signed = ref.signed ? ' (signature present)' : '';
            out.info(`    ${ref.ref} ${ref.commit.slice(0, 12)}${version}${size}${partial}${signed}`);
          }
        }
      }
      setCode(0);
    },
  };
}
