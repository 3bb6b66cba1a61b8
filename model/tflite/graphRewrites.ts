/**
 * Rewrites of a TFLite graph's shape before its operators are mapped: where its scores are (the
 * ARG_MAX and upsampling at its end cut), and TF1's atrous convolutions found whole.
 */
import type { TfliteOperator } from './tfliteSchema.js';
import type { TfliteTensors } from './tfliteTensors.js';
import { Op } from './tfliteOps.js';

/** An atrous convolution written as SPACE_TO_BATCH_ND → conv → BATCH_TO_SPACE_ND, as one dilated conv. */
export interface Atrous {
  readonly dilation: [number, number];
  readonly pads: number[];
  readonly spaceToBatch: TfliteOperator;
  readonly batchToSpace: TfliteOperator;
}

/**
 * The outputs a graph gives once its endings are cut: a graph that ends in ARG_MAX gives the scores
 * before it (an ARG_MAX of the graph's own input has none: kept), and, unless `keepScoreResize`,
 * the score maps before DeepLab's align-corners upsampling to the input size, whether an ARG_MAX
 * follows it or it is the graph's output (TensorFlow's float DeepLab v3) — the pipeline then
 * upsamples once, from the low-resolution scores straight to the frame, in the same geometry
 * (`alignedScores`: the descriptor reads it from the metadata), a 4-byte score per input pixel and
 * class less to make, copy and argmax.
 */
export function scoreOutputs(
  operators: readonly TfliteOperator[],
  inputs: readonly number[],
  graphOutputs: readonly number[],
  keepScoreResize: boolean,
): { outputs: number[]; cut: Set<TfliteOperator>; alignedScores: boolean } {
  const producers = new Map(operators.flatMap((op) => op.outputs.map((o) => [o, op] as const)));
  const consumers = new Map<number, number>();
  for (const op of operators) for (const i of op.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const cut = new Set<TfliteOperator>();
  let alignedScores = false;
  const outputs = graphOutputs.map((index) => {
    const producer = producers.get(index);
    const argMax = producer?.builtin === Op.ARG_MAX && !inputs.includes(producer.inputs[0]!);
    if (argMax) cut.add(producer);
    let scores = argMax ? producer.inputs[0]! : index;
    for (
      let resize = producers.get(scores);
      !keepScoreResize &&
      resize?.builtin === Op.RESIZE_BILINEAR &&
      resize.options?.bool(8, false) &&
      !resize.options.bool(10, false) &&
      // Nothing else reads the upsampled scores (a graph output has no reader, an ARG_MAX's is it).
      (consumers.get(scores) ?? 0) === (scores === index ? 0 : 1) &&
      !inputs.includes(resize.inputs[0]!);
      resize = producers.get(scores)
    ) {
      cut.add(resize);
      scores = resize.inputs[0]!;
      alignedScores = true;
    }
    return scores;
  });
  return { outputs, cut, alignedScores };
}

/**
 * TF1 writes an atrous convolution as SPACE_TO_BATCH_ND → a stride-1 VALID convolution →
 * BATCH_TO_SPACE_ND: that is one convolution dilated by the block, padded by the paddings less
 * the crops. Found here so the three run as one ONNX Conv (on the ADE20K model, ~4× faster
 * than rearranging the batch); anything else takes the general path below.
 */
export function findAtrous(operators: readonly TfliteOperator[], t: TfliteTensors): Map<TfliteOperator, Atrous> {
  const atrous = new Map<TfliteOperator, Atrous>();
  const consumers = new Map<number, TfliteOperator[]>();
  for (const op of operators) for (const i of op.inputs) consumers.set(i, [...(consumers.get(i) ?? []), op]);
  const only = (tensor: number) => (consumers.get(tensor)?.length === 1 ? consumers.get(tensor)![0]! : null);
  for (const s2b of operators) {
    if (s2b.builtin !== Op.SPACE_TO_BATCH_ND || t.kept(s2b.outputs[0]!)) continue;
    const conv = only(s2b.outputs[0]!);
    if (
      !conv ||
      (conv.builtin !== Op.CONV_2D && conv.builtin !== Op.DEPTHWISE_CONV_2D) ||
      conv.inputs[0] !== s2b.outputs[0] ||
      !conv.options
    )
      continue;
    const depthwise = conv.builtin === Op.DEPTHWISE_CONV_2D;
    const o = conv.options;
    const plain =
      o.int8(4, 0) === 1 &&
      o.int32(6, 1) === 1 &&
      o.int32(8, 1) === 1 &&
      (depthwise ? o.int32(14, 1) === 1 && o.int32(16, 1) === 1 : o.int32(12, 1) === 1 && o.int32(14, 1) === 1);
    const b2s = only(conv.outputs[0]!);
    if (!plain || !b2s || b2s.builtin !== Op.BATCH_TO_SPACE_ND || t.tensor(s2b.inputs[0]!).shape[0] !== 1) continue;
    const block = t.constInts(s2b.inputs[1]!);
    if (block.join() !== t.constInts(b2s.inputs[1]!).join()) continue;
    const [pt, pb, pl, pr] = t.constInts(s2b.inputs[2]!);
    const [ct, cb, cl, cr] = t.constInts(b2s.inputs[2]!);
    const pads = [pt! - ct!, pl! - cl!, pb! - cb!, pr! - cr!];
    if (pads.some((p) => p < 0)) continue;
    atrous.set(conv, { dilation: [block[0]!, block[1]!], pads, spaceToBatch: s2b, batchToSpace: b2s });
  }
  return atrous;
}
