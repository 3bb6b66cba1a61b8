import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crfParamsFor, DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { buildDeepLab } from '../helpers/deeplabBuilder.js';
import { describeModel, TENSORFLOW_NORMALIZATION } from '../../model/descriptor.js';
import { applyOverrides, parseOverrides, readSidecar } from '../../model/modelOverrides.js';
import { ModelError } from '../../core/errors.js';
import { tempDir } from '../helpers/fixtures.js';

const voc = describeModel(buildDeepLab({ variant: 'tiny', classes: 21 }));
const city = describeModel(buildDeepLab({ variant: 'tiny', classes: 19 }));
const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('model overrides', () => {
  it('switch the normalisation by preset name or explicit mean/std', () => {
    expect(applyOverrides(voc, { normalize: 'tensorflow' }).normalization).toEqual(TENSORFLOW_NORMALIZATION);
    expect(applyOverrides(voc, { normalize: { mean: [0.1, 0.2, 0.3], std: [1, 2, 3] } }).normalization).toEqual({
      mean: [0.1, 0.2, 0.3],
      std: [1, 2, 3],
    });
  });

  it('name the classes with a known set, with its colours', () => {
    const d = applyOverrides(city, { classes: 'cityscapes' });
    expect(d.classNames[11]).toBe('person');
    expect(Array.from(d.palette.slice(0, 3))).toEqual([128, 64, 128]); // road
  });

  it('name 19- and 150-class models after Cityscapes and ADE20K by default', () => {
    expect(city.classNames[0]).toBe('road');
    const ade = describeModel(buildDeepLab({ variant: 'tiny', classes: 150 }));
    expect(ade.classNames).toHaveLength(150);
    expect([ade.classNames[0], ade.classNames[12], ade.classNames[149]]).toEqual(['wall', 'person', 'flag']);
    expect(applyOverrides(ade, { classes: 'ade20k' }).palette).toHaveLength(450);
  });

  it('refuse a class list that does not match the model, naming the lists that do', () => {
    expect(() => applyOverrides(voc, { classes: 'cityscapes' })).toThrow(
      new ModelError(
        'the model has 21 classes but the class list names 19: choose a list that matches the model (voc)',
      ),
    );
    const ade151 = describeModel(buildDeepLab({ variant: 'tiny', classes: 151 }));
    expect(() => applyOverrides(ade151, { classes: 'ade20k' })).toThrow(/names 150: .* \(ade20k-151\)$/);
    const odd = describeModel(buildDeepLab({ variant: 'tiny', classes: 5 }));
    expect(() => applyOverrides(odd, { classes: 'voc' })).toThrow(/choose a list that matches the model$/);
  });

  it('validate sidecar contents with errors naming the file', () => {
    expect(() => parseOverrides({ normalize: 'imagenet' }, 'm.onnx.json')).toThrow(
      /m.onnx.json: "normalize" must be one of/,
    );
    expect(() => parseOverrides({ normalize: { mean: [0, 0, 0], std: [1, 0, 1] } }, 'x')).toThrow(ModelError);
    expect(() => parseOverrides({ colours: [] }, 'x')).toThrow(/unknown key "colours"/);
    expect(parseOverrides({ classes: ['a', 'b'] }, 'x')).toEqual({ classes: ['a', 'b'] });
    expect(() =>
      parseOverrides({ crf: { bilateral: { weight: 4, xy: 0, rgb: 3 }, gaussian: { weight: 3, xy: 1 } } }, 'm.json'),
    ).toThrow(/^m.json: "crf" must be .*\(bilateral.xy: /);
    expect(() => parseOverrides({ crf: { bilateral: { weight: 4, xy: 60, rgb: 3 } } }, 'm.json')).toThrow(
      /\(gaussian: /,
    );
    // A σ so small the lattice's keys would overflow (the CRF failed with an internal error).
    expect(() =>
      parseOverrides({ crf: { bilateral: { weight: 4, xy: 1e-9, rgb: 3 }, gaussian: { weight: 3, xy: 1 } } }, 'm.json'),
    ).toThrow(/"xy": σ ≥ 0.01.*\(bilateral.xy: /);
    expect(() =>
      parseOverrides(
        { crf: { bilateral: { weight: 4, xy: 60, rgb: 3, extra: 1 }, gaussian: { weight: 3, xy: 1 } } },
        'm.json',
      ),
    ).toThrow(ModelError);
  });

  it("fill the CRF parameters a run does not give from the model's tuned kernels, then DeepLab's VOC set, and say which", () => {
    const tuned = { bilateral: { weight: 5, xy: 50, rgb: 4 }, gaussian: { weight: 2, xy: 1 } };
    const fromModel = crfParamsFor({ iterations: 10, scale: 1 }, tuned);
    expect(fromModel.params.bilateral).toEqual(tuned.bilateral);
    expect(fromModel.description).toBe(
      "CRF w1 5 σα 50 σβ 4, w2 2 σγ 1, 10 iterations at scale 1 (the model's tuned kernels)",
    );
    const flagged = crfParamsFor({ iterations: 5, scale: 0.5, bilateral: { rgb: 6 } }, tuned);
    expect(flagged.params.bilateral).toEqual({ weight: 5, xy: 50, rgb: 6 });
    expect(flagged.params.gaussian).toEqual(tuned.gaussian);
    expect(flagged.description).toMatch(/5 iterations at scale 0.5 \(the model's tuned kernels, changed by flags\)$/);
    const untuned = crfParamsFor({});
    expect(untuned.params).toEqual(DEEPLAB_VOC_PARAMS);
    expect(untuned.description).toMatch(/\(DeepLab's VOC kernels\)$/);
  });

  it('read a sidecar beside the model, and none when there is none', () => {
    const model = path.join(tmp.dir, 'm.onnx');
    expect(readSidecar(model)).toEqual({});
    writeFileSync(`${model}.json`, JSON.stringify({ normalize: 'mediapipe', classes: 'person' }));
    expect(readSidecar(model)).toEqual({ normalize: 'mediapipe', classes: 'person' });
    const crf = { bilateral: { weight: 5, xy: 50, rgb: 4 }, gaussian: { weight: 3, xy: 1 } };
    writeFileSync(`${model}.json`, JSON.stringify({ classes: 'voc', crf }));
    expect(applyOverrides(voc, readSidecar(model)).crf).toEqual(crf);
    writeFileSync(`${model}.json`, '{ not json');
    expect(() => readSidecar(model)).toThrow(/m.onnx.json is not valid JSON/);
  });
});
