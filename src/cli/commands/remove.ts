/** `sideload remove DRIVE REF…`: take refs off a drive; `--with-deps` also takes what no remaining app needs. */
import type { CommandModule } from 'yargs';
import { Output } from '../output.js';
import { examplesEpilog } from '../help.js';
import { renderRun } from '../render-plan.js';

interface RemoveArgs {
  drive: string;
  refs: string[];
  'destination-repo'?: string;
  'with-deps'?: boolean;
  'sign-key'?: string;
  'dry-run'?: boolean;
  fsync?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function removeCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, RemoveArgs> {
  return {
    command: 'remove <drive> <refs..>',
    aliases: ['rm'],
    describe: 'Take refs off a drive (objects stay until `sideload prune`)',
    builder: (y) =>
      y
        .positional('drive', { type: 'string', demandOption: true, describe: 'The drive (mount) directory' })
        .positional('refs', {
          type: 'string',
          array: true,
          demandOption: true,
          default: undefined,
          describe: 'Full refs, or app/runtime IDs (every arch and branch on the drive)',
        })
        .option('destination-repo', { type: 'string', describe: 'Repo path inside the drive (default .ostree/repo)' })
        .option('with-deps', {
          type: 'boolean',
          describe: 'Also remove runtimes and extensions no remaining app needs',
        })
        .option('sign-key', {
          type: 'string',
          describe: 'ed25519 secret key file: re-sign the summary (without it the drive is left unsigned)',
        })
        .option('dry-run', { type: 'boolean', describe: 'Show what would change; write nothing' })
        .option('fsync', { type: 'boolean', default: true, describe: 'fsync written data' })
        .option('json', { type: 'boolean', describe: 'Print the result as JSON' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'Print nothing but errors' })
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
      const out = new Output({ json: !!args.json, quiet: !!args.quiet, command: 'remove' });
      const [{ removeFromDrive }, { readSecretKeyFile }] = await Promise.all([
        import('../../usb/create.js'),
        import('../../sign/key-files.js'),
      ]);
      const signKey = args['sign-key'] ? await readSecretKeyFile(args['sign-key'], '--sign-key') : undefined;
      const result = await removeFromDrive({
        drive: args.drive,
        refs: args.refs,
        ...(args['destination-repo'] ? { destinationRepo: args['destination-repo'] } : {}),
        withDeps: !!args['with-deps'],
        ...(signKey ? { signKey } : {}),
        dryRun: !!args['dry-run'],
        fsync: args.fsync !== false,
        signal,
        onWarning: (w) => out.warn(w),
      });
      out.result({ ok: true, ...result });
      renderRun(out, result);
      if (result.unneeded.length && !args['with-deps'])
        out.info(
          `No remaining app needs: ${result.unneeded.map((u) => u.ref).join(', ')} (remove them too with --with-deps)`,
        );
      if (!result.dryRun && result.changed)
        out.info(`Run 'sideload prune ${args.drive}' to free the space their objects take.`);
      setCode(0);
    },
  };
}
