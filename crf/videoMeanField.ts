/**
 * The dense CRF for one video stream, incremental: the bilateral lattice, Q, and the splat of Q
 * through each kernel's lattice are kept from frame to frame, and a warm frame recomputes only the
 * pixels that need it.
 *
 *   cold frame (first, scene cut, new labels, size change): build both lattices, mean field over all
 *     pixels, keep S_k = splat_k(Q) — the lattice values before the blur;
 *   warm frame: active pixels A = probabilities moved (total variation > tv since last computed)
 *     where that moves Q (the scores now favour another label, or one step with the neighbours'
 *     messages held would move Q by more than tv: fresh score noise on a sure pixel does not)
 *     ∪ colour moved (from the colour it was embedded with, by more than σβ or NOISE_Z × the
 *     camera's noise, see frameDifferenceSigma: re-embedded in the lattice, its old splat taken
 *     out of S_k and put back at the new corners) ∪ Q unsure (< sure);
 *     then per iteration: blur S_k, slice + update for A only, S_k += splat_k(Q_new − Q_old) over
 *     A. Every other pixel keeps its Q and label, and its part of S_k stays valid, so it still sends
 *     its messages to A.
 *
 * The cost of a warm iteration is the blur (proportional to the lattice, not the image) plus |A|
 * pixels; a cold one is N pixels. Frozen pixels are the approximation: they ignore changes of the
 * probabilities below `tv` (on purpose: that is the network's frame-to-frame noise) and changes of
 * their messages caused by what moved elsewhere, and colours within σβ of the embedded one keep
 * their place in the lattice. Vertices whose points all moved away stay in the lattice (empty);
 * when the lattice has grown by half, it is rebuilt from the current colours (Q is kept: no cold frame).
 */
import { activeFromPeaks } from './labelPruning.js';
import { OP } from './meanFieldControl.js';
import type { WarmStartSettings } from './crfProtocol.js';
import { frameDifferenceSigma, NOISE_FADE, NOISE_Z } from './cameraNoise.js';
import type { CrfExports } from './latticeExports.js';
import { type KeptState, type VideoKernel, VideoLattice } from './videoLattice.js';
import { KERNEL_BYTES } from './wasmModule.js';

export interface VideoCrfResult {
  readonly labels: Uint8Array;
  /** N×classes marginals when asked for. */
  readonly q: Float32Array | null;
  readonly activeLabels: readonly number[];
  readonly warm: boolean;
  readonly iterations: number;
  /** Pixels recomputed (all of them on a cold frame). */
  readonly activePixels: number;
  /** Pixels whose colour moved and were re-embedded in the lattice (warm frames). */
  readonly movedPixels: number;
  readonly setupMs: number;
  readonly inferenceMs: number;
}

/** Frames whose active pixels exceed this share run cold: the dense loop is cheaper per pixel. */
const MAX_ACTIVE_SHARE = 0.5;
/**
 * A label left out on a cold frame (its peak below the pruning threshold, as a one-image CRF prunes)
 * comes into play — a cold frame — only when it passes this multiple of the threshold: one hovering
 * around the threshold does not make every other frame cold. Taking labels in below the threshold
 * instead would keep nearly every label of a real DeepLab in play and widen every warm frame's rows;
 * a label below 10× the threshold everywhere is nowhere near winning a pixel.
 */
const ARRIVAL_MARGIN = 10;
/** Fewer active pixels than this stay on one thread (a hand-over costs more than half of them). */
const MIN_SPLIT = 2048;
/** Warm frames between fresh splats of Q (the kept ones are updated by differences in between). */
const REFRESH_EVERY = 30;

export class VideoMeanField extends VideoLattice {
  private warmFrames = 0;

  /** The next frame starts cold (a stream restarted, or the CRF was switched back on). */
  restart(): void {
    this.state = null;
    this.noise = 0;
  }

