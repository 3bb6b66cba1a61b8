/**
 * Writes small TFLite flatbuffers for tests (schema.fbs field order), so every importer mapping
 * can be checked on a one-op model against a reference computed here.
 */
import { Builder } from 'flatbuffers';

export const T = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4, INT8: 9 } as const;

/** Affine quantization: real = scale · (q − zeroPoint), per tensor or per channel along `axis`. */
export interface QuantSpec {
  scale: number[];
  zeroPoint: number[];
  axis?: number;
}

export interface TensorSpec {
  shape: number[];
  type?: number;
  /** Constant data (float32 values, int32 values, raw fp16 bits as Uint16Array, or quantized uint8/int8). */
  data?: Float32Array | Int32Array | Uint16Array | Uint8Array | Int8Array;
  quantization?: QuantSpec;
}

export interface OpSpec {
  builtin: number;
  custom?: string;
  inputs: number[];
  outputs: number[];
  optionsType?: number;
  /** Writes the options table and returns its offset. */
  options?: (b: Builder) => number;
  customOptions?: Uint8Array;
}

export interface ModelSpec {
  tensors: TensorSpec[];
  inputs: number[];
  outputs: number[];
  operators: OpSpec[];
}

function intVector(b: Builder, values: readonly number[]): number {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]!);
  return b.endVector();
}

function table(b: Builder, fields: number, fill: (b: Builder) => void): number {
  b.startObject(fields);
  fill(b);
  return b.endObject();
}

/** Options table from [slot index, kind, value] triples. */
export function options(
  fields: number,
  values: [slot: number, kind: 'i8' | 'i32' | 'bool' | 'f32' | 'ints', value: number | number[]][],
): (b: Builder) => number {
  return (b) => {
    const vectors = values.map(([, kind, value]) => (kind === 'ints' ? intVector(b, value as number[]) : 0));
    return table(b, fields, () => {
      values.forEach(([slot, kind, value], i) => {
        if (kind === 'i8' || kind === 'bool') b.addFieldInt8(slot, Number(value), null);
        else if (kind === 'i32') b.addFieldInt32(slot, value as number, null);
        else if (kind === 'f32') b.addFieldFloat32(slot, value as number, null);
        else b.addFieldOffset(slot, vectors[i]!, 0);
      });
    });
  };
}

/** Pool2DOptions (union type 5): padding (0 SAME, 1 VALID), a square stride and window. */
export function poolOptions(padding: 0 | 1, stride: number, window: number): Pick<OpSpec, 'optionsType' | 'options'> {
  return {
    optionsType: 5,
    options: options(6, [
      [0, 'i8', padding],
      [1, 'i32', stride],
      [2, 'i32', stride],
      [3, 'i32', window],
      [4, 'i32', window],
    ]),
  };
}

/**
 * A model of one operator: the graph input is tensor 0, the operator's other inputs (constants)
 * follow in order, its output is last.
 */
export function oneOperatorModel(
  input: TensorSpec,
  constants: readonly TensorSpec[],
  output: TensorSpec,
  op: Omit<OpSpec, 'inputs' | 'outputs'>,
): ModelSpec {
  const last = constants.length + 1;
  return {
    tensors: [input, ...constants, output],
    inputs: [0],
    outputs: [last],
    operators: [{ ...op, inputs: Array.from({ length: last }, (_, i) => i), outputs: [last] }],
  };
}

/** QuantizationParameters: min 0, max 1, scale 2 ([float]), zero_point 3 ([long]), details 4/5, quantized_dimension 6. */
function quantizationTable(b: Builder, q: QuantSpec): number {
  b.startVector(4, q.scale.length, 4);
  for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i]!);
  const scale = b.endVector();
  b.startVector(8, q.zeroPoint.length, 8);
  for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i]!));
  const zero = b.endVector();
  return table(b, 7, () => {
    b.addFieldOffset(2, scale, 0);
    b.addFieldOffset(3, zero, 0);
    if (q.axis) b.addFieldInt32(6, q.axis, 0);
  });
}

