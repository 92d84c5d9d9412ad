/** `sideload remove DRIVE REF…`: take refs off a drive; `--with-deps` also takes what no remaining app needs. */
import type { CommandModule } from 'yargs';
import { examplesEpilog } from '../help.js';
import { renderRun } from '../render-plan.js';
import { writingRun } from '../run-state.js';
import { signKeyOption, UNSIGNED_DESCRIPTION } from '../write-options.js';
import { destinationRepo, driveOptions, hintWords, OUTPUT_OPTIONS, outputFor } from '../common-options.js';
import type { DriveArgs, OutputArgs } from '../common-options.js';

interface RemoveArgs extends DriveArgs, OutputArgs {
  refs: string[];
  'with-deps'?: boolean;
  unsigned?: boolean;
  'sign-key'?: string;
  'dry-run'?: boolean;
  fsync?: boolean;
}

export function removeCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, RemoveArgs> {
  return {
    command: 'remove <drive> <refs..>',
    aliases: ['rm'],
    describe: 'Take refs off a drive (objects stay until `sideload prune`)',
    builder: (y) =>
      driveOptions(y)
        .positional('refs', {
          type: 'string',
          array: true,
          demandOption: true,
          default: undefined,
          describe: 'Full refs, or app/runtime IDs (every arch and branch on the drive)',
        })
        .option('with-deps', {
          type: 'boolean',
          describe: 'Also remove runtimes and extensions no remaining app needs',
        })
        .option('sign-key', {
          type: 'string',
          describe: 'ed25519 secret key file: re-sign the summary (a signed drive needs it, or --unsigned)',
        })
        .option('unsigned', { type: 'boolean', describe: UNSIGNED_DESCRIPTION })
        .option('dry-run', { type: 'boolean', describe: 'Show what would change; write nothing' })
        .option('fsync', { type: 'boolean', default: true, describe: 'fsync written data' })
        .options(OUTPUT_OPTIONS)
        .epilog(
          examplesEpilog([
            ['Take an app off (its runtime stays; listed as unneeded)', 'sideload remove /mnt/usb org.example.App'],
            [
              'Take it off with its runtime, then free the space',
              'sideload remove --with-deps /mnt/usb org.example.App && sideload prune /mnt/usb',
            ],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('remove', args);
      const [{ removeFromDrive }, signKey] = await Promise.all([
        import('../../usb/remove.js'),
        signKeyOption(args['sign-key']),
      ]);
      const result = await writingRun(args.drive, args['destination-repo'], undefined, (onProgress) =>
        removeFromDrive({
          drive: args.drive,
          refs: args.refs,
          ...destinationRepo(args),
          withDeps: !!args['with-deps'],
          ...signKey,
          unsigned: !!args.unsigned,
          dryRun: !!args['dry-run'],
          fsync: args.fsync !== false,
          signal,
          onProgress,
          onWarning: (w) => out.warn(w),
        }),
      );
      out.result({ ok: true, ...result });
      renderRun(out, result);
      const hints = (result.unneeded.length && !args['with-deps']) || (!result.dryRun && result.changed);
      const { flag, drive } = hints ? await hintWords(args, result.repo) : { flag: '', drive: '' };
      if (result.unneeded.length && !args['with-deps'])
        out.info(
          `No remaining app needs: ${result.unneeded.map((u) => u.ref).join(', ')} (remove them too with ` +
            `--with-deps${flag})`,
        );
      if (!result.dryRun && result.changed)
        out.info(`Run 'sideload prune${flag} ${drive}' to free the space their objects take.`);
      setCode(0);
    },
  };
}
