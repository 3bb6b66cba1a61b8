/**
 * NumPy .npy files (format 1.0/2.0/3.0), float32 only: the interchange with Python for the
 * `crf` command. C order; little-endian.
 *
 *   readNpyFloat32(bytes) → { shape, data: Float32Array }     writeNpyFloat32(shape, data) → bytes
 */
import { InputError } from '../core/errors.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyArray {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Where a float32 .npy's values are: its shape and the byte offset of its data. */
export interface NpyLayout {
  readonly shape: readonly number[];
  readonly dataOffset: number;
}

/**
 * The header of a float32 .npy: `bytes` from its start (the whole header; 64 KiB hold any NumPy
 * writes), `fileBytes` the file's size — checked to hold every value the header promises.
 */
export function readNpyHeader(bytes: Uint8Array, name: string, fileBytes: number): NpyLayout {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw new InputError(`${name} is not a .npy file (no \\x93NUMPY header)`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new InputError(`${name} has a malformed .npy header`);
  if (descr !== '<f4' && descr !== '|f4')
    throw new InputError(
      `${name} holds ${descr} values; the CRF needs float32 ('<f4'): save it with .astype(np.float32)`,
    );
  if (fortran === 'True') throw new InputError(`${name} is in Fortran order; save it with np.ascontiguousarray(...)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new InputError(`${name} has a malformed .npy header: shape (${shapeText.trim()}) is not a list of sizes ≥ 0`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataOffset = headerStart + headerLength;
  if (fileBytes - dataOffset < count * 4)
    throw new InputError(`${name} is truncated: its header promises ${count} values`);
  return { shape, dataOffset };
}

/** `data` may be a view of `bytes`: writing to it writes there. */
export function readNpyFloat32(bytes: Uint8Array, name: string): NpyArray {
  const { shape, dataOffset: start } = readNpyHeader(bytes, name, bytes.length);
  const count = shape.reduce((a, b) => a * b, 1);
  // A view where the bytes own their whole buffer and the data is aligned (NumPy pads the header to
  // 64 bytes); a copy otherwise (a pooled Buffer's memory is shared with others).
  const at = bytes.byteOffset + start;
  if (bytes.byteLength === bytes.buffer.byteLength && at % 4 === 0)
    return { shape, data: new Float32Array(bytes.buffer, at, count) };
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(start, start + count * 4));
  return { shape, data };
}

export function writeNpyFloat32(shape: readonly number[], data: Float32Array): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // Pad so the data starts on a 64-byte boundary, header ending in '\n'.
  const unpadded = 10 + dict.length + 1;
  const header = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
