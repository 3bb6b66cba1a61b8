/**
 * A small typed writer of ONNX graphs over `onnx-proto`: enough to build DeepLab-architecture
 * models (convolutions with dilation, ASPP, pooling, resize) for tests and benchmarks, and to be
 * the back end of the model importers.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export type OnnxModel = InstanceType<typeof onnx.ModelProto>;

/** A dimension: a fixed size or a symbolic name (dynamic). */
export type Dim = number | string;

export const ONNX_FLOAT = 1;
export const ONNX_UINT8 = 2;
export const ONNX_INT8 = 3;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;
export const ONNX_DOUBLE = 11;

export interface ConvOptions {
  /** Output channels. */
  out: number;
  kernel: number;
  stride?: number;
  dilation?: number;
  /** Channel groups; `group === in` is a depthwise convolution. */
  group?: number;
  bias?: boolean;
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** mulberry32: a tiny seeded PRNG so generated weights are the same on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class OnnxGraphBuilder {
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly initializers: Record<string, unknown>[] = [];
  private readonly inputs: ReturnType<typeof valueInfo>[] = [];
  private readonly outputs: ReturnType<typeof valueInfo>[] = [];
  /** Channel count of every tensor whose channels are known (NCHW axis 1). */
  private readonly channels = new Map<string, number>();
  private counter = 0;
  private readonly random: () => number;
  /** Key/value pairs the model carries for its readers (ModelProto.metadata_props). */
  readonly metadata = new Map<string, string>();

  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }

  private fresh(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  channelsOf(tensor: string): number {
    const c = this.channels.get(tensor);
    if (c === undefined) throw new Error(`channel count of ${tensor} is unknown`);
    return c;
  }

  input(name: string, dims: readonly Dim[], elemType = ONNX_FLOAT, channelAxis = 1): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    const c = dims[channelAxis];
    if (typeof c === 'number') this.channels.set(name, c);
    return name;
  }

