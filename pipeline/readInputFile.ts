import { readFileSync } from 'node:fs';
import { type DeeplabStreamError, InputError } from '../core/errors.js';

/** Reads a file the user named; a missing or unreadable one becomes one clear error naming `what`. */
export function readInputFile(file: string, what: string, toError: (message: string) => DeeplabStreamError = (m) => new InputError(m)): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw toError(code === 'ENOENT' ? `${what} not found: ${file}` : `cannot read ${what} ${file} (${code})`);
  }
}
