/**
 * Output written under a temporary name beside its final one and renamed into place only when
 * complete: a crash or Ctrl-C never leaves a file that looks finished.
 */
import { closeSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OutputError } from '../errors.js';

/** `dir/name.ext` → `dir/.name.partial-PID.ext` (keeps the extension, which ffmpeg's muxer choice reads). */
export function partialPathFor(finalPath: string): string {
  const dir = path.dirname(finalPath);
  const ext = path.extname(finalPath);
  return path.join(dir, `.${path.basename(finalPath, ext)}.partial-${process.pid}${ext}`);
}

function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.code === 'ENOENT' ? ': the directory does not exist' : e.code === 'EACCES' ? ': permission denied' : ''}` : String(e.message);
}

/** Creates the partial file now, so an unwritable output fails before any work is done. */
export function createPartialFile(finalPath: string, what: string): string {
  const partial = partialPathFor(finalPath);
  try {
    closeSync(openSync(partial, 'w'));
  } catch (error) {
    throw new OutputError(`cannot write ${what} ${finalPath} (${reason(error)}): choose a writable path`);
  }
  return partial;
}

export function createPartialDirectory(finalDir: string, what: string): string {
  const partial = `${finalDir.replace(/\/+$/, '')}.partial-${process.pid}`;
  try {
    mkdirSync(partial, { recursive: true });
  } catch (error) {
    throw new OutputError(`cannot write ${what} ${finalDir} (${reason(error)}): choose a writable directory`);
  }
  return partial;
}

export function commitPartial(partial: string, finalPath: string, what: string): void {
  try {
    renameSync(partial, finalPath);
  } catch (error) {
    throw new OutputError(`cannot move ${what} into place at ${finalPath} (${reason(error)})`);
  }
}

export function discardPartial(partial: string): void {
  rmSync(partial, { recursive: true, force: true });
}

/** Moves every file of a partial directory into `finalDir` (created if needed), then removes it. */
export function commitPartialFiles(partialDir: string, finalDir: string, what: string): void {
  try {
    mkdirSync(finalDir, { recursive: true });
    for (const file of readdirSync(partialDir)) renameSync(path.join(partialDir, file), path.join(finalDir, file));
    rmSync(partialDir, { recursive: true, force: true });
  } catch (error) {
    throw new OutputError(`cannot move ${what} into ${finalDir} (${reason(error)})`);
  }
}

/** Writes a whole file under its partial name and renames it into place. */
export function writeFileAtomically(file: string, bytes: Uint8Array, what: string): void {
  const partial = partialPathFor(file);
  try {
    writeFileSync(partial, bytes);
    renameSync(partial, file);
  } catch (error) {
    rmSync(partial, { force: true });
    throw new OutputError(`cannot write ${what} ${file} (${reason(error)}): choose a writable path`);
  }
}
