/**
 * Ground truth for "are the pedestrians marked": vtest.avi frame 300's six pedestrians, boxed by
 * hand on the frame (768×576; checked against deeplab-cityscapes' person regions, which fill them).
 * The front walker's box starts below the feet of the one behind, so that neither counts the other.
 */
export const FRAME_300_PEDESTRIANS: readonly (readonly [x0: number, y0: number, x1: number, y1: number])[] = [
  [185, 158, 221, 236],
  [243, 158, 271, 221],
  [298, 158, 325, 231],
  [318, 232, 346, 297],
  [581, 157, 613, 237],
  [617, 159, 646, 236],
];

/** Frames this close to 300 are scored against its boxes (a walker moves a few pixels a frame). */
export const NEAR_FRAME_300 = 3;

/** How many of frame 300's pedestrians a label map marks: a person class over ≥ `minShare` of the box. */
export function pedestriansMarked(
  labels: Uint8Array,
  width: number,
  personClasses: readonly number[],
  minShare = 0.15,
): number {
  const people = new Set(personClasses);
  return FRAME_300_PEDESTRIANS.filter(([x0, y0, x1, y1]) => {
    let marked = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (people.has(labels[y * width + x]!)) marked++;
    return marked >= minShare * (x1 - x0) * (y1 - y0);
  }).length;
}
