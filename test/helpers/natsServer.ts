/** A real NATS server with JetStream on 127.0.0.1 (a free port, a temporary store), and worker processes of the built CLI. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { cliPath, repoRoot } from './fixtures.js';

export const NATS_SERVER = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
})();

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface NatsServerOptions {
  /** A configuration file (`-c`), and the environment it reads its variables from. */
  readonly config?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  if (!NATS_SERVER) throw new Error('nats-server is not installed (bash .ci/install installs it)');
  const port = await freePort();
  const store = mkdtempSync(path.join(os.tmpdir(), 'dls-nats-'));
  const args = [
    ...(options.config ? ['-c', options.config] : []),
    '-js',
    '-sd',
    store,
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
  ];
  const child = spawn(NATS_SERVER, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${log}`)), 10_000);
    child.stderr.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`nats-server exited: ${log}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(store, { recursive: true, force: true });
    },
  };
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  log(): string;
  /** Resolves when its output matches `pattern` (rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** Kills every worker of the list with SIGKILL (a test's teardown), waits for each, and empties the list. */
export async function killWorkers(workers: WorkerProcess[]): Promise<void> {
  for (const w of workers.splice(0)) {
    w.child.kill('SIGKILL');
    await w.exited;
  }
}

/** `deeplab-stream worker --nats URL` as a child process. */
export function startWorker(url: string, env: NodeJS.ProcessEnv = {}, args: readonly string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [cliPath, 'worker', '--nats', url, '--threads', '1', ...args], {
    cwd: repoRoot,
    env: { ...process.env, DEEPLAB_STREAM_CACHE: path.join(os.tmpdir(), 'dls-test-cache'), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  child.stderr.on('data', (d: Buffer) => {
    text += d.toString();
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    log: () => text,
    exited,
    waitFor: (pattern, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(text)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`worker output never matched ${pattern}:\n${text}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl (Debian's): PEM files in `dir`. */
export function makeCertificates(dir: string): { readonly ca: string; readonly cert: string; readonly key: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=deeplab-stream test CA',
    '-keyout',
    file('ca-key.pem'),
    '-out',
    file('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    file('server-key.pem'),
    '-out',
    file('server.csr'),
  );
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca-key.pem'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
    '-out',
    file('server.pem'),
  );
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server-key.pem') };
}
