/** Class maps onto VOC's labels, so models of other label sets are scored on VOC photos. */
import { describe, expect, it } from 'vitest';
import { classMapToVoc, parseClassMap } from '../../model/classMaps.js';
import { ADE20K_WITH_OTHER, CITYSCAPES_CLASSES, VOC_CLASSES } from '../../model/palette.js';

describe('class maps to VOC', () => {
  it('maps Cityscapes person and rider to VOC person, vehicles to theirs, the rest to background', () => {
    const table = classMapToVoc(parseClassMap('cityscapes'), CITYSCAPES_CLASSES);
    const voc = (name: string) => VOC_CLASSES.indexOf(name as (typeof VOC_CLASSES)[number]);
    expect(table[CITYSCAPES_CLASSES.indexOf('person')]).toBe(voc('person'));
    expect(table[CITYSCAPES_CLASSES.indexOf('rider')]).toBe(voc('person'));
    expect(table[CITYSCAPES_CLASSES.indexOf('motorcycle')]).toBe(voc('motorbike'));
    expect(table[CITYSCAPES_CLASSES.indexOf('road')]).toBe(0);
    const ade = classMapToVoc(parseClassMap('ade20k'), ADE20K_WITH_OTHER);
    expect(ade[ADE20K_WITH_OTHER.indexOf('person')]).toBe(voc('person'));
    expect(ade[ADE20K_WITH_OTHER.indexOf('airplane')]).toBe(voc('aeroplane'));
    expect(ade[0]).toBe(0);
  });

  it('takes pairs, and says in one line what is wrong with them', () => {
    expect(parseClassMap('person=person, rider=person')).toEqual({ person: 'person', rider: 'person' });
    expect(() => parseClassMap('person')).toThrow(/takes cityscapes or ade20k, or pairs/);
    expect(() => classMapToVoc({ person: 'human' }, CITYSCAPES_CLASSES)).toThrow(/"human" is not a VOC class/);
    expect(() => classMapToVoc({ cat: 'cat' }, CITYSCAPES_CLASSES)).toThrow(/the model has no class "cat"/);
  });
});
