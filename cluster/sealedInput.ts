/**
 * Input credentials never travel in clear: `serve --nats` puts a live task in a bucket every
 * client of the broker may be able to read, so an input with `user:password@` goes there
 * redacted (`rtsp://***@cam/live`, what logs and viewers show) beside the whole address sealed
 * with AES-256-GCM under a key the server and its workers share (`--input-key FILE`, any secret:
 * `openssl rand -hex 32 > input.key`). A worker without the key refuses the stream in one line.
 *
 *   const key = readInputKey('input.key'); const sealed = sealInput('rtsp://u:p@cam/x', key); openSealed(sealed, key) === 'rtsp://u:p@cam/x'
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import type { LiveTask } from './protocol.js';

/** A 256-bit key (the SHA-256 of the key file's text, so any secret of enough length serves). */
export interface InputKey {
  readonly bytes: Buffer;
}

const VERSION = 'v1';

export function readInputKey(file: string): InputKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new UsageError(
      `--input-key ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  if (text.length < 16)
    throw new UsageError(
      `--input-key ${file}: holds ${text.length} characters; a key needs at least 16 (make one with \`openssl rand -hex 32 > ${file}\`)`,
    );
  return { bytes: createHash('sha256').update(text).digest() };
}

/** Whether an input holds credentials (a URL's user or password). */
export const hasCredentials = (spec: string): boolean => redactSecrets(spec) !== spec;

export function sealInput(spec: string, key: InputKey): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.bytes, iv);
  const sealed = Buffer.concat([cipher.update(spec, 'utf8'), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')}`;
}

export function openSealed(sealed: string, key: InputKey): string {
  const [version, body] = sealed.split('.');
  const bytes = Buffer.from(body ?? '', 'base64url');
  if (version !== VERSION || bytes.length < 29) throw new Error('malformed');
  const decipher = createDecipheriv('aes-256-gcm', key.bytes, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
}

/** The input a task asks this worker to open: its sealed address opened with the key, or the address as given. */
export function openSealedInput(task: LiveTask, key: InputKey | undefined): string {
  if (task.sealedInput === undefined) return task.input;
  if (!key)
    throw new Error("refused: the input's credentials are sealed with a key this worker was not given (--input-key)");
  let spec: string;
  try {
    spec = openSealed(task.sealedInput, key);
  } catch {
    throw new Error("refused: the input's credentials are sealed with another key than this worker's (--input-key)");
  }
  // The shown address and the sealed one must name the same input.
  if (redactSecrets(spec) !== task.input) throw new Error('refused: the sealed input does not match the task');
  return spec;
}