  /** One frame: image rgb24 and probabilities N×classes (HWC), at the size this engine was made for. */
  frame(
    image: Uint8Array,
    probabilities: Float32Array,
    classes: number,
    settings: WarmStartSettings,
    wantQ = false,
  ): VideoCrfResult {
    const started = performance.now();
    const state = this.state;
    if (state && state.classes === classes) {
      const warm = this.warmFrame(state, image, probabilities, settings);
      // this.state: the warm frame may have grown the label set.
      if (warm !== null)
        return this.finish(this.state!, warm.active, warm.moved, true, settings.iterations, wantQ, 0, started);
    }
    const cold = this.coldFrame(image, probabilities, classes);
    return this.finish(cold.state, this.points, 0, false, this.params.iterations, wantQ, cold.setupMs, started);
  }

  private finish(
    state: KeptState,
    activePixels: number,
    movedPixels: number,
    warm: boolean,
    iterations: number,
    wantQ: boolean,
    setupMs: number,
    started: number,
  ): VideoCrfResult {
    const n = this.points;
    const labels = new Uint8Array(this.memory.buffer, state.labels, n).slice();
    let q: Float32Array | null = null;
    if (wantQ) {
      const mark = this.top;
      const full = this.alloc(n * state.classes * 4);
      const scratchLabels = this.alloc(n);
      this.exports.expand(n, state.m, state.stride, state.q, state.classes, state.activeIndex, full, scratchLabels);
      q = this.f32(full, n * state.classes).slice();
      this.top = mark;
    }
    return {
      labels,
      q,
      activeLabels: state.active,
      warm,
      iterations,
      activePixels,
      movedPixels,
      setupMs,
      inferenceMs: performance.now() - started - setupMs,
    };
  }

  /** Builds everything from this frame and runs the full mean field over all pixels. */
  private coldFrame(
    image: Uint8Array,
    probabilities: Float32Array,
    classes: number,
  ): { state: KeptState; setupMs: number } {
    const started = performance.now();
    const n = this.points;
    this.top = this.base;
    this.state = null;
    this.growths = 0;
    const probabilitiesAt = this.alloc(n * classes * 4 + 16); // + 16: prepare reads whole vectors
    this.f32(probabilitiesAt, n * classes).set(probabilities);
    const peak = this.alloc(classes * 4);
    this.exports.peaks(n, classes, probabilitiesAt, peak);
    // The labels a one-image CRF runs (for those that come into play later, see ARRIVAL_MARGIN).
    const active = activeFromPeaks(this.f32(peak, classes), this.params.pruneBelow);
    const m = active.length;
    const stride = (m + 3) & ~3;
    const activeIndex = this.alloc(m * 4);
    new Int32Array(this.memory.buffer, activeIndex, m).set(active);
    const limits = this.alloc(((classes + 3) & ~3) * 4);
    const threshold = this.params.pruneBelow > 0 ? this.params.pruneBelow * ARRIVAL_MARGIN : Infinity;
    this.f32(limits, (classes + 3) & ~3).set(
      Array.from({ length: (classes + 3) & ~3 }, (_, c) => (active.includes(c) || c >= classes ? Infinity : threshold)),
    );
    const imageAt = this.alloc(n * 3);
    new Uint8Array(this.memory.buffer, imageAt, n * 3).set(image);
    const colours = this.alloc(n * 3);
    new Uint8Array(this.memory.buffer, colours, n * 3).set(image);
    const reference = this.alloc(n * classes * 4);
    this.f32(reference, n * classes).set(probabilities);
    const all = this.alloc(n * 4);
    const allList = new Int32Array(this.memory.buffer, all, n);
    for (let p = 0; p < n; p++) allList[p] = p;
    const onesRow = this.alloc(16);
    this.f32(onesRow, 4).set([1, 0, 0, 0]);
    const scratch = this.alloc(1024);
    const { gaussian, bilateral } = this.params;
    const kernels: VideoKernel[] = [];
    if (gaussian.weight !== 0)
      kernels.push(this.buildKernel({ xy: gaussian.xy, image: 0, rgb: 1 }, gaussian.weight, stride));
    if (bilateral.weight !== 0)
      kernels.push(
        this.buildKernel({ xy: bilateral.xy, image: imageAt, rgb: bilateral.rgb }, bilateral.weight, stride),
      );
    const state: KeptState = {
      classes,
      active,
      m,
      stride,
      kernels,
      activeIndex,
      limits,
      probabilities: probabilitiesAt,
      reference,
      image: imageAt,
      colours,
      q: this.alloc(n * stride * 4),
      next: this.alloc(n * stride * 4),
      unary: this.alloc(n * stride * 4),
      labels: this.alloc(n),
      top: this.alloc(n * 4),
      activeList: this.alloc(n * 4),
      allList: all,
      movedList: this.alloc(n * 4),
      counts: this.alloc(16),
      helperLists: this.helper
        ? { active: this.alloc((n - (n >> 1)) * 4), moved: this.alloc((n - (n >> 1)) * 4), counts: this.alloc(16) }
        : null,
      describe: this.alloc(2 * KERNEL_BYTES),
      onesRow,
      scratch,
    };
    for (const kernel of kernels) this.normalise(state, kernel, n, true);
    const setupMs = performance.now() - started;
    this.exports.prepare(n, classes, activeIndex, m, stride, probabilitiesAt, 0, state.unary, state.q);
    for (let it = 0; it < this.params.iterations; it++) {
      for (const kernel of kernels) this.splatAll(state, kernel);
      this.update(state, n, 0);
      [state.q, state.next] = [state.next, state.q]; // the new Q becomes the current one
    }
    for (const kernel of kernels) this.splatAll(state, kernel); // kept for the next frame
    this.exports.labelsListed(state.allList, n, m, stride, state.q, activeIndex, state.labels, state.top);
    this.state = state;
    return { state, setupMs };
  }

