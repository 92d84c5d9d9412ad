/**
 * The commands a JSON document can name, each alias mapped to its canonical name (`create-usb` → `create`, `ls` →
 * `list`). It imports nothing: launch.ts, the shipped program's first lines, names the command in the document it
 * prints for a Ctrl-C while the program loads, and output.ts in every other one.
 */
export const COMMAND_NAMES: Readonly<Record<string, string>> = {
  create: 'create',
  'create-usb': 'create',
  lock: 'lock',
  update: 'update',
  remove: 'remove',
  prune: 'prune',
  list: 'list',
  ls: 'list',
  verify: 'verify',
  keygen: 'keygen',
  dump: 'dump',
  // Only in its usage error document: the completion script is no JSON.
  completion: 'completion',
};

/** The canonical name of the first word of `argv` that is a command, if any. */
export function commandIn(argv: readonly string[]): string | undefined {
  for (const a of argv) if (Object.hasOwn(COMMAND_NAMES, a)) return COMMAND_NAMES[a];
  return undefined;
}
