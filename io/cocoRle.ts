/**
 * A label map as COCO run-length encodings, one per class present: the format pycocotools and
 * every COCO tool read (`{"size": [h, w], "counts": "…"}`; runs in column-major order, starting
 * with a run of zeros; counts compressed as in pycocotools' `rleToString`: each count, less the one
 * two before it from the fourth on, in 5-bit groups, printable from '0').
 *
 *   labelsToCocoRle(labels, 4, 2, ['background', 'person'])
 *   → { background: { size: [2, 4], counts: '…' }, person: { size: [2, 4], counts: '…' } }
 *
 * Decoding (docs/offline.md "Masks as data"): `pycocotools.mask.decode(rle)` in Python, or
 * `decodeCocoRle` below, 20 lines of plain JavaScript.
 */

export interface CocoRle {
  /** [height, width], as COCO writes it. */
  readonly size: [number, number];
  readonly counts: string;
}

/** pycocotools' rleToString. */
function countsToString(counts: readonly number[]): string {
  let text = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]! - (i > 2 ? counts[i - 2]! : 0);
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      text += String.fromCharCode(c + 48);
    }
  }
  return text;
}

/** One COCO RLE per class with pixels, in one pass over the label map (column-major). */
export function labelsToCocoRle(
  labels: Uint8Array,
  width: number,
  height: number,
  classNames: readonly string[],
): Record<string, CocoRle> {
  const counts = new Map<number, number[]>();
  const since = new Map<number, number>();
  const total = width * height;
  let previous = -1;
  let p = 0;
  for (let x = 0; x < width; x++) {
    for (let i = x; i < total; i += width, p++) {
      const label = labels[i]!;
      if (label === previous) continue;
      // `previous` ends a run of ones here, `label` starts one (after a run of zeros, maybe empty).
      if (previous >= 0) {
        counts.get(previous)!.push(p - since.get(previous)!);
        since.set(previous, p);
      }
      const own = counts.get(label);
      if (own) own.push(p - since.get(label)!);
      else counts.set(label, [p]);
      since.set(label, p);
      previous = label;
    }
  }
  const masks: Record<string, CocoRle> = {};
  for (const [label, runs] of [...counts].sort((a, b) => a[0] - b[0])) {
    runs.push(total - since.get(label)!);
    masks[classNames[label] ?? `class_${label}`] = { size: [height, width], counts: countsToString(runs) };
  }
  return masks;
}

/** A COCO RLE back to a mask (row-major, 1 where the class is): pycocotools' rleFrString, then the runs. */
export function decodeCocoRle(rle: CocoRle): Uint8Array {
  const [height, width] = rle.size;
  const counts: number[] = [];
  for (let p = 0; p < rle.counts.length;) {
    let x = 0;
    let k = 0;
    let more = 1;
    while (more) {
      const c = rle.counts.charCodeAt(p++) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    counts.push(counts.length > 2 ? x + counts[counts.length - 2]! : x);
  }
  const mask = new Uint8Array(width * height);
  let p = 0;
  counts.forEach((run, r) => {
    for (let end = p + run; p < end; p++) if (r % 2 === 1) mask[(p % height) * width + Math.floor(p / height)] = 1;
  });
  return mask;
}
