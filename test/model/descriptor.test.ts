import { describe, expect, it } from 'vitest';
import { buildDeepLab } from '../helpers/deeplabBuilder.js';
import { describeModel, modelInputSize } from '../../model/descriptor.js';
import { ONNX_INT64, OnnxGraphBuilder } from '../../model/onnxGraph.js';
import { argmaxModelBytes } from '../helpers/fixtures.js';
import { ModelError } from '../../core/errors.js';

describe('describeModel', () => {
  it('reads a dynamic-size NCHW DeepLab graph', () => {
    const d = describeModel(buildDeepLab({ variant: 'tiny', classes: 21 }));
    expect(d).toMatchObject({
      inputName: 'image',
      outputName: 'logits',
      inputLayout: 'NCHW',
      inputHeight: null,
      inputWidth: null,
      batchSize: null,
      classes: 21,
    });
    expect(d.classNames[15]).toBe('person');
    expect(Array.from(d.palette.slice(15 * 3, 15 * 3 + 3))).toEqual([192, 128, 128]);
  });

  it('reads a fixed input size and picks it as the run size', () => {
    const d = describeModel(buildDeepLab({ variant: 'tiny', classes: 4, inputSize: [97, 129], upsample: true }));
    expect([d.inputHeight, d.inputWidth, d.classes]).toEqual([97, 129, 4]);
    expect(modelInputSize(d, 1280, 720)).toEqual([129, 97]);
  });

  it('sizes dynamic models as their export expects: torchvision shorter side 520, TensorFlow longer side 513 at 8k+1', () => {
    const torch = describeModel(buildDeepLab({ variant: 'tiny' }));
    expect(torch.preset).toBe('torchvision');
    expect(modelInputSize(torch, 1280, 720)).toEqual([924, 520]);
    const tf = { ...torch, preset: 'tensorflow' as const, inputLayout: 'NHWC' as const };
    const [w, h] = modelInputSize(tf, 1280, 720);
    expect(w).toBe(513);
    expect((h - 1) % 8).toBe(0);
    expect(Math.abs(h - 289)).toBeLessThanOrEqual(8);
  });

  it('reads NHWC inputs', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('pixels', [1, 64, 64, 3], 1, 3);
    g.rename(g.unary('Relu', x), 'scores');
    g.output('scores', [1, 64, 64, 3]);
    expect(describeModel(g.toBytes('nhwc'))).toMatchObject({
      inputLayout: 'NHWC',
      inputHeight: 64,
      inputWidth: 64,
      batchSize: 1,
      classes: 3,
    });
  });

  it('rejects bytes that are not ONNX with a clear error', () => {
    expect(() => describeModel(new TextEncoder().encode('this is not a model'), 'notes.txt')).toThrow(ModelError);
    expect(() => describeModel(new TextEncoder().encode('this is not a model'), 'notes.txt')).toThrow(
      /notes.txt is not an ONNX model/,
    );
  });

  it('rejects an output that is not a score map', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('image', [1, 3, 8, 8]);
    const [flat] = g.node('Flatten', [x]);
    g.rename(flat!, 'out');
    g.output('out', [1, 192]);
    expect(() => describeModel(g.toBytes('flat'))).toThrow(
      /output "out" is not a segmentation map .* it has shape \[1, 192\]/,
    );
  });
});

describe('describeModel: inputs and outputs of other exports', () => {
  it('reads a uint8 image input and an argmaxed int64 label output (as TF DeepLab exports)', () => {
    expect(describeModel(argmaxModelBytes())).toMatchObject({
      inputType: 'uint8',
      inputLayout: 'NHWC',
      outputKind: 'labels',
      classes: 21,
      preset: 'tensorflow',
    });
  });

  it('reads a float N×H×W output as a one-channel mask', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('image', [1, 3, 32, 32]);
    const [m] = g.node('ReduceMean', [x], [OnnxGraphBuilder.ints('axes', [1]), OnnxGraphBuilder.int('keepdims', 0)]);
    g.rename(m!, 'mask');
    g.output('mask', [1, 32, 32]);
    expect(describeModel(g.toBytes('mask3d'))).toMatchObject({ outputKind: 'mask', classes: 2, maskThreshold: 0 });
  });

  it('rejects an input type it cannot feed', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('image', [1, 3, 8, 8], ONNX_INT64);
    g.rename(x, 'out');
    g.output('out', [1, 3, 8, 8], ONNX_INT64);
    expect(() => describeModel(g.toBytes('int-input'), 'int.onnx')).toThrow(
      /int\.onnx: input "image" has element type 7; supported image inputs are float32 and uint8/,
    );
  });

  it('rejects integer outputs with several channels', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('image', [1, 3, 8, 8]);
    const [i] = g.node('Cast', [x], [OnnxGraphBuilder.int('to', 7)]);
    g.rename(i!, 'out');
    g.output('out', [1, 3, 8, 8], ONNX_INT64);
    expect(() => describeModel(g.toBytes('int-multi'))).toThrow(/is not a segmentation map/);
  });
});
