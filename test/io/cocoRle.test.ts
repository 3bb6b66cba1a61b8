import { describe, expect, it } from 'vitest';
import { decodeCocoRle, labelsToCocoRle } from '../../io/cocoRle.js';

describe('COCO RLE', () => {
  it("writes what pycocotools writes for a known mask (column-major, zeros first, rleToString's characters)", () => {
    // 2×2, person everywhere but the top-left: column-major 0,1,1,1 → counts [1, 3] → "13".
    const rle = labelsToCocoRle(Uint8Array.from([0, 1, 1, 1]), 2, 2, ['background', 'person']);
    expect(rle).toEqual({ background: { size: [2, 2], counts: '013' }, person: { size: [2, 2], counts: '13' } });
    // pycocotools.mask.encode(np.asfortranarray(m)) for a 3×4 mask with ones in column 1 rows 0–2 and column 3 row 1:
    // column-major 000 111 000 010 → runs [3, 3, 4, 1, 1] → less the count two before from the fourth on (`i > 2`):
    // 3, 3, 4, −2, −3 → '3', '3', '4', and the negatives as one 5-bit group each with the sign bit: 'N', 'M'.
    const labels = Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0]);
    const person = labelsToCocoRle(labels, 4, 3, ['background', 'person'])['person']!;
    expect(person.counts).toBe('334NM');
  });

  it('round-trips every class of a noisy label map, each pixel in exactly one mask', () => {
    const width = 37;
    const height = 23;
    let seed = 7;
    const labels = Uint8Array.from({ length: width * height }, (_, i) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      // Blocks with noise: long runs and single pixels, as a real label map has.
      return seed % 11 === 0 ? seed % 5 : Math.floor((i % width) / 10) + (i > 500 ? 1 : 0);
    });
    const names = ['a', 'b', 'c', 'd', 'e'];
    const masks = labelsToCocoRle(labels, width, height, names);
    const covered = new Uint8Array(width * height);
    for (const [name, rle] of Object.entries(masks)) {
      const mask = decodeCocoRle(rle);
      const c = names.indexOf(name);
      mask.forEach((v, i) => {
        expect(v, `${name} at ${i}`).toBe(labels[i] === c ? 1 : 0);
        covered[i]! += v;
      });
    }
    expect(covered.every((v) => v === 1)).toBe(true);
  });
});
