/** Class names and colours. */

export const VOC_CLASSES = [
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
] as const;

/**
 * The PASCAL VOC colour map (the bit-interleaving scheme of the VOC devkit), which extends to any
 * class count: class 0 is black, 15 (person) is (192,128,128), and so on.
 */
export function vocPalette(classes: number): Uint8Array {
  const palette = new Uint8Array(classes * 3);
  for (let i = 0; i < classes; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let c = i;
    for (let bit = 7; bit >= 0 && c > 0; bit--) {
      r |= (c & 1) << bit;
      g |= ((c >> 1) & 1) << bit;
      b |= ((c >> 2) & 1) << bit;
      c >>= 3;
    }
    palette.set([r, g, b], i * 3);
  }
  return palette;
}

export function defaultClassNames(classes: number): string[] {
  if (classes === VOC_CLASSES.length) return [...VOC_CLASSES];
  return Array.from({ length: classes }, (_, i) => `class_${i}`);
}
