/**
 * The CRF at reduced resolution: image, probabilities (and a warm-start Q) resized by `scale`,
 * spatial σ scaled with them so the kernels cover the same part of the picture, mean field at the
 * small size, Q upsampled bilinearly to full size and argmaxed there. Four times fewer pixels at
 * scale 0.5; the labels follow the full-size edges only as far as bilinear Q allows.
 */
import { cachedTaps } from '../core/bilinearTaps.js';
import { DenseCrf } from './denseCrf.js';
import { type CrfParams } from './crfParams.js';
import type { CrfWorkspace } from './crfWorkspace.js';
import { VideoMeanField } from './videoMeanField.js';
import { probabilityArray, type ProbabilitySource } from './probabilities.js';
import { videoModuleFor } from './engines.js';
import type { WarmStartSettings } from './crfProtocol.js';
import { type WarmStartState, warmStartFor } from './warmStart.js';

/** Bilinear (half-pixel) resize of interleaved values: W×H×C → outW×outH×C. */
export function resizeInterleaved(
  values: ArrayLike<number>,
  channels: number,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Float32Array {
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const out = new Float32Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    const r0 = ys.low[y]! * width;
    const r1 = ys.high[y]! * width;
    const fy = ys.weight[y]!;
    for (let x = 0; x < outWidth; x++) {
      const fx = xs.weight[x]!;
      const a = (r0 + xs.low[x]!) * channels;
      const b = (r0 + xs.high[x]!) * channels;
      const c = (r1 + xs.low[x]!) * channels;
      const d = (r1 + xs.high[x]!) * channels;
      const o = (y * outWidth + x) * channels;
      for (let k = 0; k < channels; k++) {
        const top = values[a + k]! + (values[b + k]! - values[a + k]!) * fx;
        const bottom = values[c + k]! + (values[d + k]! - values[c + k]!) * fx;
        out[o + k] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

/** Bilinear resize of an rgb24 image, rounded to bytes. */
export function resizeImage(
  image: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const resized = resizeInterleaved(image, 3, width, height, outWidth, outHeight);
  const out = new Uint8Array(resized.length);
  for (let i = 0; i < resized.length; i++) out[i] = resized[i]! + 0.5; // Uint8Array truncates: +0.5 rounds
  return out;
}

export interface CrfRun {
  /** Full-size marginals; null with `labelsOnly` at a reduced scale. */
  readonly q: Float32Array | null;
  readonly labels: Uint8Array;
  readonly activeLabels: readonly number[];
  readonly setupMs: number;
  readonly inferenceMs: number;
  /** Iterations run (fewer when warm-started). */
  readonly iterations: number;
  readonly warm: boolean;
  /** Pixels the mean field recomputed, of `points` (the pixels at the CRF's scale): all of them unless warm. */
  readonly activePixels: number;
  readonly points: number;
}

export interface RunCrfOptions {
  /** Video: decide warm or cold against the stream's previous frame, and remember this one. */
  readonly warmStart?: { readonly settings: WarmStartSettings; readonly state: WarmStartState };
  /** Keep lattices and memory between calls (a worker's frames). */
  readonly workspace?: CrfWorkspace;
  /** Only the labels are wanted: at a reduced scale, skip making the full-size Q. */
  readonly labelsOnly?: boolean;
}

/** The size the CRF runs at for a frame of this size at this scale (the probabilities it wants). */
export function crfSize(width: number, height: number, scale: number): [width: number, height: number] {
  return scale > 0 && scale < 1
    ? [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))]
    : [width, height];
}

/**
 * The CRF on one image at `params.scale` of its size: everything but the final Q and labels happens
 * at that size — including the warm start's blend and scene-cut test.
 */
export function runCrf(
  image: Uint8Array,
  width: number,
  height: number,
  source: ProbabilitySource,
  classes: number,
  params: CrfParams,
  options: RunCrfOptions = {},
): CrfRun {
  const started = performance.now();
  const scale = params.scale > 0 && params.scale < 1 ? params.scale : 1;
  const [sw, sh] = crfSize(width, height, scale);
  // A file of probabilities goes to the engine as it is where that is all the engine needs (one
  // image at full size): the worker reads it straight into the CRF's memory.
  if (!(source instanceof Float32Array) && scale === 1 && !options.warmStart) return oneImage(image, source, params);
  const probabilities = probabilityArray(source, width * height, classes);
  const smallImage = scale < 1 ? resizeImage(image, width, height, sw, sh) : image;
  // Probabilities come at the CRF's size (inferBatches makes them so) or at the frame's.
  const atCrfSize = probabilities.length === sw * sh * classes;
  if (!atCrfSize && probabilities.length !== width * height * classes)
    throw new RangeError(
      `probabilities of ${probabilities.length} values fit neither ${width}x${height} nor ${sw}x${sh} with ${classes} classes`,
    );
  const smallP = atCrfSize ? probabilities : resizeInterleaved(probabilities, classes, width, height, sw, sh);
  const smallParams: CrfParams =
    scale < 1
      ? {
          ...params,
          bilateral: { ...params.bilateral, xy: params.bilateral.xy * scale },
          gaussian: { ...params.gaussian, xy: params.gaussian.xy * scale },
        }
      : params;
  if (options.warmStart) {
    const engine = videoEngineFor(options.warmStart.state, sw, sh, smallParams, options.workspace?.threads ?? 1);
    if (engine) {
      // Incremental: the stream's lattice, Q and splats are kept; warm frames recompute what changed.
      const frame = engine.frame(
        smallImage,
        smallP,
        classes,
        options.warmStart.settings,
        scale < 1 || !options.labelsOnly,
      );
      const iterations = frame.warm ? options.warmStart.settings.iterations : params.iterations;
      return finish(
        { q: frame.q!, labels: frame.labels, activeLabels: frame.activeLabels },
        {
          activeLabels: frame.activeLabels,
          setupMs: frame.setupMs,
          iterations,
          warm: frame.warm,
          activePixels: frame.activePixels,
          points: sw * sh,
        },
      );
    }
  }
  return oneImage(smallImage, smallP, smallParams);

  /**
   * The CRF at its size: cold, or without the incremental engine from the previous frame's
   * blended Q (arrays only: a warm start never gets a file).
   */
  function oneImage(smallImage: Uint8Array, smallP: ProbabilitySource, smallParams: CrfParams): CrfRun {
    const previous = options.warmStart && smallP instanceof Float32Array ? options.warmStart : null;
    const warm = previous ? warmStartFor(previous.state, smallP as Float32Array, classes, previous.settings) : null;
    const iterations = warm ? previous!.settings.iterations : params.iterations;
    const crf = DenseCrf.forImage(smallImage, sw, sh, smallParams, options.workspace);
    // Labels alone at full size need no marginals out of the engine (the warm start keeps them).
    const wantQ = scale < 1 || !options.labelsOnly || options.warmStart !== undefined;
    const small = wantQ
      ? crf.infer(smallP, classes, { iterations, ...(warm ? { initialQ: warm } : {}) })
      : { ...crf.labels(smallP, classes, { iterations }), q: null };
    if (previous && small.q)
      previous.state.previous = {
        q: small.q,
        probabilities: smallP === source ? (smallP as Float32Array).slice() : (smallP as Float32Array),
      };
    return finish(small, {
      activeLabels: small.activeLabels,
      setupMs: crf.setupMs,
      iterations,
      warm: Boolean(warm),
      activePixels: sw * sh,
      points: sw * sh,
    });
  }

  /** The small result brought to full size: as it is at scale 1, else labels (and Q) upsampled. */
  function finish(
    small: { readonly q: Float32Array | null; readonly labels: Uint8Array; readonly activeLabels: readonly number[] },
    common: Omit<CrfRun, 'q' | 'labels' | 'inferenceMs'>,
  ): CrfRun {
    const inferenceMs = performance.now() - started - common.setupMs;
    if (scale === 1) return { ...common, q: small.q, labels: small.labels, inferenceMs };
    if (options.labelsOnly)
      return { ...common, q: null, labels: upsampledArgmax(small.q!, classes, sw, sh, width, height), inferenceMs };
    const q = resizeInterleaved(small.q!, classes, sw, sh, width, height);
    const labels = new Uint8Array(width * height);
    for (let p = 0; p < labels.length; p++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (q[p * classes + c]! > q[p * classes + best]!) best = c;
      labels[p] = best;
    }
    return { ...common, q, labels, inferenceMs };
  }
}

/**
 * The stream's incremental engine for this size and these parameters (made, or remade when they
 * change), or null where the WebAssembly module is not built or the normalisation is not DeepLab's.
 */
function videoEngineFor(
  state: WarmStartState,
  width: number,
  height: number,
  params: CrfParams,
  threads: number,
): VideoMeanField | null {
  const module = videoModuleFor(params);
  if (!module) return null;
  const key = `${width}x${height}:${JSON.stringify(params)}:${threads}`;
  if (state.video?.key !== key) {
    state.video?.engine.dispose();
    state.video = { key, engine: new VideoMeanField(module, width, height, params, { threads }) };
  }
  return state.video.engine;
}

/**
 * argmax of bilinearly upsampled Q, without keeping the full-size Q (labels are all live video
 * needs). Where the four source pixels share their argmax k, the interpolated argmax is k too
 * (Q(k) − Q(j) is a sum of non-negative terms), so only pixels on a label boundary interpolate.
 */
function upsampledArgmax(
  q: Float32Array,
  classes: number,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const smallLabels = new Uint8Array(width * height);
  for (let p = 0; p < smallLabels.length; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (q[p * classes + c]! > q[p * classes + best]!) best = c;
    smallLabels[p] = best;
  }
  const labels = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const r0 = ys.low[y]! * width;
    const r1 = ys.high[y]! * width;
    const fy = ys.weight[y]!;
    for (let x = 0; x < outWidth; x++) {
      const [a, b, c, d] = [r0 + xs.low[x]!, r0 + xs.high[x]!, r1 + xs.low[x]!, r1 + xs.high[x]!];
      const k = smallLabels[a]!;
      if (smallLabels[b] === k && smallLabels[c] === k && smallLabels[d] === k) {
        labels[y * outWidth + x] = k;
        continue;
      }
      const fx = xs.weight[x]!;
      const [wa, wb, wc, wd] = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy];
      let best = 0;
      let bestValue = -Infinity;
      for (let j = 0; j < classes; j++) {
        const value =
          wa * q[a * classes + j]! + wb * q[b * classes + j]! + wc * q[c * classes + j]! + wd * q[d * classes + j]!;
        if (value > bestValue) {
          bestValue = value;
          best = j;
        }
      }
      labels[y * outWidth + x] = best;
    }
  }
  return labels;
}
