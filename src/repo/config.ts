/**
 * The repo `config` file: GKeyFile text read with src/keyfile/. We use `[core] mode` and `collection-id`, and
 * expose `get` for the rest. Syntax errors become CorruptError naming the file and line.
 */
import { CorruptError, UnsupportedError } from '../errors.js';
import { KeyFileSyntaxError, parseKeyFile } from '../keyfile/index.js';

export interface RepoConfig {
  /** The value of `key` in `[group]`, or undefined. */
  get(group: string, key: string): string | undefined;
  /** Group names in file order. */
  groups(): string[];
}

/** Parses a repo config. @throws CorruptError naming `where` and the line. */
export function parseRepoConfig(text: string, where = 'config'): RepoConfig {
  try {
    return parseKeyFile(text);
  } catch (e) {
    if (e instanceof KeyFileSyntaxError)
      throw new CorruptError(`${where}: ${e.message}`, { path: where, line: e.line });
    throw e;
  }
}

/** The modes we read. (`bare-split-xattrs` is refused.) */
export type SourceMode = 'archive' | 'bare' | 'bare-user' | 'bare-user-only';

const MODES: Readonly<Record<string, SourceMode>> = {
  archive: 'archive',
  'archive-z2': 'archive',
  bare: 'bare',
  'bare-user': 'bare-user',
  'bare-user-only': 'bare-user-only',
};

/** `[core] mode` (default bare). @throws UnsupportedError naming `repoPath` for a mode we cannot read. */
export function repoMode(config: RepoConfig, repoPath: string): SourceMode {
  const modeText = config.get('core', 'mode') ?? 'bare';
  const mode = MODES[modeText];
  if (!mode)
    throw new UnsupportedError(
      `the repo '${repoPath}' has mode '${modeText}', which sideload cannot read ` +
        '(supported: archive, archive-z2, bare, bare-user, bare-user-only)',
      { path: repoPath, mode: modeText },
    );
  return mode;
}
