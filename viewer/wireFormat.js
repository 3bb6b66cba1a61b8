// The browser's side of server/wireFormat.ts (see there, and README "Wire format"). Plain ES module:
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
  if (labelStart + header.labelBytes !== bytes.length) throw new Error(`frame message is ${bytes.length} bytes, header says ${labelStart + header.labelBytes}`);
  return { header, jpeg: bytes.subarray(jpegStart, labelStart), packedLabels: bytes.subarray(labelStart) };
}

/**
 * Inflates the label map: width×height class indices, one byte each.
 * @param {Uint8Array} packedLabels
 * @param {number} width
 * @param {number} height
 * @returns {Promise<Uint8Array>}
 */
export async function inflateLabels(packedLabels, width, height) {
  const stream = new Blob([packedLabels]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const labels = new Uint8Array(await new Response(stream).arrayBuffer());
  if (labels.length !== width * height) throw new Error(`label map has ${labels.length} bytes, expected ${width}x${height}`);
  return labels;
}
