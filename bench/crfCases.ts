/**
 * DeepLab-like CRF inputs: an image of textured regions, and scores that look like a stride-8
 * network's — one-hot ground truth averaged over 8×8 blocks, noised, upsampled bilinearly, softmax.
 */
import { seededRandom } from '../model/onnxGraph.js';
import { cachedTaps } from '../core/bilinearTaps.js';

export interface CrfCase {
  readonly width: number;
  readonly height: number;
  readonly classes: number;
  readonly image: Uint8Array;
  readonly truth: Uint8Array;
  readonly probabilities: Float32Array;
}

export function deeplabLikeCase(width: number, height: number, classes: number, seed = 1, regions = 12): CrfCase {
  const random = seededRandom(seed);
  // Regions: nearest of a few random centres (a Voronoi partition), each a label and a texture.
  const centres = Array.from({ length: regions }, () => ({
    x: random() * width,
    y: random() * height,
    label: Math.floor(random() * classes),
    colour: [random() * 255, random() * 255, random() * 255],
  }));
  const image = new Uint8Array(width * height * 3);
  const truth = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = 0;
      let bestD = Infinity;
      centres.forEach((c, i) => {
        const dd = (c.x - x) ** 2 + (c.y - y) ** 2;
        if (dd < bestD) {
          bestD = dd;
          best = i;
        }
      });
      const p = y * width + x;
      truth[p] = centres[best]!.label;
      const texture = 18 * Math.sin(x * 0.7 + best) * Math.cos(y * 0.5);
      for (let c = 0; c < 3; c++)
        image[p * 3 + c] = Math.max(
          0,
          Math.min(255, Math.round(centres[best]!.colour[c]! + texture + (random() - 0.5) * 20)),
        );
    }
  }
  const probabilities = stride8Scores(truth, width, height, classes, random);
  return { width, height, classes, image, truth, probabilities };
}

/** What a stride-8 network gives for a truth map: block averages of the one-hot truth, noised, upsampled bilinearly, softmax. */
export function stride8Scores(
  truth: Uint8Array,
  width: number,
  height: number,
  classes: number,
  random: () => number,
): Float32Array {
  const [bw, bh] = [Math.ceil(width / 8), Math.ceil(height / 8)];
  const coarse = new Float32Array(bw * bh * classes);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) coarse[((y >> 3) * bw + (x >> 3)) * classes + truth[y * width + x]!]! += 1 / 64;
  for (let i = 0; i < coarse.length; i++) coarse[i] = coarse[i]! * 6 + (random() - 0.5) * 3;
  const xs = cachedTaps(bw, width);
  const ys = cachedTaps(bh, height);
  const probabilities = new Float32Array(width * height * classes);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * classes;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) {
        const at = (yy: number, xx: number) => coarse[(yy * bw + xx) * classes + c]!;
        const fx = xs.weight[x]!;
        const fy = ys.weight[y]!;
        const v =
          (at(ys.low[y]!, xs.low[x]!) * (1 - fx) + at(ys.low[y]!, xs.high[x]!) * fx) * (1 - fy) +
          (at(ys.high[y]!, xs.low[x]!) * (1 - fx) + at(ys.high[y]!, xs.high[x]!) * fx) * fy;
        probabilities[p + c] = v;
        max = Math.max(max, v);
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += probabilities[p + c] = Math.exp(probabilities[p + c]! - max);
      for (let c = 0; c < classes; c++) probabilities[p + c]! /= sum;
    }
  }
  return probabilities;
}

/**
 * A video of moving shapes: the static textured scene of `deeplabLikeCase`, with a square of
 * another class moving `speed` pixels per frame; fresh score noise every frame, as a network's, and
 * with `pixelNoise` fresh Gaussian camera noise of that σ (levels) on every pixel of every frame.
 */
export function movingShapesSequence(
  width: number,
  height: number,
  classes: number,
  frames: number,
  speed = 4,
  pixelNoise = 0,
): CrfCase[] {
  const base = deeplabLikeCase(width, height, classes, 7, 10);
  const random = seededRandom(99);
  const noise = seededRandom(5);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - noise())) * Math.cos(2 * Math.PI * noise());
  const size = Math.round(height / 3);
  return Array.from({ length: frames }, (_, f) => {
    const image = base.image.slice();
    const truth = base.truth.slice();
    const left = (20 + f * speed) % Math.max(1, width - size);
    const top = Math.round(height / 3);
    for (let y = top; y < top + size; y++) {
      for (let x = left; x < left + size; x++) {
        const p = y * width + x;
        truth[p] = classes - 1;
        image.set([235, 210, 30], p * 3);
      }
    }
    if (pixelNoise > 0)
      for (let i = 0; i < image.length; i++)
        image[i] = Math.min(255, Math.max(0, Math.round(image[i]! + pixelNoise * gaussian())));
    return {
      width,
      height,
      classes,
      image,
      truth,
      probabilities: stride8Scores(truth, width, height, classes, random),
    };
  });
}

/**
 * The frames with wrong labels that flicker in, as a real DeepLab's output has: the `labels` are
 * nowhere likely (their probability moved to background), except for `lasting` frames out of every
 * `every`, when a disc of one of them (the next each time, radius `radius`, somewhere else each
 * time) wins with 0.85. The truth is unchanged.
 */
export function withTransientBlobs(
  frames: readonly CrfCase[],
  labels: readonly number[],
  every = 6,
  lasting = 2,
  radius = 20,
): CrfCase[] {
  return frames.map((frame, f) => {
    const { width, height, classes } = frame;
    const probabilities = frame.probabilities.slice();
    for (let p = 0; p < width * height; p++) {
      for (const label of labels) {
        probabilities[p * classes] = probabilities[p * classes]! + probabilities[p * classes + label]!;
        probabilities[p * classes + label] = 0;
      }
    }
    if (f % every >= every - lasting) {
      const episode = Math.floor(f / every);
      const label = labels[episode % labels.length]!;
      const [cx, cy] = [
        ((episode * 197) % (width - 2 * radius)) + radius,
        ((episode * 89) % (height - 2 * radius)) + radius,
      ];
      for (let y = cy - radius; y <= cy + radius; y++) {
        for (let x = cx - radius; x <= cx + radius; x++) {
          if ((x - cx) ** 2 + (y - cy) ** 2 > radius ** 2) continue;
          const p = y * width + x;
          for (let c = 0; c < classes; c++) probabilities[p * classes + c] = probabilities[p * classes + c]! * 0.15;
          probabilities[p * classes + label] = 0.85;
        }
      }
    }
    return { ...frame, probabilities };
  });
}
