import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { buildDeepLab } from './deeplabBuilder.js';

describe('buildDeepLab', () => {
  it('builds a graph onnxruntime runs, with logits at output stride 16', async () => {
    const session = await ort.InferenceSession.create(buildDeepLab({ variant: 'tiny', classes: 6 }));
    const image = new ort.Tensor('float32', new Float32Array(2 * 3 * 97 * 65).fill(0.5), [2, 3, 97, 65]);
    const { logits } = await session.run({ image });
    expect(logits!.dims).toEqual([2, 6, 7, 5]);
    expect(Array.from(logits!.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('upsamples to the input size when asked', async () => {
    const session = await ort.InferenceSession.create(buildDeepLab({ variant: 'tiny', classes: 3, upsample: true }));
    const { logits } = await session.run({
      image: new ort.Tensor('float32', new Float32Array(3 * 40 * 56), [1, 3, 40, 56]),
    });
    expect(logits!.dims).toEqual([1, 3, 40, 56]);
  });

  it('has ASPP: atrous 3×3 branches at rates 6, 12, 18 and an image-pooling branch', () => {
    const model = onnxProto.onnx.ModelProto.decode(buildDeepLab({ variant: 'mobilenet' }));
    const nodes = model.graph!.node!;
    const rates = nodes
      .filter((n) => n.opType === 'Conv')
      .map((n) => Number(n.attribute!.find((a) => a.name === 'dilations')!.ints![0]))
      .filter((r) => r >= 6);
    expect(rates).toEqual([6, 12, 18]);
    expect(nodes.some((n) => n.opType === 'GlobalAveragePool')).toBe(true);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    expect(Buffer.compare(buildDeepLab({ seed: 5 }), buildDeepLab({ seed: 5 }))).toBe(0);
    expect(Buffer.compare(buildDeepLab({ seed: 5 }), buildDeepLab({ seed: 6 }))).not.toBe(0);
  });
});
