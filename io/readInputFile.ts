import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { type DeeplabStreamError, InputError } from '../core/errors.js';

/** Reads a file the user named; a missing or unreadable one becomes one clear error naming `what`. */
export function readInputFile(
  file: string,
  what: string,
  toError: (message: string) => DeeplabStreamError = (m) => new InputError(m),
): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw unreadable(error, file, what, toError);
  }
}

/** The first `bytes` of a file the user named (fewer if it is shorter), and its size; errors as readInputFile's. */
export function readInputFileStart(file: string, what: string, bytes: number): { start: Buffer; size: number } {
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const start = Buffer.alloc(Math.min(bytes, size));
      return { start: start.subarray(0, readSync(fd, start, 0, start.length, 0)), size };
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw unreadable(error, file, what, (m) => new InputError(m));
  }
}

function unreadable(
  error: unknown,
  file: string,
  what: string,
  toError: (message: string) => DeeplabStreamError,
): DeeplabStreamError {
  const code = (error as NodeJS.ErrnoException).code;
  return toError(code === 'ENOENT' ? `${what} not found: ${file}` : `cannot read ${what} ${file} (${code})`);
}
