/** The TFLite builtin operators the importer maps (by their schema codes), and names for errors. */
export const Op = {
  ADD: 0, AVERAGE_POOL_2D: 1, CONCATENATION: 2, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, DEQUANTIZE: 6, LOGISTIC: 14,
  MAX_POOL_2D: 17, MUL: 18, RELU: 19, RELU_N1_TO_1: 20, RELU6: 21, RESHAPE: 22, RESIZE_BILINEAR: 23, SOFTMAX: 25,
  TANH: 28, CUSTOM: 32, PAD: 34, BATCH_TO_SPACE_ND: 37, SPACE_TO_BATCH_ND: 38, MEAN: 40, SUB: 41, DIV: 42, ARG_MAX: 56, TRANSPOSE_CONV: 67, TILE: 69, QUANTIZE: 114, HARD_SWISH: 117,
} as const;
export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k]));
/** A few names of ops we do not map, so the error can say which one it met. */
export const OTHER_OP_NAMES: Record<number, string> = {
  5: 'DEPTH_TO_SPACE', 9: 'FULLY_CONNECTED', 26: 'SPACE_TO_DEPTH', 36: 'GATHER',
  39: 'TRANSPOSE', 43: 'SQUEEZE', 45: 'STRIDED_SLICE', 54: 'PRELU', 55: 'MAXIMUM', 57: 'MINIMUM', 97: 'RESIZE_NEAREST_NEIGHBOR',
  98: 'LEAKY_RELU',
};
export const SUPPORTED_TFLITE_OPS = [...Object.keys(Op).filter((k) => k !== 'CUSTOM'), 'CUSTOM Convolution2DTransposeBias'];
