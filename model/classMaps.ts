/**
 * Class maps from a model's label set to PASCAL VOC's, so that models of other label sets are
 * scored on the same VOC-labelled photos (`eval --class-map`). A model class left out counts as
 * VOC's background.
 *
 *   classMapToVoc('cityscapes', CITYSCAPES_CLASSES) → Uint8Array: model label → VOC label
 */
import { ModelError } from '../core/errors.js';
import { VOC_CLASSES } from './palette.js';

/** The maps that ship: the classes that name the same things (Cityscapes' rider is a person on a vehicle). */
export const BUILT_IN_CLASS_MAPS: Record<string, Record<string, string>> = {
  cityscapes: {
    person: 'person',
    rider: 'person',
    car: 'car',
    truck: 'car',
    bus: 'bus',
    train: 'train',
    motorcycle: 'motorbike',
    bicycle: 'bicycle',
  },
  ade20k: {
    person: 'person',
    car: 'car',
    van: 'car',
    truck: 'car',
    bus: 'bus',
    airplane: 'aeroplane',
    boat: 'boat',
    ship: 'boat',
    bicycle: 'bicycle',
    minibike: 'motorbike',
    chair: 'chair',
    armchair: 'chair',
    'swivel chair': 'chair',
    seat: 'chair',
    sofa: 'sofa',
    table: 'diningtable',
    'coffee table': 'diningtable',
    plant: 'pottedplant',
    bottle: 'bottle',
    'television receiver': 'tvmonitor',
    monitor: 'tvmonitor',
    screen: 'tvmonitor',
    'crt screen': 'tvmonitor',
  },
};

/** `NAME` of a built-in map, or `model class=voc class` pairs separated by commas. */
export function parseClassMap(text: string): Record<string, string> {
  const builtIn = BUILT_IN_CLASS_MAPS[text];
  if (builtIn) return builtIn;
  const pairs = text.split(',').map((p) => p.split('=').map((s) => s.trim()));
  if (pairs.some((p) => p.length !== 2 || !p[0] || !p[1])) {
    throw new ModelError(
      `--class-map takes ${Object.keys(BUILT_IN_CLASS_MAPS).join(' or ')}, or pairs such as "person=person,rider=person", got "${text}"`,
    );
  }
  return Object.fromEntries(pairs.map(([from, to]) => [from!, to!]));
}

/** The model's label → VOC label, for every model label (unmapped: VOC background, 0). */
export function classMapToVoc(map: Record<string, string>, modelClasses: readonly string[]): Uint8Array {
  const voc = VOC_CLASSES as readonly string[];
  for (const [from, to] of Object.entries(map)) {
    if (!voc.includes(to)) throw new ModelError(`--class-map: "${to}" is not a VOC class (${voc.join(', ')})`);
    // A built-in map serves a family of label sets (ADE20K's 151 and its 32-class subset): names a model lacks are skipped.
    const builtIn = Object.values(BUILT_IN_CLASS_MAPS).includes(map);
    if (!modelClasses.includes(from) && !builtIn)
      throw new ModelError(
        `--class-map: the model has no class "${from}" (it has ${modelClasses.length}: ${modelClasses.slice(0, 8).join(', ')}…)`,
      );
  }
  return Uint8Array.from(modelClasses, (name) => (map[name] === undefined ? 0 : voc.indexOf(map[name])));
}
