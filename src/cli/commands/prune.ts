/** `sideload prune DRIVE`: delete objects no ref reaches and stale staging, and say how much was freed. */
import type { CommandModule } from 'yargs';
import { Output, formatBytes } from '../output.js';
import { examplesEpilog } from '../help.js';

interface PruneArgs {
  drive: string;
  'destination-repo'?: string;
  'dry-run'?: boolean;
  fsync?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function pruneCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, PruneArgs> {
  return {
    command: 'prune <drive>',
    describe: 'Delete objects no ref on the drive reaches (after remove or updates) and stale staging',
    builder: (y) =>
      y
        .positional('drive', { type: 'string', demandOption: true, describe: 'The drive (mount) directory' })
        .option('destination-repo', { type: 'string', describe: 'Repo path inside the drive (default .ostree/repo)' })
        .option('dry-run', { type: 'boolean', describe: 'Count what would be deleted; delete nothing' })
        .option('fsync', { type: 'boolean', default: true, describe: 'fsync after deleting' })
        .option('json', { type: 'boolean', describe: 'Print the result as JSON' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'Print nothing but errors' })
        .epilog(
          examplesEpilog([
            ['Free the space of removed and replaced refs', 'sideload prune /mnt/usb'],
            ['How much would be freed', 'sideload prune --dry-run --json /mnt/usb'],
          ]),
        ) as never,
    handler: async (args) => {
      const out = new Output({ json: !!args.json, quiet: !!args.quiet, command: 'prune' });
      const { pruneDrive } = await import('../../usb/prune.js');
      const r = await pruneDrive({
        drive: args.drive,
        ...(args['destination-repo'] ? { destinationRepo: args['destination-repo'] } : {}),
        dryRun: !!args['dry-run'],
        fsync: args.fsync !== false,
        signal,
      });
      out.result({ ok: true, ...r });
      out.info(
        `${r.dryRun ? 'Would delete' : 'Deleted'} ${r.objectsDeleted} objects and ${r.markersDeleted} stale markers, ${formatBytes(r.bytesFreed)} ${r.dryRun ? 'to free' : 'freed'}; ${r.objectsKept} objects kept`,
      );
      setCode(0);
    },
  };
}