export function buildTflite(spec: ModelSpec): Uint8Array {
  const b = new Builder(1 << 16);
  // Buffer 0 is the empty sentinel; each constant gets its own buffer.
  const bufferData: (Uint8Array | null)[] = [null];
  const tensorBuffer = spec.tensors.map((t) => {
    if (!t.data) return 0;
    bufferData.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    return bufferData.length - 1;
  });
  const buffers = bufferData.map((data) => {
    const vec = data ? b.createByteVector(data) : 0;
    return table(b, 1, () => vec && b.addFieldOffset(0, vec, 0));
  });
  const tensors = spec.tensors.map((t, i) => {
    const shape = intVector(b, t.shape);
    const name = b.createString(`t${i}`);
    const quantization = t.quantization ? quantizationTable(b, t.quantization) : 0;
    return table(b, 8, () => {
      b.addFieldOffset(0, shape, 0);
      b.addFieldInt8(1, t.type ?? T.FLOAT32, null);
      b.addFieldInt32(2, tensorBuffer[i]!, 0);
      b.addFieldOffset(3, name, 0);
      if (quantization) b.addFieldOffset(4, quantization, 0);
    });
  });
  const codes: { builtin: number; custom?: string }[] = [];
  const codeIndex = (op: OpSpec) => {
    let i = codes.findIndex((c) => c.builtin === op.builtin && c.custom === op.custom);
    if (i < 0) i = codes.push({ builtin: op.builtin, ...(op.custom ? { custom: op.custom } : {}) }) - 1;
    return i;
  };
  const operators = spec.operators.map((op) => {
    const inputs = intVector(b, op.inputs);
    const outputs = intVector(b, op.outputs);
    const opts = op.options ? op.options(b) : 0;
    const custom = op.customOptions ? b.createByteVector(op.customOptions) : 0;
    const index = codeIndex(op);
    return table(b, 7, () => {
      b.addFieldInt32(0, index, 0);
      b.addFieldOffset(1, inputs, 0);
      b.addFieldOffset(2, outputs, 0);
      if (opts) {
        b.addFieldInt8(3, op.optionsType ?? 1, 0);
        b.addFieldOffset(4, opts, 0);
      }
      if (custom) b.addFieldOffset(5, custom, 0);
    });
  });
  const opcodes = codes.map((c) => {
    const custom = c.custom ? b.createString(c.custom) : 0;
    return table(b, 4, () => {
      b.addFieldInt8(0, Math.min(c.builtin, 127), 0);
      if (custom) b.addFieldOffset(1, custom, 0);
      b.addFieldInt32(2, 1, 1);
      b.addFieldInt32(3, c.builtin, 0);
    });
  });
  const offsets = (items: number[]) => {
    b.startVector(4, items.length, 4);
    for (let i = items.length - 1; i >= 0; i--) b.addOffset(items[i]!);
    return b.endVector();
  };
  const tensorVec = offsets(tensors);
  const opVec = offsets(operators);
  const inVec = intVector(b, spec.inputs);
  const outVec = intVector(b, spec.outputs);
  const subgraph = table(b, 5, () => {
    b.addFieldOffset(0, tensorVec, 0);
    b.addFieldOffset(1, inVec, 0);
    b.addFieldOffset(2, outVec, 0);
    b.addFieldOffset(3, opVec, 0);
  });
  const codeVec = offsets(opcodes);
  const graphVec = offsets([subgraph]);
  const bufferVec = offsets(buffers);
  const model = table(b, 5, () => {
    b.addFieldInt32(0, 3, 0);
    b.addFieldOffset(1, codeVec, 0);
    b.addFieldOffset(2, graphVec, 0);
    b.addFieldOffset(4, bufferVec, 0);
  });
  b.finish(model, 'TFL3');
  return b.asUint8Array();
}
