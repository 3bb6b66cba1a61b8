#!/usr/bin/env node
/**
 * Dev-only cross-check of the TFLite importer against TensorFlow Lite's own interpreter: the same
 * uint8/float pixels into both, the labels compared pixel by pixel at the model's input size.
 * Not part of the product or of `npm test`: the interpreter is the npm package tfjs-tflite-node,
 * installed beside the repository by hand (it needs its node-gyp build; see FACTS.md):
 *
 *   mkdir /tmp/tflite && cd /tmp/tflite && npm i tfjs-tflite-node@0.0.2 @tensorflow/tfjs-core
 *   (cd node_modules/tfjs-tflite-node && node $(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js rebuild --nodedir=/usr)
 *   npm run build && TFLITE_NODE=/tmp/tflite/node_modules/tfjs-tflite-node node tools/tflite-cross-check.mjs MODEL.tflite IMAGE...
 *
 * Prints one line per image (agreement, the classes' pixel counts that differ) and the total.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { importTflite } from '../dist/model/tflite/importTflite.js';

const args = process.argv.slice(2);
// --tflite-arithmetic: import with TFLite's own integer arithmetic (importTflite's tfliteArithmetic).
const tfliteArithmetic = args.includes('--tflite-arithmetic');
const [modelPath, ...images] = args.filter((a) => a !== '--tflite-arithmetic');
const bindingDir = process.env.TFLITE_NODE;
if (!modelPath || images.length === 0 || !bindingDir) {
  process.stderr.write(
    'usage: TFLITE_NODE=<path to tfjs-tflite-node> node tools/tflite-cross-check.mjs MODEL.tflite IMAGE...\n',
  );
  process.exit(64);
}
const { loadTFLiteModel } = await import(pathToFileURL(path.join(bindingDir, 'dist', 'index.js')).href);
const tflite = await loadTFLiteModel(modelPath, { numThreads: 2 });
const runner = tflite.modelRunner;
const tfIn = runner.getInputs()[0];
const tfOut = runner.getOutputs()[0];
ort.env.logLevel = 'fatal';
const session = await ort.InferenceSession.create(
  Buffer.from(importTflite(readFileSync(modelPath), modelPath, { keepScoreResize: true, tfliteArithmetic })),
  {
    graphOptimizationLevel: process.env.ORT_LEVEL ?? 'all',
    intraOpNumThreads: 2,
  },
);
const inputName = session.inputNames[0];
const outputName = session.outputNames[0];
const shape = tfIn.shape.split(',').map(Number); // N,H,W,C
const [height, width] = [shape[1], shape[2]];
const floatInput = tfIn.dataType === 'float32';

/** Argmax over the last axis of an N×H×W×C buffer (or the labels as they are). */
function labels(data, pixels) {
  if (data.length === pixels) return Int32Array.from(data, Number);
  const classes = data.length / pixels;
  const out = new Int32Array(pixels);
  for (let p = 0; p < pixels; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (data[p * classes + c] > data[p * classes + best]) best = c;
    out[p] = best;
  }
  return out;
}

let agreeing = 0;
let total = 0;
for (const image of images) {
  const rgb = await sharp(image).removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer();
  const pixels = width * height;
  const input = floatInput ? Float32Array.from(rgb, (v) => v / 127.5 - 1) : new Uint8Array(rgb);
  tfIn.data().set(input);
  runner.infer();
  const expected = labels(tfOut.data(), pixels);
  const feeds = { [inputName]: new ort.Tensor(floatInput ? 'float32' : 'uint8', input, [1, height, width, 3]) };
  const got = labels((await session.run(feeds))[outputName].data, pixels);
  let same = 0;
  for (let p = 0; p < pixels; p++) if (got[p] === expected[p]) same++;
  agreeing += same;
  total += pixels;
  process.stdout.write(`${path.basename(image)}: ${((100 * same) / pixels).toFixed(2)}% of ${pixels} pixels agree\n`);
}
process.stdout.write(
  `${path.basename(modelPath)}: ${((100 * agreeing) / total).toFixed(3)}% of ${total} pixels agree over ${images.length} images (${total - agreeing} differ)\n`,
);