  output(name: string, dims: readonly Dim[], elemType = ONNX_FLOAT): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** A constant tensor: the typed array's bytes as they are, as `dataType`. */
  private constant(values: ArrayBufferView, dims: readonly number[], dataType: number, prefix: string): string {
    const name = this.fresh(prefix);
    this.initializers.push({
      name,
      dims: [...dims],
      dataType,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  }

  /** A float32 constant tensor. */
  constantFloat(values: Float32Array, dims: readonly number[], prefix = 'const'): string {
    return this.constant(values, dims, ONNX_FLOAT, prefix);
  }

  /** A float64 constant tensor. */
  constantDouble(values: Float64Array, dims: readonly number[], prefix = 'const'): string {
    return this.constant(values, dims, ONNX_DOUBLE, prefix);
  }

  /** An integer constant tensor of quantized data (uint8, int8, int32), its bytes as they are. */
  constantInts(values: Uint8Array | Int8Array | Int32Array, dims: readonly number[], prefix = 'q'): string {
    const dataType = values instanceof Uint8Array ? ONNX_UINT8 : values instanceof Int8Array ? ONNX_INT8 : ONNX_INT32;
    return this.constant(values, dims, dataType, prefix);
  }

  /** An int64 constant: a 1-D list by default, or `dims` ([] for a scalar). */
  constantInt64(values: readonly number[], prefix = 'ints', dims: readonly number[] = [values.length]): string {
    return this.constant(new BigInt64Array(values.map((v) => BigInt(v))), dims, ONNX_INT64, prefix);
  }

  /** He-initialised weights (so activations neither vanish nor explode through many layers). */
  randomWeights(dims: readonly number[], fanIn: number, prefix: string): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    const scale = Math.sqrt(2 / fanIn) * Math.sqrt(3); // uniform(-s, s) has the He variance
    for (let i = 0; i < count; i++) values[i] = (this.random() * 2 - 1) * scale;
    return this.constantFloat(values, dims, prefix);
  }

  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, unknown>[] = [],
    outputCount = 1,
    domain = '',
  ): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      input: [...inputs],
      output: outputs,
      attribute: attributes,
      name: this.fresh(`${opType}_node`),
      domain,
    });
    return outputs;
  }

  /** A node with one output: its name. */
  node1(opType: string, inputs: readonly string[], attributes: Record<string, unknown>[] = []): string {
    return this.node(opType, inputs, attributes)[0]!;
  }

  static ints(name: string, values: readonly number[]) {
    return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...values] };
  }
  static int(name: string, value: number) {
    return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
  }
  static float(name: string, value: number) {
    return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
  }
  static string(name: string, value: string) {
    return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
  }

  conv(x: string, options: ConvOptions): string {
    const { out, kernel, stride = 1, dilation = 1, group = 1, bias = true } = options;
    const inChannels = this.channelsOf(x);
    const perGroup = inChannels / group;
    const weights = this.randomWeights([out, perGroup, kernel, kernel], perGroup * kernel * kernel, 'w');
    const inputs = [x, weights];
    if (bias)
      inputs.push(
        this.constantFloat(
          new Float32Array(out).map(() => (this.random() - 0.5) * 0.2),
          [out],
          'b',
        ),
      );
    const pad = (dilation * (kernel - 1)) >> 1;
    const y = this.node1('Conv', inputs, [
      OnnxGraphBuilder.ints('kernel_shape', [kernel, kernel]),
      OnnxGraphBuilder.ints('strides', [stride, stride]),
      OnnxGraphBuilder.ints('dilations', [dilation, dilation]),
      OnnxGraphBuilder.ints('pads', [pad, pad, pad, pad]),
      OnnxGraphBuilder.int('group', group),
    ]);
    this.channels.set(y, out);
    return y;
  }

  /** Unary op that keeps the channel count (Relu, Sigmoid, ...). */
  unary(opType: string, x: string, attributes: Record<string, unknown>[] = []): string {
    const y = this.node1(opType, [x], attributes);
    if (this.channels.has(x)) this.channels.set(y, this.channelsOf(x));
    return y;
  }

  relu(x: string): string {
    return this.unary('Relu', x);
  }

  /** Clip(0, 6), MobileNet's activation. */
  relu6(x: string): string {
    const y = this.node1('Clip', [
      x,
      this.constantFloat(new Float32Array([0]), []),
      this.constantFloat(new Float32Array([6]), []),
    ]);
    this.channels.set(y, this.channelsOf(x));
    return y;
  }

  add(a: string, b: string): string {
    const y = this.node1('Add', [a, b]);
    if (this.channels.has(a)) this.channels.set(y, this.channelsOf(a));
    return y;
  }

  concat(xs: readonly string[], axis = 1): string {
    const y = this.node1('Concat', xs, [OnnxGraphBuilder.int('axis', axis)]);
    this.channels.set(
      y,
      xs.reduce((sum, x) => sum + this.channelsOf(x), 0),
    );
    return y;
  }

  globalAveragePool(x: string): string {
    return this.unary('GlobalAveragePool', x);
  }

  /** The shape [N, C of x, H, W of like] as an int64 tensor. */
  private shapeWithSpatialOf(x: string, like: string): string {
    const [likeShape] = this.node('Shape', [like]);
    const [hw] = this.node('Slice', [likeShape!, this.constantInt64([2]), this.constantInt64([4])]);
    const [xShape] = this.node('Shape', [x]);
    const [nc] = this.node('Slice', [xShape!, this.constantInt64([0]), this.constantInt64([2])]);
    return this.node('Concat', [nc!, hw!], [OnnxGraphBuilder.int('axis', 0)])[0]!;
  }

  /** Broadcast `x` (e.g. N×C×1×1) to the spatial size of `like`, keeping x's channels. */
  expandSpatialLike(x: string, like: string): string {
    const y = this.node1('Expand', [x, this.shapeWithSpatialOf(x, like)]);
    this.channels.set(y, this.channelsOf(x));
    return y;
  }

  /** Bilinear resize of `x` to the spatial size of `like` (half-pixel, as TF/PyTorch align_corners=false). */
  resizeBilinearLike(x: string, like: string): string {
    const y = this.node1(
      'Resize',
      [x, '', '', this.shapeWithSpatialOf(x, like)],
      [
        OnnxGraphBuilder.string('mode', 'linear'),
        OnnxGraphBuilder.string('coordinate_transformation_mode', 'half_pixel'),
      ],
    );
    this.channels.set(y, this.channelsOf(x));
    return y;
  }

  /** Rename a tensor to a graph output name (Identity), so outputs have stable names. */
  rename(x: string, name: string): void {
    this.nodes.push({ opType: 'Identity', input: [x], output: [name], name: this.fresh('Identity_node') });
  }

  toModel(graphName: string, opset = 17): OnnxModel {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'deeplab-stream',
      opsetImport: [{ domain: '', version: opset }],
      ...(this.metadata.size ? { metadataProps: [...this.metadata].map(([key, value]) => ({ key, value })) } : {}),
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  toBytes(graphName: string, opset = 17): Uint8Array {
    return onnx.ModelProto.encode(this.toModel(graphName, opset)).finish();
  }
}
