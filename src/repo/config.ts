/**
 * The repo `config` file: GKeyFile text read with src/keyfile/. We use `[core] mode` and `collection-id`, and
 * expose `get` for the rest. Syntax errors become CorruptError naming the file and line.
 */
import { CorruptError } from '../errors.js';
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
