/**
 * Reads the parts of a TFLite flatbuffer (schema.fbs, identifier "TFL3") that the ONNX importer
 * needs into plain objects. Field slots follow the schema's field order (slot = 4 + 2·index).
 *
 *   readTflite(bytes) → { operatorCodes, subgraphs: [{ tensors, inputs, outputs, operators }], buffers }
 */
import { ByteBuffer } from 'flatbuffers';

/** A flatbuffer table: a position plus its vtable. */
export class FlatTable {
  constructor(
    readonly bb: ByteBuffer,
    readonly pos: number,
  ) {}

  private at(slot: number): number {
    return this.bb.__offset(this.pos, slot);
  }
  int8(slot: number, fallback = 0): number {
    const o = this.at(slot);
    return o ? this.bb.readInt8(this.pos + o) : fallback;
  }
  uint8(slot: number, fallback = 0): number {
    const o = this.at(slot);
    return o ? this.bb.readUint8(this.pos + o) : fallback;
  }
  bool(slot: number, fallback = false): boolean {
    const o = this.at(slot);
    return o ? this.bb.readInt8(this.pos + o) !== 0 : fallback;
  }
  int32(slot: number, fallback = 0): number {
    const o = this.at(slot);
    return o ? this.bb.readInt32(this.pos + o) : fallback;
  }
  uint32(slot: number, fallback = 0): number {
    const o = this.at(slot);
    return o ? this.bb.readUint32(this.pos + o) : fallback;
  }
  float32(slot: number, fallback = 0): number {
    const o = this.at(slot);
    return o ? this.bb.readFloat32(this.pos + o) : fallback;
  }
  string(slot: number): string | null {
    const o = this.at(slot);
    return o ? (this.bb.__string(this.pos + o) as string) : null;
  }
  table(slot: number): FlatTable | null {
    const o = this.at(slot);
    return o ? new FlatTable(this.bb, this.bb.__indirect(this.pos + o)) : null;
  }
  tables(slot: number): FlatTable[] {
    const o = this.at(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    return Array.from(
      { length: this.bb.__vector_len(this.pos + o) },
      (_, i) => new FlatTable(this.bb, this.bb.__indirect(start + i * 4)),
    );
  }
  float32s(slot: number): number[] {
    const o = this.at(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    return Array.from({ length: this.bb.__vector_len(this.pos + o) }, (_, i) => this.bb.readFloat32(start + i * 4));
  }
  int64s(slot: number): number[] {
    const o = this.at(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    return Array.from({ length: this.bb.__vector_len(this.pos + o) }, (_, i) =>
      Number(this.bb.readInt64(start + i * 8)),
    );
  }
  int32s(slot: number): number[] {
    const o = this.at(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    return Array.from({ length: this.bb.__vector_len(this.pos + o) }, (_, i) => this.bb.readInt32(start + i * 4));
  }
  bytes(slot: number): Uint8Array | null {
    const o = this.at(slot);
    if (!o) return null;
    const start = this.bb.__vector(this.pos + o);
    const bytes = this.bb.bytes();
    return bytes.subarray(start, start + this.bb.__vector_len(this.pos + o));
  }
  /** A union's value table (its type sits in the slot before). */
  union(slot: number): FlatTable | null {
    const o = this.at(slot);
    return o ? new FlatTable(this.bb, this.bb.__indirect(this.pos + o)) : null;
  }
}

export const TensorType = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4, INT8: 9 } as const;

/** A tensor's affine quantization: real = scale · (q − zeroPoint), per tensor or per channel along `axis`. */
export interface TfliteQuantization {
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  readonly axis: number;
}

export interface TfliteTensor {
  readonly index: number;
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: number;
  /** Index into the model's buffers; buffer 0 is the empty sentinel (no constant data). */
  readonly buffer: number;
  /** Present where the tensor holds quantized values (one scale, or one per channel). */
  readonly quantization: TfliteQuantization | null;
}

export interface TfliteOperator {
  readonly index: number;
  /** BuiltinOperator code (32 = CUSTOM). */
  readonly builtin: number;
  readonly customCode: string | null;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly optionsType: number;
  readonly options: FlatTable | null;
  readonly customOptions: Uint8Array | null;
}

export interface TfliteSubgraph {
  readonly tensors: readonly TfliteTensor[];
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly operators: readonly TfliteOperator[];
}

export interface TfliteModel {
  readonly version: number;
  readonly subgraphs: readonly TfliteSubgraph[];
  readonly buffers: readonly (Uint8Array | null)[];
}

export function isTflite(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === 'TFL3';
}

/** QuantizationParameters: min 4, max 6, scale 8, zero_point 10, details 12/14, quantized_dimension 16. */
function quantizationOf(q: FlatTable | null): TfliteQuantization | null {
  if (!q) return null;
  const scale = q.float32s(8);
  if (scale.length === 0) return null;
  const zeroPoint = q.int64s(10);
  return { scale, zeroPoint: zeroPoint.length ? zeroPoint : scale.map(() => 0), axis: q.int32(16, 0) };
}

export function readTflite(bytes: Uint8Array): TfliteModel {
  const bb = new ByteBuffer(bytes);
  const root = new FlatTable(bb, bb.readInt32(bb.position()) + bb.position());
  const codes = root.tables(6).map((c) => ({
    // Codes above 127 live only in builtin_code; older files only set the int8 deprecated one.
    builtin: Math.max(c.int8(4, 0), c.int32(10, 0)),
    custom: c.string(6),
  }));
  const subgraphs = root.tables(8).map((g) => ({
    tensors: g.tables(4).map((t, index) => ({
      index,
      name: t.string(10) ?? `tensor_${index}`,
      shape: t.int32s(4),
      type: t.int8(6, 0),
      buffer: t.uint32(8, 0),
      quantization: quantizationOf(t.table(12)),
    })),
    inputs: g.int32s(6),
    outputs: g.int32s(8),
    operators: g.tables(10).map((op, index) => {
      const code = codes[op.uint32(4, 0)];
      if (!code)
        throw new RangeError(`operator ${index} names opcode ${op.uint32(4, 0)}, which the model does not define`);
      return {
        index,
        builtin: code.builtin,
        customCode: code.custom,
        inputs: op.int32s(6),
        outputs: op.int32s(8),
        optionsType: op.uint8(10, 0),
        options: op.union(12),
        customOptions: op.bytes(14),
      };
    }),
  }));
  return { version: root.uint32(4, 0), subgraphs, buffers: root.tables(12).map((b) => b.bytes(4)) };
}
