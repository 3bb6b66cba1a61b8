/** Class names and colours. */

export const VOC_CLASSES = [
  'background',
  'aeroplane',
  'bicycle',
  'bird',
  'boat',
  'bottle',
  'bus',
  'car',
  'cat',
  'chair',
  'cow',
  'diningtable',
  'dog',
  'horse',
  'motorbike',
  'person',
  'pottedplant',
  'sheep',
  'sofa',
  'train',
  'tvmonitor',
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
  if (classes === CITYSCAPES_CLASSES.length) return [...CITYSCAPES_CLASSES];
  if (classes === ADE20K_CLASSES.length) return [...ADE20K_CLASSES];
  return Array.from({ length: classes }, (_, i) => `class_${i}`);
}

export const CITYSCAPES_CLASSES = [
  'road',
  'sidewalk',
  'building',
  'wall',
  'fence',
  'pole',
  'traffic light',
  'traffic sign',
  'vegetation',
  'terrain',
  'sky',
  'person',
  'rider',
  'car',
  'truck',
  'bus',
  'train',
  'motorcycle',
  'bicycle',
] as const;

/** The Cityscapes benchmark's colours for its 19 evaluation classes. */
export const CITYSCAPES_PALETTE = Uint8Array.from([
  128, 64, 128, 244, 35, 232, 70, 70, 70, 102, 102, 156, 190, 153, 153, 153, 153, 153, 250, 170, 30, 220, 220, 0, 107,
  142, 35, 152, 251, 152, 70, 130, 180, 220, 20, 60, 255, 0, 0, 0, 0, 142, 0, 0, 70, 0, 60, 100, 0, 80, 100, 0, 0, 230,
  119, 11, 32,
]);

/** The 150 classes of the MIT Scene Parsing benchmark (ADE20K), in label order. */
export const ADE20K_CLASSES = [
  'wall',
  'building',
  'sky',
  'floor',
  'tree',
  'ceiling',
  'road',
  'bed',
  'windowpane',
  'grass',
  'cabinet',
  'sidewalk',
  'person',
  'earth',
  'door',
  'table',
  'mountain',
  'plant',
  'curtain',
  'chair',
  'car',
  'water',
  'painting',
  'sofa',
  'shelf',
  'house',
  'sea',
  'mirror',
  'rug',
  'field',
  'armchair',
  'seat',
  'fence',
  'desk',
  'rock',
  'wardrobe',
  'lamp',
  'bathtub',
  'railing',
  'cushion',
  'base',
  'box',
  'column',
  'signboard',
  'chest of drawers',
  'counter',
  'sand',
  'sink',
  'skyscraper',
  'fireplace',
  'refrigerator',
  'grandstand',
  'path',
  'stairs',
  'runway',
  'case',
  'pool table',
  'pillow',
  'screen door',
  'stairway',
  'river',
  'bridge',
  'bookcase',
  'blind',
  'coffee table',
  'toilet',
  'flower',
  'book',
  'hill',
  'bench',
  'countertop',
  'stove',
  'palm',
  'kitchen island',
  'computer',
  'swivel chair',
  'boat',
  'bar',
  'arcade machine',
  'hovel',
  'bus',
  'towel',
  'light',
  'truck',
  'tower',
  'chandelier',
  'awning',
  'streetlight',
  'booth',
  'television receiver',
  'airplane',
  'dirt track',
  'apparel',
  'pole',
  'land',
  'bannister',
  'escalator',
  'ottoman',
  'bottle',
  'buffet',
  'poster',
  'stage',
  'van',
  'ship',
  'fountain',
  'conveyer belt',
  'canopy',
  'washer',
  'plaything',
  'swimming pool',
  'stool',
  'barrel',
  'basket',
  'waterfall',
  'tent',
  'bag',
  'minibike',
  'cradle',
  'oven',
  'ball',
  'food',
  'step',
  'tank',
  'trade name',
  'microwave',
  'pot',
  'animal',
  'bicycle',
  'lake',
  'dishwasher',
  'screen',
  'blanket',
  'sculpture',
  'hood',
  'sconce',
  'vase',
  'traffic light',
  'tray',
  'ashcan',
  'fan',
  'pier',
  'crt screen',
  'plate',
  'monitor',
  'bulletin board',
  'shower',
  'radiator',
  'glass',
  'clock',
  'flag',
] as const;

export const PERSON_CLASSES = ['background', 'person'] as const;
export const PERSON_PALETTE = Uint8Array.from([0, 0, 0, 192, 128, 128]);

export type ClassSetName = 'voc' | 'cityscapes' | 'ade20k' | 'ade20k-151' | 'ade20k-32' | 'person';

/** Every class set by name, as `--classes` and sidecars take them. */
export const CLASS_SET_NAMES: readonly ClassSetName[] = [
  'voc',
  'cityscapes',
  'ade20k',
  'ade20k-151',
  'ade20k-32',
  'person',
];

/** DeepLab's ADE20K exports: label 0 is "other" (no benchmark class), 1–150 the benchmark's. */
export const ADE20K_WITH_OTHER: readonly string[] = ['other', ...ADE20K_CLASSES];
/** MLPerf Mobile's subset: "other", then the first 31 ADE20K classes (wall … armchair). */
export const ADE20K_32: readonly string[] = ['other', ...ADE20K_CLASSES.slice(0, 31)];

export interface ClassSet {
  readonly names: readonly string[];
  readonly palette: Uint8Array;
}

export function namedClassSet(name: ClassSetName): ClassSet {
  switch (name) {
    case 'voc':
      return { names: VOC_CLASSES, palette: vocPalette(VOC_CLASSES.length) };
    case 'cityscapes':
      return { names: CITYSCAPES_CLASSES, palette: CITYSCAPES_PALETTE };
    case 'ade20k':
      // The VOC bit-interleaved colours, extended to 150 (not the benchmark's own colour table).
      return { names: ADE20K_CLASSES, palette: vocPalette(ADE20K_CLASSES.length) };
    case 'ade20k-151':
      return { names: ADE20K_WITH_OTHER, palette: vocPalette(ADE20K_WITH_OTHER.length) };
    case 'ade20k-32':
      return { names: ADE20K_32, palette: vocPalette(ADE20K_32.length) };
    case 'person':
      return { names: PERSON_CLASSES, palette: PERSON_PALETTE };
  }
}

/** Names from the user (a file or a sidecar) with the VOC colour scheme extended to their count. */
export function customClassSet(names: readonly string[]): ClassSet {
  return { names, palette: vocPalette(names.length) };
}
