// The browser's side of server/wireFormat.ts (see there, and docs/live.md "Wire format"). Plain ES module:
// nothing to build. Also imported by the tests, so the viewer's decoder is the one that is tested.

/**
 * Splits one binary frame message into its JSON header, JPEG bytes and compressed label map.
 * @param {ArrayBuffer | Uint8Array} data
 * @returns {{ header: any, jpeg: Uint8Array, packedLabels: Uint8Array }}
 */
export function splitFrameMessage(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < 4) throw new Error('frame message too short');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength)));
  const jpegStart = 4 + headerLength;
  const labelStart = jpegStart + header.jpegBytes;
  if (labelStart + header.labelBytes !== bytes.length)
    throw new Error(`frame message is ${bytes.length} bytes, header says ${labelStart + header.labelBytes}`);
  return { header, jpeg: bytes.subarray(jpegStart, labelStart), packedLabels: bytes.subarray(labelStart) };
}

/** The largest frame the viewer draws (8K); a header asking for more is refused before anything is inflated. */
export const MAX_FRAME_PIXELS = 7680 * 4320;

/**
 * Inflates the label map: width×height class indices, one byte each. Inflating stops as soon as
 * the output would pass width×height (a small message may inflate to a gigabyte): such a frame is
 * refused, never held.
 * @param {Uint8Array} packedLabels
 * @param {number} width
 * @param {number} height
 * @returns {Promise<Uint8Array>}
 */
export async function inflateLabels(packedLabels, width, height) {
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 1 ||
    height < 1 ||
    width * height > MAX_FRAME_PIXELS
  ) {
    throw new Error(`frame size ${width}x${height} is not one the viewer draws`);
  }
  const expected = width * height;
  const labels = new Uint8Array(expected);
  const reader = new Blob([packedLabels]).stream().pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  let filled = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (filled + value.length > expected) {
      await reader.cancel();
      throw new Error(`label map inflates past ${width}x${height} bytes: frame dropped`);
    }
    labels.set(value, filled);
    filled += value.length;
  }
  if (filled !== expected) throw new Error(`label map has ${filled} bytes, expected ${width}x${height}`);
  return labels;
}
