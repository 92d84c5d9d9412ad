/** `sideload prune DRIVE`: delete objects no ref reaches and stale staging, and say how much was freed. */
import type { CommandModule } from 'yargs';
import { formatBytes } from '../output.js';
import { examplesEpilog } from '../help.js';
import { destinationRepo, driveOptions, OUTPUT_OPTIONS, outputFor } from '../common-options.js';
import type { DriveArgs, OutputArgs } from '../common-options.js';
import { runState } from '../run-state.js';

interface PruneArgs extends DriveArgs, OutputArgs {
  'dry-run'?: boolean;
  fsync?: boolean;
}

export function pruneCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, PruneArgs> {
  return {
    command: 'prune <drive>',
    describe: 'Delete objects no ref on the drive reaches (after remove or updates) and stale staging',
    builder: (y) =>
      driveOptions(y)
        .option('dry-run', { type: 'boolean', describe: 'Count what would be deleted; delete nothing' })
        .option('fsync', { type: 'boolean', default: true, describe: 'fsync after deleting' })
        .options(OUTPUT_OPTIONS)
        .epilog(
          examplesEpilog([
            ['Free the space of removed and replaced refs', 'sideload prune /mnt/usb'],
            ['How much would be freed', 'sideload prune --dry-run --json /mnt/usb'],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('prune', args);
      const { pruneDrive } = await import('../../usb/prune.js');
      // Deleting as it goes: an interrupt stops it where it is (main.ts says so).
      if (!args['dry-run']) runState.phase = 'prune';
      const r = await pruneDrive({
        drive: args.drive,
        ...destinationRepo(args),
        dryRun: !!args['dry-run'],
        fsync: args.fsync !== false,
        signal,
      }).finally(() => (runState.phase = 'idle'));
      out.result({ ok: true, ...r });
      out.info(
        `${r.dryRun ? 'Would delete' : 'Deleted'} ${r.objectsDeleted} objects and ${r.markersDeleted} stale ` +
          `markers in ${r.repoRel}, ${formatBytes(r.bytesFreed)} ${r.dryRun ? 'to free' : 'freed'}; ` +
          `${r.objectsKept} objects kept`,
      );
      // A drive of several repos: this prune worked on one; say how to prune each other one.
      if (r.otherRepos.length) {
        const { shellWord } = await import('../../usb/drive-guide.js');
        for (const other of r.otherRepos)
          out.info(
            `The drive also holds the repo ${other}, left as it was: prune it with ` +
              `'sideload prune${r.dryRun ? ' --dry-run' : ''} --destination-repo ${shellWord(other)} ${shellWord(args.drive)}'`,
          );
      }
      setCode(0);
    },
  };
}
