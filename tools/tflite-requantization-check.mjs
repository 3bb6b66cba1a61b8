#!/usr/bin/env node
/**
 * Dev-only: where the imported int8 graphs part from TensorFlow Lite's interpreter, on the first
 * layer of a uint8 graph (a CONV_2D). Computes the layer in TFLite's integer arithmetic (gemmlowp's
 * fixed-point multiplier: SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT) and compares
 * TFLite's own output and onnxruntime's (the imported graph cut after that layer) with it; prints
 * how many values differ and where their unrounded values lie. Set-up as tools/tflite-cross-check.mjs:
 *
 *   npm run build && TFLITE_NODE=/tmp/tflite/node_modules/tfjs-tflite-node node tools/tflite-requantization-check.mjs MODEL.tflite IMAGE
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ByteBuffer } from 'flatbuffers';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { importTflite } from '../dist/model/tflite/importTflite.js';
import { readTflite } from '../dist/model/tflite/tfliteSchema.js';

const [modelPath, image] = process.argv.slice(2);
const bindingDir = process.env.TFLITE_NODE;
if (!modelPath || !image || !bindingDir) {
  process.stderr.write(
    'usage: TFLITE_NODE=<path to tfjs-tflite-node> node tools/tflite-requantization-check.mjs MODEL.tflite IMAGE\n',
  );
  process.exit(64);
}
ort.env.logLevel = 'fatal';
const bytes = new Uint8Array(readFileSync(modelPath));
const { subgraphs, buffers } = readTflite(bytes);
const graph = subgraphs[0];
const op = graph.operators[0];
const [X, W, B] = op.inputs.map((i) => graph.tensors[i]);
const Y = graph.tensors[op.outputs[0]];
if (X.type !== 3 || W.type !== 3 || W.quantization.scale.length !== 1) {
  process.stderr.write('the first layer is not a uint8 convolution with one weight scale: nothing to check here\n');
  process.exit(3);
}
const [, height, width] = X.shape;
const [outChannels, kh, kw, inChannels] = W.shape;
const [, outHeight, outWidth] = Y.shape;
const stride = (outHeight - 1) * 2 + kh >= height ? 2 : 1;
const pad = Math.floor(Math.max((outHeight - 1) * stride + kh - height, 0) / 2);
const rgb = new Uint8Array(await sharp(image).removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer());
const weights = buffers[W.buffer];
const bias = new Int32Array(buffers[B.buffer].slice().buffer);
const [zx, zw, zy] = [X, W, Y].map((t) => t.quantization.zeroPoint[0]);
// TFLite: the real multiplier in double from the float scales, then QuantizeMultiplier.
const real = (X.quantization.scale[0] * W.quantization.scale[0]) / Y.quantization.scale[0];
let shift = Math.ceil(Math.log2(real));
let fraction = real / 2 ** shift;
if (fraction < 0.5) ((fraction *= 2), shift--);
let multiplier = BigInt(Math.round(fraction * 2 ** 31));
if (multiplier === 2n ** 31n) ((multiplier /= 2n), shift++);
const highMul = (a) => {
  const ab = BigInt(a) * multiplier;
  return Number((ab + (ab >= 0n ? 1n << 30n : 1n - (1n << 30n))) / (1n << 31n));
};
const divideByPot = (x, e) => {
  if (e <= 0) return x;
  const mask = (1 << e) - 1;
  return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0 ? 1 : 0) ? 1 : 0);
};
const accumulators = new Int32Array(outHeight * outWidth * outChannels);
const exact = new Uint8Array(accumulators.length);
for (let oy = 0; oy < outHeight; oy++)
  for (let ox = 0; ox < outWidth; ox++)
    for (let oc = 0; oc < outChannels; oc++) {
      let acc = bias[oc];
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * stride - pad + ky;
        if (iy < 0 || iy >= height) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * stride - pad + kx;
          if (ix < 0 || ix >= width) continue;
          for (let ic = 0; ic < inChannels; ic++)
            acc +=
              (rgb[(iy * width + ix) * 3 + ic] - zx) * (weights[((oc * kh + ky) * kw + kx) * inChannels + ic] - zw);
        }
      }
      const i = (oy * outWidth + ox) * outChannels + oc;
      accumulators[i] = acc;
      exact[i] = Math.min(
        255,
        Math.max(0, divideByPot(highMul(acc * 2 ** Math.max(shift, 0)), Math.max(-shift, 0)) + zy),
      );
    }

/** The graph with its output moved to the first layer's. */
function cutAfterFirstLayer() {
  const copy = new Uint8Array(bytes);
  const bb = new ByteBuffer(copy);
  const root = bb.readInt32(bb.position()) + bb.position();
  const subgraph = bb.__indirect(bb.__vector(root + bb.__offset(root, 8)));
  bb.writeInt32(bb.__vector(subgraph + bb.__offset(subgraph, 8)), op.outputs[0]);
  return copy;
}
const cut = cutAfterFirstLayer();
const cutPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'requant-')), 'first-layer.tflite');
writeFileSync(cutPath, cut);
const { loadTFLiteModel } = await import(pathToFileURL(path.join(bindingDir, 'dist', 'index.js')).href);
const runner = (await loadTFLiteModel(cutPath, { numThreads: 1 })).modelRunner;
runner.getInputs()[0].data().set(rgb);
runner.infer();
const session = await ort.InferenceSession.create(Buffer.from(importTflite(cut)), { graphOptimizationLevel: 'all' });
const out = (await session.run({ [session.inputNames[0]]: new ort.Tensor('uint8', rgb, [1, height, width, 3]) }))[
  session.outputNames[0]
];
const onnx =
  out.type === 'uint8' ? out.data : Uint8Array.from(out.data, (v) => Math.round(v / Y.quantization.scale[0] + zy));

function report(name, values) {
  const fractions = [];
  for (let i = 0; i < values.length; i++)
    if (values[i] !== exact[i]) fractions.push((((accumulators[i] * real) % 1) + 1) % 1);
  fractions.sort((a, b) => a - b);
  const where = fractions.length
    ? `, unrounded values' fractions ${fractions[0].toFixed(5)}…${fractions.at(-1).toFixed(5)}`
    : '';
  process.stdout.write(
    `${name}: ${fractions.length} of ${values.length} values differ from TFLite's integer arithmetic (${((100 * fractions.length) / values.length).toFixed(3)}%)${where}\n`,
  );
}
report('tflite interpreter', runner.getOutputs()[0].data());
report('onnxruntime (imported, QDQ)', onnx);
process.stdout.write(
  `multiplier ${real} = ${multiplier} × 2^${shift - 31}: values up to 2^-${-shift + 1} below a half round up in TFLite\n`,
);
