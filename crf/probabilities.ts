/**
 * A network's probabilities as the CRF takes them: N×C (HWC) floats in memory, or the data of a
 * .npy file that a CRF worker reads itself, straight into its WebAssembly memory (a one-image
 * `crf` run then neither reads 16 MB on the main thread nor copies them). Either way each pixel is
 * checked (no negative, NaN or infinite value; not all 0) and made to sum to 1.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { InputError } from '../core/errors.js';

/** N×C float32 values (little-endian, C order) at `offset` bytes into `path`; `name` is how the user wrote it, `width` the image's (for messages). */
export interface ProbabilityFile {
  readonly path: string;
  readonly offset: number;
  readonly name: string;
  readonly width: number;
}

export type ProbabilitySource = Float32Array | ProbabilityFile;

/**
 * Reads a probability file's `into.byteLength` bytes of data into `into` (any memory, shared
 * included). `split`, given: runs `first` (this thread's read of the first `half` bytes) while
 * another thread reads the rest from the same descriptor, and returns the bytes that one got.
 */
export function readProbabilityFile(
  file: ProbabilityFile,
  into: Uint8Array,
  split?: (fd: number, half: number, first: () => void) => number,
): void {
  let fd: number;
  try {
    fd = openSync(file.path, 'r');
  } catch (error) {
    throw new InputError(
      `cannot read ${file.name}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    const half = split ? (into.byteLength >> 13) << 12 : into.byteLength; // about half, on a page boundary
    let first = 0;
    const read = () => void (first = readIntoMemory(fd, into.subarray(0, half), file.offset));
    const second = split ? split(fd, half, read) : (read(), 0);
    if (first < 0 || second < 0) throw new InputError(`cannot read ${file.name}: a read failed`);
    const missing = into.byteLength - first - second;
    if (missing > 0)
      throw new InputError(
        `${file.name} is truncated: it ended ${missing} bytes early (did it change while being read?)`,
      );
  } finally {
    closeSync(fd);
  }
}

/** Reads from `position` of an open file until `into` is full or the file ends: the bytes read, or −1 on an error. */
export function readIntoMemory(fd: number, into: Uint8Array, position: number): number {
  try {
    let done = 0;
    while (done < into.byteLength) {
      const got = readSync(fd, into, done, into.byteLength - done, position + done);
      if (got === 0) break;
      done += got;
    }
    return done;
  } catch {
    return -1;
  }
}

/** Probabilities from a file as an array (where the WebAssembly engine does not take the file), checked and normalised. */
export function probabilityArray(source: ProbabilitySource, points: number, classes: number): Float32Array {
  if (source instanceof Float32Array) return source;
  const values = new Float32Array(points * classes);
  readProbabilityFile(source, new Uint8Array(values.buffer));
  normaliseProbabilities(values, source.width, classes, source.name);
  return values;
}

/** Checks each pixel's probabilities and makes them sum to 1, in place; the first problem is one line naming the pixel. */
export function normaliseProbabilities(
  probabilities: Float32Array,
  width: number,
  classes: number,
  name: string,
): void {
  const n = probabilities.length / classes;
  for (let p = 0, row = 0; p < n; p++, row += classes) {
    let sum = 0;
    let finite = true;
    for (let c = row; c < row + classes; c++) {
      const v = probabilities[c]!;
      finite &&= v >= 0 && v < Infinity;
      sum += v;
    }
    if (!finite) throw badProbability(name, probabilities, row, classes, p % width, Math.floor(p / width));
    if (sum <= 0) throw zeroPixel(name, p, width);
    for (let c = row; c < row + classes; c++) probabilities[c]! /= sum;
  }
}

/**
 * The error for what WebAssembly's check found (`problem`: p·classes + c for a bad value, −2 − p
 * for a pixel summing to 0); `probabilities` as they were read.
 */
export function probabilityProblem(
  problem: number,
  probabilities: Float32Array,
  classes: number,
  { name, width }: ProbabilityFile,
): InputError {
  if (problem <= -2) return zeroPixel(name, -2 - problem, width);
  const p = Math.floor(problem / classes);
  return badProbability(name, probabilities, p * classes, classes, p % width, Math.floor(p / width));
}

function zeroPixel(name: string, p: number, width: number): InputError {
  return new InputError(`${name}: pixel (${p % width}, ${Math.floor(p / width)}) has probabilities summing to 0`);
}

/** The first value at one pixel that is not a probability, and what to do about it. */
function badProbability(
  name: string,
  probabilities: Float32Array,
  row: number,
  classes: number,
  x: number,
  y: number,
): InputError {
  const c = probabilities.subarray(row, row + classes).findIndex((v) => !(v >= 0 && v < Infinity));
  const v = probabilities[row + c]!;
  const what = Number.isNaN(v) ? 'NaN' : v === Infinity ? 'infinity' : 'a negative value';
  // A negative value is most likely a logit; NaN and infinity, a softmax that overflowed.
  const hint =
    v < 0
      ? 'pass probabilities (a softmax), not logits'
      : 'pass finite probabilities (a softmax of the logits, computed stably)';
  return new InputError(`${name} holds ${what} at pixel (${x}, ${y}), label ${c}: ${hint}`);
}
