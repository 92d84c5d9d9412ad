/**
 * Help text helpers. yargs lays `.example()` out in two columns and wraps long commands mid-word, so examples go
 * in the epilog instead: a `# what it does` line, then the command, continued with `\` so that no line is longer
 * than 78 columns and every example can be pasted into a shell as it is.
 */
export type Example = readonly [description: string, command: string];

/** Breaks a command into `\`-continued lines of at most `width` columns (indent included), at spaces only. */
export function wrapCommand(cmd: string, indent = '  ', width = 78): string[] {
  const words = cmd.split(' ');
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    const lead = lines.length ? `${indent}    ` : indent;
    if (cur && lead.length + cur.length + 1 + w.length + 2 > width) {
      lines.push(`${lead}${cur} \\`);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  lines.push(`${lines.length ? `${indent}    ` : indent}${cur}`);
  return lines;
}

export function examplesEpilog(
  examples: readonly Example[],
  tail = 'Exit codes and environment: sideload --help. JSON output: docs/json-schema.md',
): string {
  const out = ['Examples:'];
  for (const [desc, cmd] of examples) out.push(`  # ${desc}`, ...wrapCommand(cmd));
  return `${out.join('\n')}\n\n${tail}`;
}
