/**
 * verify's checks of a repo's layout: the config and its mode, the directories a read-only open needs, a pending
 * publish, and refs/heads (which offline clients do not see).
 */
import path from 'node:path';
import fs from 'fs-extra';
import { expectFailure, expectOnly } from '../errors.js';
import { readLocalText } from '../transport/local.js';
import { KeyFileSyntaxError, parseKeyFile } from '../keyfile/index.js';
import { listRefFiles } from '../repo/index.js';
import { error, warning, type Finding } from './findings.js';
import { hasPendingPublish, JOURNAL } from './publish.js';

/** A repo config is a few lines: larger is not one. */
const CONFIG_LIMIT = 1 << 20;

/** Config, mode, the directories a read-only open needs, a pending publish. `usable` false: nothing more to check. */
export async function checkLayout(repo: string): Promise<{ findings: Finding[]; usable: boolean }> {
  const findings: Finding[] = [];
  let configText: string | null;
  try {
    configText = await readLocalText(path.join(repo, 'config'), CONFIG_LIMIT);
  } catch (e) {
    return { findings: [error('bad-config', expectFailure(e).message, 'config')], usable: false };
  }
  if (configText === null)
    return { findings: [error('no-config', 'the repo has no config file', 'config')], usable: false };
  let config;
  try {
    config = parseKeyFile(configText);
  } catch (e) {
    return {
      findings: [
        error('bad-config', `config cannot be parsed: ${expectOnly(e, KeyFileSyntaxError).message}`, 'config'),
      ],
      usable: false,
    };
  }
  const mode = config.get('core', 'mode');
  if (mode !== 'archive-z2' && mode !== 'archive')
    findings.push(error('not-archive', `repo mode is '${mode ?? '(none)'}', not archive`, 'config'));
  if (config.get('core', 'collection-id'))
    findings.push(
      warning(
        'collection-id-set',
        'core.collection-id is set: offline clients list only the collection-map, so refs/heads would be invisible',
        'config',
      ),
    );
  for (const d of ['objects', 'tmp', 'refs/heads', 'refs/mirrors', 'state'])
    if (!(await fs.pathExists(path.join(repo, d))))
      findings.push(
        error('missing-dir', `directory '${d}' is missing (a read-only drive cannot be opened without it)`, d),
      );
  if (await hasPendingPublish(repo))
    findings.push(
      error(
        'pending-publish',
        'an interrupted run left its publish journal; run `sideload verify --repair` ' +
          '(or the interrupted command again) to finish it',
        JOURNAL,
      ),
    );
  return { findings, usable: true };
}

/** refs/heads: invisible to offline clients. */
export async function checkHeadRefs(repo: string): Promise<Finding[]> {
  return (await listRefFiles(path.join(repo, 'refs', 'heads'), { lenient: true })).map(([name]) =>
    warning(
      'head-ref',
      `refs/heads/${name} is not visible to offline clients (only refs/mirrors are listed)`,
      `refs/heads/${name}`,
    ),
  );
}
