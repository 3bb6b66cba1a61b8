/** The importer's errors, and the real MediaPipe models it imports. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { describeModel } from '../../model/descriptor.js';
import { importTflite } from '../../model/tflite/importTflite.js';
import { ModelError } from '../../core/errors.js';
import { buildTflite, type ModelSpec } from '../helpers/tfliteBuilder.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

describe('importTflite: errors', () => {
  it('names an unsupported op', () => {
    const spec: ModelSpec = {
      tensors: [{ shape: [1, 4] }, { shape: [1, 4] }],
      inputs: [0],
      outputs: [1],
      operators: [{ builtin: 98, inputs: [0], outputs: [1] }],
    };
    expect(() => importTflite(buildTflite(spec))).toThrow(/unsupported TFLite op LEAKY_RELU \(operator #0\)/);
  });

  it('names an unsupported custom op', () => {
    const spec: ModelSpec = {
      tensors: [{ shape: [1, 4] }, { shape: [1, 4] }],
      inputs: [0],
      outputs: [1],
      operators: [{ builtin: 32, custom: 'MyMagic', inputs: [0], outputs: [1] }],
    };
    expect(() => importTflite(buildTflite(spec))).toThrow(/custom op "MyMagic"/);
  });

  it('rejects a file that is not TFLite', () => {
    expect(() => importTflite(new TextEncoder().encode('not a flatbuffer at all'), 'x.tflite')).toThrow(ModelError);
  });
});

describe('the MediaPipe selfie models from @mediapipe/selfie_segmentation', () => {
  const dir = path.dirname(createRequire(import.meta.url).resolve('@mediapipe/selfie_segmentation/package.json'));
  for (const [file, shape] of [
    ['selfie_segmentation.tflite', [1, 256, 256, 3]],
    ['selfie_segmentation_landscape.tflite', [1, 144, 256, 3]],
  ] as const) {
    it(`imports ${file} into a mask model onnxruntime runs`, async () => {
      const onnx = importTflite(readFileSync(path.join(dir, file)));
      const d = describeModel(onnx);
      expect(d).toMatchObject({
        inputLayout: 'NHWC',
        inputHeight: shape[1],
        inputWidth: shape[2],
        outputKind: 'mask',
        maskThreshold: 0.5,
        preset: 'mediapipe',
        classes: 2,
      });
      const session = await ort.InferenceSession.create(onnx);
      const out = await session.run({
        [d.inputName]: new ort.Tensor('float32', new Float32Array(size(shape)).fill(0.5), [...shape]),
      });
      const p = out[d.outputName]!.data as Float32Array;
      expect(p.length).toBe(shape[1] * shape[2]);
      expect(p.every((v) => v >= 0 && v <= 1)).toBe(true);
    });
  }
});
