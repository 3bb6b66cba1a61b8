/** A real `deeplab-stream serve` child process and real WebSocket viewers, for the live-path tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';
import { inflateLabels, splitFrameMessage } from '../../viewer/wireFormat.js';
import { cliPath, repoRoot } from './fixtures.js';

export interface ServeProcess {
  readonly child: ChildProcess;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly stderr: () => string;
  /** Resolves when stderr has a line matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `serve ARGS --port 0` and resolves once it prints where it serves. */
export async function startServe(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [cliPath, 'serve', ...args, '--port', '0'], {
    cwd: repoRoot,
    env: { ...process.env, DEEPLAB_STREAM_CACHE: '/tmp/dls-test-cache', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    for (const wake of waiters) wake();
  });
  child.on('exit', () => {
    for (const wake of waiters) wake();
  });
  const waitForLog = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = stderr.split('\n').find((line) => pattern.test(line));
        if (match !== undefined) {
          cleanup();
          resolve(match);
        } else if (child.exitCode !== null) {
          cleanup();
          reject(new Error(`serve exited (${child.exitCode}) before logging ${pattern}:\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${pattern} within ${timeoutMs} ms; stderr:\n${stderr}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const line = await waitForLog(/^serving /);
  const url = /(http:\/\/[^/\s]+)/.exec(line)![1]!;
  return {
    child,
    url,
    stderr: () => stderr,
    waitForLog,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

export interface DecodedFrame {
  header: {
    streamId: string;
    index: number;
    width: number;
    height: number;
    capturedAt: number;
    inferredAt: number;
    sentAt: number;
    crf: boolean;
    classesPresent: number[];
    stageMs: Record<string, number>;
  };
  jpeg: Uint8Array;
  labels: Uint8Array;
}

/** A viewer over a real WebSocket: keeps every control message and decoded frame. */
export class TestViewer {
  readonly frames: DecodedFrame[] = [];
  readonly messages: { type: string; [key: string]: unknown }[] = [];
  private readonly waiters = new Set<() => void>();
  private decoding: Promise<void> = Promise.resolve();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.messages.push(JSON.parse(data.toString()) as { type: string });
        this.wake();
        return;
      }
      const { header, jpeg, packedLabels } = splitFrameMessage(data);
      // Inflating is asynchronous: chained, so frames are kept in the order they arrived.
      this.decoding = this.decoding.then(async () => {
        const labels: Uint8Array = await inflateLabels(packedLabels, header.width, header.height);
        this.frames.push({ header, jpeg, labels });
        this.wake();
      });
    });
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<TestViewer> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}`, options);
    const viewer = new TestViewer(socket);
    await once(socket, 'open');
    return viewer;
  }

  send(message: object): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Resolves when `predicate` holds (checked after every message). */
  until(predicate: (viewer: TestViewer) => boolean, timeoutMs = 30_000, what = 'the condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate(this)) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what} (${this.frames.length} frames, last messages ${JSON.stringify(this.messages.slice(-2))})`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.socket.terminate();
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
