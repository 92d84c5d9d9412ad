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

/**
 * How a hint's command names the repo this run wrote (`repo`): `drive` (shell-quoted as needed), and `flag`,
 * ` --destination-repo X` when that repo is not the one the drive resolves to by default (a drive with a second
 * repo: `sideload prune DRIVE` would prune the other one), else empty.
 */
export async function hintWords(args: DriveArgs, repo: string): Promise<{ flag: string; drive: string }> {
  const [{ locateDrive }, { shellWord }] = await Promise.all([
    import('../usb/drive.js'),
    import('../usb/drive-guide.js'),
  ]);
  const given = args['destination-repo'];
  const byDefault = given
    ? await locateDrive(args.drive).then(
        (l) => l.repo,
        () => null,
      )
    : repo;
  return {
    flag: given && byDefault !== repo ? ` --destination-repo ${shellWord(given)}` : '',
    drive: shellWord(args.drive),
  };
}
