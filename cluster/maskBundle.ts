/**
 * A chunk's mask PNGs in one object: each file as a 4-byte big-endian length and its bytes, in
 * frame order. Read back with every length checked against what is left.
 *
 *   bundleFiles(['frame_000000.png', …]) → bytes        unbundle(bytes) → [png, png, …]
 */
import { readFileSync } from 'node:fs';

export function bundleFiles(files: readonly string[]): Uint8Array {
  const parts = files.map((file) => readFileSync(file));
  const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.writeUInt32BE(part.length, at);
    part.copy(out, at + 4);
    at += 4 + part.length;
  }
  return out;
}

export function unbundle(bytes: Uint8Array): Uint8Array[] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const files: Uint8Array[] = [];
  for (let at = 0; at < view.length;) {
    if (at + 4 > view.length) throw new Error('a mask bundle ends inside a length');
    const length = view.readUInt32BE(at);
    if (at + 4 + length > view.length) throw new Error('a mask bundle ends inside a file');
    files.push(view.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return files;
}
