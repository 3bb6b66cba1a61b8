/**
 * One file over HTTP(S) (or from a file:// URL) into place, checked: streamed to a hidden partial file while its sha256 is
 * computed, renamed into place only when the size and the hash are right. Any failure — no network,
 * an HTTP error, a stalled or cut connection, a wrong checksum, Ctrl-C — removes the partial and
 * throws a `DownloadError` saying what happened; nothing is left behind.
 *
 *   await downloadFile({ url, destination, sha256, bytes, onProgress: (got, total) => … })
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { commitPartial, discardPartial, ioReason, partialPathFor, removeStalePartials } from './partialFile.js';

export interface DownloadRequest {
  readonly url: string;
  readonly destination: string;
  readonly sha256: string;
  /** The expected size; also the progress total when the server sends no length. */
  readonly bytes: number;
  readonly onProgress?: (received: number, total: number) => void;
  readonly signal?: AbortSignal;
  /** No byte for this long is a failure (default 30 s). */
  readonly stallMs?: number;
}

/** Why a download failed, in words (`reason`), for the caller to turn into advice. */
export class DownloadError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'DownloadError';
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found (no network or no DNS)',
  EAI_AGAIN: 'host name lookup failed (no network or no DNS)',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
};

function networkReason(error: unknown): string {
  const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
  const code = cause?.code ?? (error as NodeJS.ErrnoException).code;
  if (code && NETWORK_REASONS[code]) return NETWORK_REASONS[code];
  if (code && /^E[A-Z]+$/.test(code)) return ioReason(cause ?? error);
  return cause?.message ?? (error as Error).message;
}

export async function downloadFile(request: DownloadRequest): Promise<void> {
  const { url, destination, sha256, bytes, onProgress, signal, stallMs = 30_000 } = request;
  removeStalePartials(destination);
  const partial = partialPathFor(destination);
  const stall = new AbortController();
  let stallTimer: NodeJS.Timeout | undefined;
  const armStallTimer = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => stall.abort(), stallMs);
  };
  const aborted = signal ? AbortSignal.any([signal, stall.signal]) : stall.signal;
  const cancelled = () => signal?.aborted === true;
  try {
    armStallTimer();
    const { body, declared } = url.startsWith('file:')
      ? openLocal(url, aborted)
      : await openRemote(url, aborted, () =>
          cancelled() ? 'interrupted' : stall.signal.aborted ? `no answer in ${stallMs / 1000} s` : null,
        );
    if (declared !== null && declared !== bytes)
      throw new DownloadError(
        `the server offers ${declared} bytes, the published file has ${bytes}: it is another file`,
      );
    const hash = createHash('sha256');
    let received = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        armStallTimer();
        received += chunk.length;
        if (received > bytes)
          return done(new DownloadError(`the server sent more than the ${bytes} bytes of the published file`));
        hash.update(chunk);
        onProgress?.(received, bytes);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(partial));
    } catch (error) {
      if (error instanceof DownloadError) throw error;
      if (cancelled()) throw new DownloadError('interrupted');
      if (stall.signal.aborted)
        throw new DownloadError(`stalled: no data for ${stallMs / 1000} s after ${received} of ${bytes} bytes`);
      const code = (error as NodeJS.ErrnoException).code;
      if (code && /^E[A-Z]+$/.test(code) && code !== 'ECONNRESET')
        throw new DownloadError(`cannot write ${partial} (${ioReason(error)})`);
      throw new DownloadError(`the connection broke after ${received} of ${bytes} bytes (${networkReason(error)})`);
    }
    if (received !== bytes) throw new DownloadError(`the connection ended after ${received} of ${bytes} bytes`);
    const actual = hash.digest('hex');
    if (actual !== sha256) throw new DownloadError(`the file's sha256 is ${actual}, not the published ${sha256}`);
    commitPartial(partial, destination, 'the downloaded file');
  } catch (error) {
    discardPartial(partial);
    throw error;
  } finally {
    clearTimeout(stallTimer);
  }
}

/** An HTTP(S) body; `interrupted` names why a failed request failed when that was the caller's doing. */
async function openRemote(
  url: string,
  signal: AbortSignal,
  interrupted: () => string | null,
): Promise<{ body: Readable; declared: number | null }> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (error) {
    throw new DownloadError(interrupted() ?? networkReason(error));
  }
  if (!response.ok || !response.body) throw new DownloadError(`HTTP ${response.status} ${response.statusText}`.trim());
  return {
    body: Readable.fromWeb(response.body as WebReadableStream<Uint8Array>, { signal }),
    declared: Number(response.headers.get('content-length')) || null,
  };
}

/** A file:// URL (a mirror on a file share, for air-gapped sites): read as a download is, checked the same way. */
function openLocal(url: string, signal: AbortSignal): { body: Readable; declared: number | null } {
  let file: string;
  try {
    file = fileURLToPath(url);
  } catch {
    throw new DownloadError(`${url} is not a file URL (file:///path/to/file)`);
  }
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    throw new DownloadError(`cannot read ${file} (${ioReason(error)})`);
  }
  return { body: createReadStream(file, { signal }), declared: size };
}
