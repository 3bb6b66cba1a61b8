/**
 * Two connected Unix-domain sockets, made through a listening socket in a private folder under the
 * temp folder, closed (and the folder removed) once they are joined. `reader` reads with `onread`: straight into
 * the buffer its `buffer()` hands out, no chunk allocated per read; `writer` is for a child
 * process's stdout (spawn's stdio duplicates it; close the parent's copy after spawning, or the
 * reader never sees the end).
 *
 *   const pair = await socketPair({ buffer: () => frame.subarray(filled), callback: (n) => … });
 *   spawn('ffmpeg', args, { stdio: ['ignore', pair.writer, 'pipe'] }); pair.writer.destroy();
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface SocketPair {
  readonly reader: net.Socket;
  readonly writer: net.Socket;
}

export async function socketPair(onread: net.OnReadOpts): Promise<SocketPair> {
  // A folder of our own (mode 0700): no other user can connect to the socket before we do and be
  // handed ffmpeg's output. Removed with the socket once the two ends are joined.
  const folder = await mkdtemp(path.join(os.tmpdir(), `deeplab-stream-${process.pid}-`));
  try {
    return await join(path.join(folder, 'frames.sock'), onread);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

function join(address: string, onread: net.OnReadOpts): Promise<SocketPair> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(address, () => {
      let writer: net.Socket | null = null;
      let reader: net.Socket | null = null;
      const joined = () => {
        if (!writer || !reader) return;
        server.close();
        client.off('error', failed); // from here on, the caller listens
        resolve({ reader, writer });
      };
      server.once('connection', (socket) => {
        writer = socket;
        joined();
      });
      const client = net.connect({ path: address, onread }, () => {
        reader = client;
        joined();
      });
      const failed = (error: Error) => {
        server.close();
        reject(error);
      };
      client.once('error', failed);
    });
  });
}
