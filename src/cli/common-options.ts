/**
 * The declarations several commands share, each written once with one description: the drive argument and
 * --destination-repo, --json and --quiet (cli/write-options.ts has those of the commands that copy from a source);
 * and what a handler makes of them.
 */
import type { Argv, Options, PositionalOptions } from 'yargs';
import { Output } from './output.js';

/** The drive argument and the repo inside it. */
export interface DriveArgs {
  drive: string;
  'destination-repo'?: string;
}

export interface OutputArgs {
  json?: boolean;
  quiet?: boolean;
}

/** `<drive>` of create, update, remove and prune. */
export const DRIVE = {
  type: 'string',
  demandOption: true,
  describe: 'The drive (mount) directory',
} as const satisfies PositionalOptions;

/** `<drive>` and --destination-repo (update, remove, prune). */
export function driveOptions<T>(y: Argv<T>): Argv<T & DriveArgs> {
  return y.positional('drive', DRIVE).option('destination-repo', {
    type: 'string',
    describe: 'Repo path inside the drive (default .ostree/repo)',
  }) as unknown as Argv<T & DriveArgs>;
}

export const QUIET = { alias: 'q', type: 'boolean', describe: 'Print nothing but errors' } as const satisfies Options;

/** --json and --quiet of the commands that report a run (`.options(OUTPUT_OPTIONS)`). */
export const OUTPUT_OPTIONS = {
  json: { type: 'boolean', describe: 'Print the result as JSON' },
  quiet: QUIET,
} as const satisfies Record<string, Options>;

/** --json of the commands whose JSON document docs/json-schema.md describes. */
export const JSON_DOCUMENT = {
  type: 'boolean',
  describe: 'Print one JSON document (docs/json-schema.md)',
} as const satisfies Options;

/** The command's output, as --json and --quiet ask. */
export function outputFor(command: string, args: OutputArgs): Output {
  return new Output({ json: !!args.json, quiet: !!args.quiet, command });
}

/** --destination-repo as the library option. */
export function destinationRepo(args: { readonly 'destination-repo'?: string }): { destinationRepo?: string } {
  return args['destination-repo'] ? { destinationRepo: args['destination-repo'] } : {};
}