  /** Blurs each kernel's kept splat and runs slice + update for `count` pixels (the active list, or all when `list` is 0) into `next`. */
  private update(state: KeptState, count: number, list: number): void {
    const kernels = state.kernels.map((kernel) => ({
      lattice: kernel,
      blurred: this.blurLattice(kernel, state.stride, kernel.kept, kernel.a, kernel.b),
      scale: kernel.scale,
      weight: kernel.weight,
    }));
    this.sliceUpdate(kernels, state.describe, count, list, state.m, state.stride, state.unary, state.next, MIN_SPLIT);
  }

  /** Q_old → Q_new (next) for the listed pixels, and every kept splat brought up to date. */
  private commit(state: KeptState, count: number): void {
    const [ka, kb] = [state.kernels[0], state.kernels[1]];
    const none = { d: -1, offsets: 0, weights: 0, kept: 0 };
    const [a, b] = [ka ?? none, kb ?? none];
    this.exports.splatChange(
      state.activeList,
      count,
      a.d + 1,
      a.offsets,
      a.weights,
      a.kept,
      b.d + 1,
      b.offsets,
      b.weights,
      b.kept,
      state.stride,
      state.q,
      state.next,
    );
  }

  /** Returns the pixels recomputed and re-embedded, or null when this frame must start cold. */
  private warmFrame(
    state: KeptState,
    image: Uint8Array,
    probabilities: Float32Array,
    settings: WarmStartSettings,
  ): { active: number; moved: number } | null {
    const n = this.points;
    const { classes } = state;
    const memory = this.memory.buffer;
    this.f32(state.probabilities, n * classes).set(probabilities);
    const previous = new Uint8Array(memory, state.image, n * 3);
    // The camera's noise is the stream's, not the frame's: the level seen lately holds (a compressed
    // stream's frames differ less where the codec copied more blocks); coding noise counts up to σβ.
    this.noise = Math.max(frameDifferenceSigma(previous, image, this.params.bilateral.rgb), this.noise * NOISE_FADE);
    const rgb = settings.rgb ?? Math.max(Math.round(this.params.bilateral.rgb), Math.ceil(NOISE_Z * this.noise));
    previous.set(image);
    let { count, moved, meanTv, arrived } = this.select(state, { ...settings, rgb });
    if (arrived && meanTv <= settings.sceneCut) {
      // Labels newly in play join the warm state (Q laid out again over them); the pixels where they
      // matter are selected with them in play.
      const grown = this.growLabels(state, this.arrivedLabels(state));
      if (!grown) return null;
      state = grown;
      ({ count, moved, meanTv, arrived } = this.select(state, { ...settings, rgb }));
    }
    if (arrived || meanTv > settings.sceneCut || count > n * MAX_ACTIVE_SHARE) return null;
    const { m, stride } = state;
    const lattice = state.kernels.find((k) => k.table);
    if (lattice && moved > 0 && !this.movePixels(state, lattice, moved)) {
      // Too many vertices left empty by moved pixels: the lattice is rebuilt from this image (not a cold frame: Q is kept).
      if (!this.rebuildLattice(state, lattice)) return null;
    } else if (lattice) this.normalise(state, lattice, count, false); // where it is needed now (the lattice may have changed)
    // Start: unary and blended Q for the active pixels, into the kept splats.
    const { activeList, activeIndex, reference, q, unary, next } = state;
    const h = count >> 1;
    const prepare = (from: number, to: number) => [
      from,
      to,
      activeList,
      classes,
      activeIndex,
      m,
      stride,
      state.probabilities,
      reference,
      q,
      unary,
      next,
    ];
    if (this.helper && count >= MIN_SPLIT)
      this.both(OP.prepareListed, prepare(h, count), () =>
        this.exports.prepareListed(...(prepare(0, h) as Parameters<CrfExports['prepareListed']>)),
      );
    else
      this.exports.prepareListed(
        0,
        count,
        activeList,
        classes,
        activeIndex,
        m,
        stride,
        state.probabilities,
        reference,
        q,
        unary,
        next,
      );
    this.exports.remember(activeList, count, classes, state.probabilities, reference, 0, 0);
    this.commit(state, count);
    for (let it = 0; it < settings.iterations; it++) {
      this.update(state, count, activeList);
      this.commit(state, count);
    }
    // The kept splats gather float rounding frame after frame: made afresh now and then (a few ms).
    if (++this.warmFrames % REFRESH_EVERY === 0) for (const kernel of state.kernels) this.splatAll(state, kernel);
    this.exports.labelsListed(activeList, count, m, stride, q, activeIndex, state.labels, state.top);
    return { active: count, moved };
  }

