/**
 * Extended attributes, which Node cannot read. Only the legacy `bare-user` mode (its `user.ostreemeta` xattr) and
 * the rare `bare` mode (real xattrs are part of the checksum) need them, so we use a helper process rather than a
 * native addon: one long-lived `python3` running a 20-line loop over os.getxattr/os.listxattr, with requests
 * pipelined over a pipe (a few µs per object). Paths travel hex-encoded so any byte is safe. When python3 is not
 * installed the caller gets an UnsupportedError saying what to install. (getfattr would need one process per
 * file; /proc exposes no xattrs.)
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { UnsupportedError } from '../errors.js';

export interface XattrReader {
  /** The value of xattr `name` of `path` (not following symlinks), or null if it has none. */
  get(path: string, name: string): Promise<Uint8Array | null>;
  /** Every xattr of `path` (not following symlinks), in the kernel's listxattr order (what ostree 2022.7 hashes). */
  list(path: string): Promise<Array<[string, Uint8Array]>>;
  close(): Promise<void>;
}

const HELPER = String.raw`
import os, sys, errno
out = sys.stdout
for line in sys.stdin:
    parts = line.rstrip('\n').split('\t')
    try:
        p = bytes.fromhex(parts[1])
        if parts[0] == 'G':
            try:
                v = os.getxattr(p, bytes.fromhex(parts[2]), follow_symlinks=False)
                out.write('V\t' + v.hex() + '\n')
            except OSError as e:
                if e.errno in (errno.ENODATA, getattr(errno, 'ENOATTR', errno.ENODATA)):
                    out.write('N\n')
                else:
                    raise
        else:
            names = os.listxattr(p, follow_symlinks=False)
            vals = [n.encode().hex() + '=' + os.getxattr(p, n, follow_symlinks=False).hex() for n in names]
            out.write('L\t' + ','.join(vals) + '\n')
    except OSError as e:
        out.write('E\t' + str(e.errno) + '\t' + (e.strerror or '') + '\n')
    out.flush()
`;

type Pending = { resolve: (line: string) => void; reject: (e: Error) => void };

class PythonXattrReader implements XattrReader {
  private pending: Pending[] = [];
  private buf = '';
  private dead: Error | null = null;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.setRef(false);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.pending.shift()?.resolve(line);
      }
      if (this.pending.length === 0) this.setRef(false);
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.splice(0)) p.reject(this.dead);
    };
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`xattr helper exited (${code})`)));
    child.stdin.on('error', fail);
  }

  /** The helper keeps the event loop alive only while a request is pending (a forgotten close() never hangs). */
  private setRef(on: boolean): void {
    for (const h of [this.child, this.child.stdout, this.child.stdin, this.child.stderr] as Array<{ ref?: () => void; unref?: () => void }>) {
      if (on) h.ref?.();
      else h.unref?.();
    }
  }

  private ask(req: string, path: string): Promise<string> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise<string>((resolve, reject) => {
      if (this.pending.length === 0) this.setRef(true);
      this.pending.push({ resolve, reject });
      this.child.stdin.write(req + '\n');
    }).then((line) => {
      if (line.startsWith('E\t')) {
        const [, errno, msg] = line.split('\t');
        const e = new Error(`cannot read xattrs of ${path}: ${msg ?? ''} (errno ${errno ?? '?'})`) as NodeJS.ErrnoException;
        e.errno = Number(errno);
        e.code = Number(errno) === 2 ? 'ENOENT' : Number(errno) === 95 || Number(errno) === 61 ? 'ENOTSUP' : 'EXATTR';
        throw e;
      }
      return line;
    });
  }

  async get(path: string, name: string): Promise<Uint8Array | null> {
    const line = await this.ask(`G\t${Buffer.from(path).toString('hex')}\t${Buffer.from(name).toString('hex')}`, path);
    if (line === 'N') return null;
    return new Uint8Array(Buffer.from(line.slice(2), 'hex'));
  }

  async list(path: string): Promise<Array<[string, Uint8Array]>> {
    const line = await this.ask(`L\t${Buffer.from(path).toString('hex')}`, path);
    const body = line.slice(2);
    if (body === '') return [];
    return body.split(',').map((kv) => {
      const [k, v] = kv.split('=') as [string, string];
      return [Buffer.from(k, 'hex').toString('utf8'), new Uint8Array(Buffer.from(v, 'hex'))];
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.dead) return;
    await new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
    });
  }
}

/**
 * Starts the xattr helper. @throws UnsupportedError when python3 is missing (naming `why`, the repo that needs it).
 */
export async function openXattrReader(why: string): Promise<XattrReader> {
  const child = spawn('python3', ['-c', HELPER], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.resume();
  const reader = new PythonXattrReader(child);
  try {
    // Probe: a request on a path that does not exist must answer with an error line, proving the helper runs.
    await reader.get('/nonexistent-sideload-probe', 'user.x').catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT' && e.code !== 'ENOTSUP') throw e;
    });
  } catch (e) {
    throw new UnsupportedError(
      `${why} needs extended attributes, which sideload reads through python3, and python3 could not be run (${(e as Error).message}); install python3`,
      { reason: 'xattr-helper' },
    );
  }
  return reader;
}
