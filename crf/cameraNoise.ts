/**
 * Camera noise told from motion, for the video CRF's colour test (videoMeanField.ts): a still
 * pixel's colour differs from the one it was embedded with by two noisy samples' difference, and
 * must not be re-embedded for that; a pixel whose colour moved by more than the noise must be.
 */

/**
 * A still pixel is taken for moved when any of its three channels differs from the embedded colour
 * by more than NOISE_Z noise σ: at 3.2 a still pixel passes on one channel at a Gaussian's 3σ, and
 * over three channels few enough still pixels are re-embedded that true movers dominate.
 */
export const NOISE_Z = 3.2;
/**
 * How fast the noise level held for the colour test fades, per frame: a compressed stream's
 * per-frame estimate swings with the codec's frame types, and the level held across them saves
 * lattice rebuilds without changing the labels.
 */
export const NOISE_FADE = 0.9;
/**
 * The least share of samples that changed for a mostly-equal frame to be read as a compressed
 * stream's (its noise read from the changed samples): a codec copies blocks it did not code, and
 * those say nothing of the noise in the blocks it coded.
 */
const CODED_SHARE = 0.15;

/**
 * The spread of a frame-to-frame difference that is camera noise, not motion: 1.4826 × the median
 * absolute difference (a Gaussian's σ from its median; moving pixels are a minority and do not move
 * the median), over every 7th channel value, the median read between whole levels — over the
 * samples that changed where a codec left most of them equal (then ~13% high for a Gaussian), as
 * long as that reads at most `codedAtMost`: more, and what changed is content (something moved or
 * was recoloured over a still, noise-free picture), not noise — 0 then. A still pixel's colour
 * differs from the one it was embedded with by a difference of two noisy samples, within NOISE_Z of
 * these nearly always.
 */
export function frameDifferenceSigma(previous: Uint8Array, next: Uint8Array, codedAtMost = Infinity): number {
  const histogram = new Uint32Array(256);
  let samples = 0;
  for (let i = 0; i < next.length; i += 7) {
    histogram[Math.abs(next[i]! - previous[i]!)]! += 1;
    samples += 1;
  }
  // Half or more of the samples equal: a codec copied those blocks, and they say nothing of the
  // noise in the blocks it coded. Read the noise from the samples that changed, where they are a
  // real share of the frame (a still, noise-free picture with something moving stays at 0).
  const copied = histogram[0]! * 2 >= samples && samples - histogram[0]! >= samples * CODED_SHARE;
  if (copied) {
    samples -= histogram[0]!;
    histogram[0] = 0;
  }
  let seen = 0;
  for (let d = 0; d < 256; d++) {
    const here = histogram[d]!;
    if ((seen + here) * 2 >= samples) {
      if (d === 0) return 0; // most samples equal: no noise to speak of
      // Differences are whole levels: d stands for [d − ½, d + ½), and the median lies inside that
      // bin in proportion (an integer median reads σ 1.5 and σ 2.9 alike).
      const sigma = 1.4826 * (d - 0.5 + (samples / 2 - seen) / here);
      return copied && sigma > codedAtMost ? 0 : sigma;
    }
    seen += here;
  }
  return 0;
}
