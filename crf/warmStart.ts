/**
 * Temporal warm start for video: each frame's mean field starts from the previous frame's Q where
 * the network's probabilities held still, and runs fewer iterations; a scene cut starts cold.
 * The state lives where the CRF runs (the CRF worker), per stream, at the CRF's resolution.
 */

import type { WarmStartSettings } from './crfProtocol.js';
import type { VideoMeanField } from './videoMeanField.js';

/**
 * One stream's memory of its previous frame, at the CRF's resolution: its incremental engine
 * (videoMeanField.ts) where WebAssembly runs the CRF, else Q and probabilities for a warm start.
 */
export interface WarmStartState {
  previous: { readonly q: Float32Array; readonly probabilities: Float32Array } | null;
  video?: { readonly key: string; readonly engine: VideoMeanField };
}

/** The next frame of this stream starts cold (a restart, or the CRF switched back on). */
export function restartStream(state: WarmStartState): void {
  state.previous = null;
  state.video?.engine.restart();
}

/**
 * Where a pixel's probabilities did not change, its previous Q (already converged) is the best
 * start; where they did — something moved — only the new probabilities are. Per pixel:
 *   Q0 = w·Q_prev + (1 − w)·p,  w = exp(−TV(p_prev, p) / 0.1)
 */
export function warmStartQ(
  previousQ: Float32Array,
  previousP: Float32Array,
  p: Float32Array,
  classes: number,
): Float32Array {
  const q0 = new Float32Array(p.length);
  for (let i = 0; i < p.length; i += classes) {
    let tv = 0;
    for (let c = 0; c < classes; c++) tv += Math.abs(p[i + c]! - previousP[i + c]!);
    const w = Math.exp(-tv / 2 / 0.1);
    for (let c = 0; c < classes; c++) q0[i + c] = w * previousQ[i + c]! + (1 - w) * p[i + c]!;
  }
  return q0;
}

/** Mean over pixels of ½ Σ_c |a − b|: 0 for equal maps, 1 for disjoint ones. */
export function meanTotalVariation(a: Float32Array, b: Float32Array, classes: number): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / 2 / (a.length / classes);
}

/** The starting Q for this frame, or null when it must start cold (first frame, new size, scene cut). */
export function warmStartFor(
  state: WarmStartState,
  probabilities: Float32Array,
  classes: number,
  settings: WarmStartSettings,
): Float32Array | null {
  const last = state.previous;
  if (!last || last.probabilities.length !== probabilities.length) return null;
  if (meanTotalVariation(last.probabilities, probabilities, classes) > settings.sceneCut) return null;
  return warmStartQ(last.q, last.probabilities, probabilities, classes);
}