  /** The active and moved lists of a warm frame (selectActive over both halves of the image, on two threads). */
  private select(
    state: KeptState,
    settings: WarmStartSettings,
  ): { count: number; moved: number; meanTv: number; arrived: boolean } {
    const n = this.points;
    const args = (first: number, last: number, lists: { active: number; moved: number; counts: number }) =>
      [
        first,
        last,
        state.classes,
        state.probabilities,
        state.reference,
        state.limits,
        state.image,
        state.colours,
        state.top,
        settings.tv ?? 0.1,
        settings.rgb ?? Math.round(this.params.bilateral.rgb),
        settings.sure ?? 0.9,
        lists.active,
        lists.moved,
        lists.counts,
        state.q,
        state.activeIndex,
        state.m,
        state.stride,
      ] as Parameters<CrfExports['selectActive']>;
    const ours = { active: state.activeList, moved: state.movedList, counts: state.counts };
    const words = (at: number) => {
      const [moved, , arrived] = new Int32Array(this.memory.buffer, at, 3);
      return { moved: moved!, tv: new Float32Array(this.memory.buffer, at + 4, 1)[0]!, arrived: arrived === 1 };
    };
    const theirs = state.helperLists;
    if (!theirs) {
      const count = this.exports.selectActive(...args(0, n, ours));
      const { moved, tv, arrived } = words(state.counts);
      return { count, moved, meanTv: tv / n, arrived };
    }
    const h = n >> 1;
    let count = 0;
    this.both(
      OP.selectActive,
      args(h, n, theirs),
      () => {
        count = this.exports.selectActive(...args(0, h, ours));
      },
      [9, 11],
    );
    const [a, b] = [words(state.counts), words(theirs.counts)];
    const extra = this.helperResult();
    // The helper's lists follow ours (both in pixel order).
    const bytes = new Uint8Array(this.memory.buffer);
    bytes.copyWithin(state.activeList + count * 4, theirs.active, theirs.active + extra * 4);
    bytes.copyWithin(state.movedList + a.moved * 4, theirs.moved, theirs.moved + b.moved * 4);
    return {
      count: count + extra,
      moved: a.moved + b.moved,
      meanTv: (a.tv + b.tv) / n,
      arrived: a.arrived || b.arrived,
    };
  }
}
