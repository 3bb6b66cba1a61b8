/**
 * Label pruning: mean field runs only over the labels whose probability reaches a threshold
 * somewhere in the frame (DeepLab's 21 VOC labels are rarely all in play); the others keep Q = 0.
 */

/** The labels of an N×classes probability map whose peak reaches the threshold. */
export function activeLabels(probabilities: Float32Array, n: number, classes: number, threshold: number): number[] {
  const peak = new Float32Array(classes);
  for (let p = 0; p < n; p++)
    for (let c = 0; c < classes; c++)
      if (probabilities[p * classes + c]! > peak[c]!) peak[c] = probabilities[p * classes + c]!;
  return activeFromPeaks(peak, threshold);
}

/** The labels whose peak probability reaches the threshold (all of them when none does, or the threshold is 0). */
export function activeFromPeaks(peak: Float32Array, threshold: number): number[] {
  const active = [...peak.keys()].filter((c) => peak[c]! >= threshold || threshold <= 0);
  return active.length > 0 ? active : [...peak.keys()];
}
