/**
 * Bilinear resampling along one axis, shared by the frame resize (model/preprocess.ts), the score
 * upsampling (model/postprocess.ts) and the CRF's reduced resolution (crf/reducedResolution.ts).
 */
/** Source coordinates of a half-pixel bilinear resize along one axis: low index, high index, weight of high. */
export interface AxisTaps {
  readonly low: Int32Array;
  readonly high: Int32Array;
  readonly weight: Float32Array;
}

/**
 * Taps along one axis. Half-pixel by default; with `alignedInput`, the source is a score map that
 * samples a model input of that size with its corners aligned (DeepLab's resizes): output pixel i
 * sits at input coordinate (i + ½)·input/out − ½ (the frame was resized to the input half-pixel),
 * which is score coordinate · (size − 1)/(input − 1).
 */
export function bilinearTaps(inSize: number, outSize: number, alignedInput?: number): AxisTaps {
  const low = new Int32Array(outSize);
  const high = new Int32Array(outSize);
  const weight = new Float32Array(outSize);
  const [scale, shift] =
    alignedInput && alignedInput > 1
      ? [(alignedInput / outSize) * ((inSize - 1) / (alignedInput - 1)), (inSize - 1) / (alignedInput - 1)]
      : [inSize / outSize, 1];
  for (let i = 0; i < outSize; i++) {
    const src = Math.min(Math.max((i + 0.5) * scale - 0.5 * shift, 0), inSize - 1);
    const l = Math.floor(src);
    low[i] = l;
    high[i] = Math.min(l + 1, inSize - 1);
    weight[i] = src - l;
  }
  return { low, high, weight };
}

/** Cache of taps per (in, out) pair: frames of one stream share their geometry. */
const tapsCache = new Map<string, AxisTaps>();
export function cachedTaps(inSize: number, outSize: number, alignedInput?: number): AxisTaps {
  const key = `${inSize}>${outSize}${alignedInput ? `@${alignedInput}` : ''}`;
  let taps = tapsCache.get(key);
  if (!taps) {
    if (tapsCache.size > 64) tapsCache.clear();
    taps = bilinearTaps(inSize, outSize, alignedInput);
    tapsCache.set(key, taps);
  }
  return taps;
}
