/**
 * Writes DeepLab-architecture ONNX graphs with seeded random weights: a backbone whose last
 * stages trade stride for atrous (dilated) convolution, ASPP (a 1×1 branch, three 3×3 branches at
 * rates 6/12/18 and an image-pooling branch), a 1×1 classifier, and optionally the bilinear
 * upsampling back to the input size. Tests and benchmarks get DeepLab's real shapes and costs
 * without downloading weights.
 *
 *   buildDeepLab({ variant: 'mobilenet', classes: 21 }) → Uint8Array (an .onnx file)
 *   input  "image"  float32 [batch, 3, H, W]   (H, W dynamic unless `inputSize` is given)
 *   output "logits" float32 [batch, C, H/16, W/16] (resnet: H/8, W/8), or [batch, C, H, W] with `upsample`
 */
import { type Dim, OnnxGraphBuilder } from '../../model/onnxGraph.js';

export type DeepLabVariant = 'tiny' | 'mobilenet' | 'resnet';

export interface DeepLabOptions {
  variant?: DeepLabVariant;
  classes?: number;
  /** Fixed input size [H, W]; dynamic when omitted. */
  inputSize?: readonly [number, number];
  /** Append the bilinear upsampling to input size (as torchvision's export does). */
  upsample?: boolean;
  /** ASPP rates (DeepLab v3: 6, 12, 18 at output stride 16; resnet, at stride 8, defaults to 12, 24, 36). */
  asppRates?: readonly number[];
  seed?: number;
}

type Block = (g: OnnxGraphBuilder, x: string) => string;

/** MobileNetV2 inverted residual: 1×1 expand, 3×3 depthwise (strided or atrous), 1×1 project. */
function invertedResidual(out: number, expand: number, stride: number, dilation: number): Block {
  return (g, x) => {
    const inC = g.channelsOf(x);
    let y = x;
    if (expand !== 1) y = g.relu6(g.conv(y, { out: inC * expand, kernel: 1 }));
    const mid = g.channelsOf(y);
    y = g.relu6(g.conv(y, { out: mid, kernel: 3, stride, dilation, group: mid }));
    y = g.conv(y, { out, kernel: 1 });
    return stride === 1 && inC === out ? g.add(y, x) : y;
  };
}

/** ResNet bottleneck: 1×1 reduce, 3×3 (strided or atrous), 1×1 expand, projected shortcut. */
function bottleneck(width: number, stride: number, dilation: number): Block {
  return (g, x) => {
    const out = width * 4;
    let y = g.relu(g.conv(x, { out: width, kernel: 1 }));
    y = g.relu(g.conv(y, { out: width, kernel: 3, stride, dilation }));
    y = g.conv(y, { out, kernel: 1 });
    const shortcut = stride === 1 && g.channelsOf(x) === out ? x : g.conv(x, { out, kernel: 1, stride });
    return g.relu(g.add(y, shortcut));
  };
}

function repeat(count: number, first: Block, rest: Block): Block[] {
  return [first, ...Array.from({ length: count - 1 }, () => rest)];
}

function backbone(variant: DeepLabVariant): { blocks: Block[]; aspp: number } {
  switch (variant) {
    case 'tiny':
      return {
        blocks: [
          (g, x) => g.relu(g.conv(x, { out: 8, kernel: 3, stride: 2 })),
          (g, x) => g.relu(g.conv(x, { out: 16, kernel: 3, stride: 2 })),
          (g, x) => g.relu(g.conv(x, { out: 16, kernel: 3, stride: 2 })),
          (g, x) => g.relu(g.conv(x, { out: 24, kernel: 3, stride: 2 })),
          (g, x) => g.relu(g.conv(x, { out: 24, kernel: 3, dilation: 2 })),
        ],
        aspp: 16,
      };
    case 'mobilenet':
      // MobileNetV2 at output stride 16: the last stride-2 stage becomes dilation 2.
      return {
        blocks: [
          (g, x) => g.relu6(g.conv(x, { out: 32, kernel: 3, stride: 2 })),
          invertedResidual(16, 1, 1, 1),
          ...repeat(2, invertedResidual(24, 6, 2, 1), invertedResidual(24, 6, 1, 1)),
          ...repeat(3, invertedResidual(32, 6, 2, 1), invertedResidual(32, 6, 1, 1)),
          ...repeat(4, invertedResidual(64, 6, 2, 1), invertedResidual(64, 6, 1, 1)),
          ...repeat(3, invertedResidual(96, 6, 1, 1), invertedResidual(96, 6, 1, 1)),
          ...repeat(3, invertedResidual(160, 6, 1, 2), invertedResidual(160, 6, 1, 2)),
          invertedResidual(320, 6, 1, 2),
        ],
        aspp: 256,
      };
    case 'resnet':
      // ResNet-50 at output stride 8 (layer3 atrous rate 2, layer4 rate 4), as torchvision's DeepLabV3.
      return {
        blocks: [
          (g, x) => g.relu(g.conv(x, { out: 64, kernel: 7, stride: 2 })),
          (g, x) =>
            g.unary('MaxPool', x, [
              OnnxGraphBuilder.ints('kernel_shape', [3, 3]),
              OnnxGraphBuilder.ints('strides', [2, 2]),
              OnnxGraphBuilder.ints('pads', [1, 1, 1, 1]),
            ]),
          ...repeat(3, bottleneck(64, 1, 1), bottleneck(64, 1, 1)),
          ...repeat(4, bottleneck(128, 2, 1), bottleneck(128, 1, 1)),
          ...repeat(6, bottleneck(256, 1, 2), bottleneck(256, 1, 2)),
          ...repeat(3, bottleneck(512, 1, 4), bottleneck(512, 1, 4)),
        ],
        aspp: 256,
      };
  }
}

export function buildDeepLab(options: DeepLabOptions = {}): Uint8Array {
  const { variant = 'tiny', classes = 21, inputSize, upsample = false, seed = 1 } = options;
  const asppRates = options.asppRates ?? (variant === 'resnet' ? [12, 24, 36] : [6, 12, 18]);
  const g = new OnnxGraphBuilder(seed);
  const [h, w]: [Dim, Dim] = inputSize ? [inputSize[0], inputSize[1]] : ['height', 'width'];
  const image = g.input('image', ['batch', 3, h, w]);

  const { blocks, aspp } = backbone(variant);
  const features = blocks.reduce((x, block) => block(g, x), image);

  // ASPP: parallel atrous branches see the same features at several fields of view.
  const branches = [
    g.relu(g.conv(features, { out: aspp, kernel: 1 })),
    ...asppRates.map((rate) => g.relu(g.conv(features, { out: aspp, kernel: 3, dilation: rate }))),
    g.expandSpatialLike(g.relu(g.conv(g.globalAveragePool(features), { out: aspp, kernel: 1 })), features),
  ];
  const fused = g.relu(g.conv(g.concat(branches), { out: aspp, kernel: 1 }));
  let logits = g.conv(g.relu(g.conv(fused, { out: aspp, kernel: 3 })), { out: classes, kernel: 1 });
  if (upsample) logits = g.resizeBilinearLike(logits, image);

  g.rename(logits, 'logits');
  g.output('logits', upsample ? ['batch', classes, h, w] : ['batch', classes, 'out_height', 'out_width']);
  return g.toBytes(`deeplabv3_${variant}`);
}
