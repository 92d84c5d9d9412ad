/** `sideload keygen`: an ed25519 key pair in ostree's base64 key format. */
import path from 'node:path';
import type { CommandModule } from 'yargs';
import fs from 'fs-extra';
import { UsageError } from '../../errors.js';
import { examplesEpilog } from '../help.js';
import { JSON_DOCUMENT, outputFor, QUIET, type OutputArgs } from '../common-options.js';

interface KeygenArgs extends OutputArgs {
  output: string;
  force?: boolean;
}

export function keygenCommand(setCode: (c: number) => void): CommandModule<object, KeygenArgs> {
  return {
    command: 'keygen',
    describe:
      'Create an ed25519 key pair (FILE = secret key, FILE.pub = public key) for create --sign-key / verify ' +
      '--drive-key',
    builder: (y) =>
      y
        .option('output', {
          alias: 'o',
          type: 'string',
          default: 'sideload.key',
          describe: 'Secret key file to write; the public key goes to FILE.pub',
        })
        .option('force', { type: 'boolean', describe: 'Overwrite existing files' })
        .option('json', JSON_DOCUMENT)
        .option('quiet', QUIET)
        .epilog(
          examplesEpilog([
            ['drive.key (keep it secret) and drive.key.pub (for verify --drive-key)', 'sideload keygen -o drive.key'],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('keygen', args);
      const pubFile = `${args.output}.pub`;
      if (!args.force)
        for (const f of [args.output, pubFile])
          if (await fs.pathExists(f)) throw new UsageError(`'${f}' exists; pass --force to overwrite it`, { path: f });
      const { generateKeyPair, formatPublicKey, formatSecretKey } = await import('../../sign/index.js');
      const { publicKey, secretKey } = generateKeyPair();
      await fs.mkdirp(path.dirname(path.resolve(args.output)));
      await fs.writeFile(args.output, formatSecretKey(secretKey), { mode: 0o600 });
      await fs.writeFile(pubFile, formatPublicKey(publicKey), { mode: 0o644 });
      const pub = Buffer.from(publicKey).toString('base64');
      out.result({ ok: true, secretKeyFile: args.output, publicKeyFile: pubFile, publicKey: pub });
      out.info(`Secret key: ${args.output} (keep it secret)\nPublic key: ${pubFile}\n  ${pub}`);
      setCode(0);
    },
  };
}
