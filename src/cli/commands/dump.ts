/** `sideload dump FILE`: print an ostree object, summary or signature file in GVariant text format. */
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { UsageError } from '../../errors.js';
import {
  COMMIT,
  DIRMETA,
  DIRTREE,
  DETACHED_METADATA,
  SUMMARY,
  SUMMARY_INDEX,
  DEPLOY_DATA,
} from '../../ostree/formats.js';
import { JSON_DOCUMENT, outputFor, QUIET, type OutputArgs } from '../common-options.js';
import { examplesEpilog } from '../help.js';
import { readInputFile } from '../input-file.js';
import { LOCAL_READ_LIMIT } from '../../transport/local.js';

interface DumpArgs extends OutputArgs {
  file: string;
  type?: string;
  lenient?: boolean;
}

const BY_NAME: Array<[RegExp, string]> = [
  [/\.commit$/, COMMIT],
  [/\.dirtree$/, DIRTREE],
  [/\.dirmeta$/, DIRMETA],
  [/\.(commitmeta|sig)$/, DETACHED_METADATA],
  [/(^|\/)summary$/, SUMMARY],
  [/\.sub$/, SUMMARY],
  [/summary\.idx$|\.idx$/, SUMMARY_INDEX],
  [/(^|\/)deploy$/, DEPLOY_DATA],
];

export function dumpCommand(setCode: (c: number) => void): CommandModule<object, DumpArgs> {
  return {
    command: 'dump <file>',
    describe: 'Print an ostree object, summary, summary.idx or .sig file as GVariant text',
    builder: (y) =>
      y
        .positional('file', {
          type: 'string',
          demandOption: true,
          describe: 'The file: .commit, .dirtree, .dirmeta, .commitmeta, .sig, summary, summary.idx, deploy',
        })
        .option('type', { type: 'string', describe: 'GVariant type string (default: from the file name)' })
        .option('lenient', { type: 'boolean', describe: 'Read non-normal data as GLib does instead of refusing it' })
        .option('json', JSON_DOCUMENT)
        .option('quiet', QUIET)
        .epilog(
          examplesEpilog([
            ["A drive's summary as GVariant text", 'sideload dump /mnt/usb/.ostree/repo/summary'],
            ['Any file with an explicit GVariant type', "sideload dump --type '(uuua(ayay))' some.dirmeta"],
          ]),
        ) as never,
    handler: async (args) => {
      // Read first: a file that does not exist is not found (exit 3), whatever its name says of its type.
      const bytes = await readInputFile(args.file, 'file', LOCAL_READ_LIMIT);
      const type = args.type ?? BY_NAME.find(([re]) => re.test(args.file))?.[1];
      if (!type) throw new UsageError(`cannot tell the type of '${path.basename(args.file)}'; pass --type`);
      const { decode, print } = await import('../../gvariant/index.js');
      const value = decode(type, bytes, { strict: !args.lenient });
      const text = print(type, value);
      outputFor('dump', args).result({ ok: true, type, text });
      // -q: only whether the file decodes (the exit code).
      if (!args.json && !args.quiet) process.stdout.write(text + '\n');
      setCode(0);
    },
  };
}
