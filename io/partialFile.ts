/**
 * Output written under a temporary, hidden name beside its final one and renamed into place only
 * when complete: a crash or Ctrl-C never leaves a file that looks finished. What a killed run
 * (`kill -9`, a power cut) left behind is removed by the next run writing to the same place.
 */
import { closeSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OutputError } from '../core/errors.js';

/** `dir/name.ext` → `dir/.name.partial-PID.ext` (keeps the extension, which ffmpeg's muxer choice reads). */
export function partialPathFor(finalPath: string, pid = process.pid): string {
  const dir = path.dirname(finalPath);
  const ext = path.extname(finalPath);
  return path.join(dir, `.${path.basename(finalPath, ext)}.partial-${pid}${ext}`);
}

const REASONS: Record<string, string> = {
  ENOENT: 'the directory does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'over the disk quota',
  EROFS: 'a read-only file system',
  EFBIG: 'the file is too large for the file system',
  EIO: 'an I/O error from the disk',
};

/** An OS error as users read it: its code and what it means. */
export function ioReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}${REASONS[e.code] ? `: ${REASONS[e.code]}` : ''}` : String(e.message);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes partial outputs for `finalPath` left by runs that no longer exist (killed, crashed).
 * A directory's partial keeps its whole name (`.masks.v2.partial-PID`), a file's its extension last.
 */
export function removeStalePartials(finalPath: string, kind: 'file' | 'directory' = 'file'): void {
  const dir = path.dirname(finalPath);
  const ext = kind === 'file' ? path.extname(finalPath) : '';
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const stale = new RegExp(`^\\.${escape(path.basename(finalPath, ext))}\\.partial-(\\d+)${escape(ext)}$`);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return; // the directory is not there (yet): nothing stale in it
  }
  for (const entry of entries) {
    const pid = Number(stale.exec(entry)?.[1]);
    if (pid && pid !== process.pid && !isRunning(pid)) rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
}

/** Creates the partial file now, so an unwritable output fails before any work is done. */
export function createPartialFile(finalPath: string, what: string): string {
  removeStalePartials(finalPath);
  const partial = partialPathFor(finalPath);
  try {
    closeSync(openSync(partial, 'w'));
  } catch (error) {
    throw new OutputError(`cannot write ${what} ${finalPath} (${ioReason(error)}): choose a writable path`);
  }
  return partial;
}

/** `dir/masks` → `dir/.masks.partial-PID/`, hidden like the partial files. */
export function createPartialDirectory(finalDir: string, what: string): string {
  const trimmed = finalDir.replace(/\/+$/, '');
  removeStalePartials(trimmed, 'directory');
  const partial = path.join(path.dirname(trimmed), `.${path.basename(trimmed)}.partial-${process.pid}`);
  try {
    mkdirSync(partial, { recursive: true });
  } catch (error) {
    throw new OutputError(`cannot write ${what} ${finalDir} (${ioReason(error)}): choose a writable directory`);
  }
  return partial;
}

export function commitPartial(partial: string, finalPath: string, what: string): void {
  try {
    renameSync(partial, finalPath);
  } catch (error) {
    throw new OutputError(`cannot move ${what} into place at ${finalPath} (${ioReason(error)})`);
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
    throw new OutputError(`cannot move ${what} into ${finalDir} (${ioReason(error)})`);
  }
}

/** Writes a whole file under its partial name and renames it into place. */
export function writeFileAtomically(file: string, bytes: Uint8Array, what: string): void {
  removeStalePartials(file);
  const partial = partialPathFor(file);
  try {
    writeFileSync(partial, bytes);
    renameSync(partial, file);
  } catch (error) {
    rmSync(partial, { force: true });
    throw new OutputError(`cannot write ${what} ${file} (${ioReason(error)}): choose a writable path`);
  }
}
