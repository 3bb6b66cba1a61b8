import { afterEach, describe, expect, it } from 'vitest';
import { type CrfCase, deeplabLikeCase, movingShapesSequence } from '../../bench/crfCases.js';
import { DenseCrf } from '../../crf/denseCrf.js';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { frameDifferenceSigma } from '../../crf/cameraNoise.js';
import { VideoMeanField } from '../../crf/videoMeanField.js';
import { seededRandom } from '../../model/onnxGraph.js';
import { latticeModule } from '../../crf/wasmModule.js';

const engines: VideoMeanField[] = [];
afterEach(() => {
  for (const engine of engines.splice(0)) engine.dispose();
});

function engineFor(width: number, height: number, threads = 1): VideoMeanField {
  const module = latticeModule();
  expect(module).not.toBeNull(); // `npm run build` compiles it
  const engine = new VideoMeanField(module!, width, height, DEEPLAB_VOC_PARAMS, { threads });
  engines.push(engine);
  return engine;
}

const settings = { iterations: 2, sceneCut: 0.3 };
const cold = (c: CrfCase) => DenseCrf.forImage(c.image, c.width, c.height).infer(c.probabilities, c.classes);
const agreement = (a: Uint8Array, b: Uint8Array, where: (p: number) => boolean = () => true) => {
  let [same, all] = [0, 0];
  for (let p = 0; p < a.length; p++) {
    if (!where(p)) continue;
    all += 1;
    if (a[p] === b[p]) same += 1;
  }
  return same / all;
};

describe('VideoMeanField (incremental CRF for a video stream)', () => {
  it.each([1, 2])("gives the dense CRF's labels and marginals on a cold frame (%i threads)", (threads) => {
    const [w, h] = threads === 1 ? [96, 64] : [320, 240]; // two threads from 65,536 pixels
    const scene = deeplabLikeCase(w, h, 5, 3);
    const engine = engineFor(w, h, threads);
    expect(engine.threads).toBe(threads);
    const result = engine.frame(scene.image, scene.probabilities, 5, settings, true);
    const reference = cold(scene);
    expect(result).toMatchObject({ warm: false, activePixels: w * h, iterations: 10 });
    expect(agreement(result.labels, reference.labels)).toBeGreaterThan(0.9999);
    let worst = 0;
    for (let i = 0; i < reference.q.length; i++) worst = Math.max(worst, Math.abs(result.q![i]! - reference.q[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  it('recomputes only what changed on warm frames, re-embeds moved colours, and agrees with cold runs where the shape moved', () => {
    const [w, h, classes] = [160, 120, 4];
    const frames = movingShapesSequence(w, h, classes, 8, 5);
    const engine = engineFor(w, h);
    for (const [f, frame] of frames.entries()) {
      const result = engine.frame(frame.image, frame.probabilities, classes, settings);
      const reference = cold(frame);
      if (f === 0) {
        expect(result.warm).toBe(false);
        continue;
      }
      expect(result.warm).toBe(true);
      expect(result.iterations).toBe(2);
      expect(result.activePixels).toBeLessThan(w * h * 0.3);
      expect(result.movedPixels).toBeGreaterThan(0); // the square's leading and trailing edges
      expect(engine.keptSplatError()).toBeLessThan(1e-4);
      expect(agreement(result.labels, reference.labels)).toBeGreaterThan(0.99);
      // Where the truth changed since the last frame (the edges that moved): the labels follow.
      const previous = frames[f - 1]!.truth;
      expect(agreement(result.labels, reference.labels, (p) => frame.truth[p] !== previous[p])).toBeGreaterThan(0.98);
    }
  });

  it.each([1, 2])(
    'rebuilds the lattice (keeping Q, no cold frame) when moved colours have grown it by half, and still agrees with cold runs (%i threads)',
    (threads) => {
      const [w, h, classes] = threads === 1 ? [160, 120, 4] : [320, 240, 4];
      const frames = movingShapesSequence(w, h, classes, 10, 5);
      const random = seededRandom(5);
      // The square gets new random colours every frame: its pixels keep creating lattice vertices.
      for (const frame of frames) {
        for (let p = 0; p < w * h; p++)
          if (frame.truth[p] === classes - 1) frame.image.set([random() * 256, random() * 256, random() * 256], p * 3);
      }
      const engine = engineFor(w, h, threads);
      expect(engine.threads).toBe(threads);
      for (const [f, frame] of frames.entries()) {
        const result = engine.frame(frame.image, frame.probabilities, classes, settings);
        expect(result.warm).toBe(f > 0);
        expect(agreement(result.labels, cold(frame).labels)).toBeGreaterThan(0.99);
        expect(engine.keptSplatError()).toBeLessThan(1e-4); // the splats kept across frames stay exact
      }
      expect(engine.rebuilds).toBeGreaterThan(0);
    },
  );

  it("starts cold, with a bigger lattice, when one frame's new colours outgrow the room the lattice kept", () => {
    const [w, h, classes] = [160, 120, 4];
    const base = deeplabLikeCase(w, h, classes, 9);
    const flat = new Uint8Array(w * h * 3);
    for (let p = 0; p < w * h; p++) flat.set(p % w < w / 2 ? [40, 60, 150] : [60, 150, 70], p * 3);
    // Then 40% of the picture in random colours: far more vertices than a two-colour lattice keeps room for.
    const random = seededRandom(3);
    const speckled = flat.slice();
    for (let p = 0; p < w * h * 0.4; p++) speckled.set([random() * 256, random() * 256, random() * 256], p * 3);
    const engine = engineFor(w, h);
    const frames = [flat, speckled, speckled].map((image) => ({ ...base, image }));
    const starts = frames.map((frame) => {
      const result = engine.frame(frame.image, frame.probabilities, classes, settings);
      expect(agreement(result.labels, cold(frame).labels)).toBeGreaterThan(0.99);
      expect(engine.keptSplatError()).toBeLessThan(1e-4);
      return result.warm;
    });
    expect(starts).toEqual([false, false, true]);
  });

  // 30 noisy labels leave few pixels sure or still at the default thresholds: looser ones there.
  it.each([
    ['30 labels (rows longer than the 24 channels kept in registers)', 30, DEEPLAB_VOC_PARAMS, { tv: 0.3, sure: 0.5 }],
    [
      'the smoothness kernel alone',
      3,
      { ...DEEPLAB_VOC_PARAMS, bilateral: { ...DEEPLAB_VOC_PARAMS.bilateral, weight: 0 } },
      {},
    ],
    [
      'the appearance kernel alone',
      3,
      { ...DEEPLAB_VOC_PARAMS, gaussian: { ...DEEPLAB_VOC_PARAMS.gaussian, weight: 0 } },
      {},
    ],
  ] as const)('runs warm frames with %s and agrees with cold runs', (_, classes, params, thresholds) => {
    const [w, h] = [96, 64];
    const frames = movingShapesSequence(w, h, classes, 4, 4);
    const module = latticeModule()!;
    const engine = new VideoMeanField(module, w, h, params);
    engines.push(engine);
    for (const [f, frame] of frames.entries()) {
      const result = engine.frame(frame.image, frame.probabilities, classes, { ...settings, ...thresholds });
      expect(result.warm).toBe(f > 0);
      const reference = DenseCrf.forImage(frame.image, w, h, params).infer(frame.probabilities, classes);
      expect(agreement(result.labels, reference.labels)).toBeGreaterThan(0.99);
      expect(engine.keptSplatError()).toBeLessThan(1e-4);
    }
  });

  it('keeps labels steadier than cold runs on a still scene with fresh network noise', () => {
    const [w, h, classes] = [128, 96, 4];
    const base = deeplabLikeCase(w, h, classes, 5);
    const noisy = movingShapesSequence(w, h, classes, 6, 0).map((c) => ({ ...c, image: base.image }));
    const engine = engineFor(w, h);
    const [warm, colds] = [[] as Uint8Array[], [] as Uint8Array[]];
    for (const frame of noisy) {
      warm.push(engine.frame(frame.image, frame.probabilities, classes, settings).labels);
      colds.push(cold(frame).labels);
    }
    const flicker = (labels: Uint8Array[]) =>
      labels.slice(1).reduce((n, l, i) => n + l.reduce((k, v, p) => k + (v === labels[i]![p] ? 0 : 1), 0), 0);
    expect(flicker(warm)).toBeLessThanOrEqual(flicker(colds));
    for (let f = 1; f < noisy.length; f++) expect(agreement(warm[f]!, colds[f]!)).toBeGreaterThan(0.99);
  });

  it('recomputes a sure pixel whose scores moved only where that moves its Q: fresh score noise does not, a newly favoured label does', () => {
    const [w, h, classes] = [128, 96, 4];
    const [first, second] = movingShapesSequence(w, h, classes, 2, 0); // a still scene, fresh score noise
    const engine = engineFor(w, h);
    engine.frame(first!.image, first!.probabilities, classes, settings);
    // A 24×24 block whose scores now favour the next label (each pixel's top two scores swapped).
    const probabilities = second!.probabilities.slice();
    const inBlock = (p: number) => p % w >= 40 && p % w < 64 && Math.floor(p / w) >= 30 && Math.floor(p / w) < 54;
    for (let p = 0; p < w * h; p++) {
      if (!inBlock(p)) continue;
      const row = probabilities.subarray(p * classes, (p + 1) * classes);
      const top = row.indexOf(Math.max(...row));
      const other = (top + 1) % classes;
      [row[top], row[other]] = [row[other]!, row[top]!];
    }
    let scoresMoved = 0;
    for (let p = 0; p < w * h; p++) {
      let variation = 0;
      for (let c = 0; c < classes; c++)
        variation += Math.abs(probabilities[p * classes + c]! - first!.probabilities[p * classes + c]!) / 2;
      if (variation > 0.1) scoresMoved += 1;
    }
    const result = engine.frame(second!.image, probabilities, classes, settings);
    const reference = cold({ ...second!, probabilities });
    expect(result.warm).toBe(true);
    expect(scoresMoved).toBeGreaterThan(w * h * 0.1); // the noise moves many pixels' scores…
    expect(result.activePixels).toBeLessThan(scoresMoved / 2); // …but most of them stay sure of their label
    // The block follows (its edges converge over the next frames: 95% here after 2 iterations, with or without this test).
    expect(agreement(result.labels, reference.labels, inBlock)).toBeGreaterThan(0.93);
    expect(agreement(result.labels, reference.labels)).toBeGreaterThan(0.99);
  });

  it('tells camera noise from motion: a noisy still scene keeps its lattice, a moving square is re-embedded', () => {
    const [w, h, classes] = [128, 96, 4];
    // Fresh pixel noise σ 6 and fresh score noise on every frame; a square moving 4 px a frame.
    const frames = movingShapesSequence(w, h, classes, 6, 4, 6);
    const engine = engineFor(w, h);
    const runs = frames.map((frame) => engine.frame(frame.image, frame.probabilities, classes, settings));
    const square = Math.round(h / 3) ** 2;
    for (const [f, run] of runs.entries()) {
      if (f === 0) continue;
      expect(run.warm).toBe(true);
      // What moved is about the square's leading and trailing edges, not the whole noisy frame.
      expect(run.movedPixels).toBeGreaterThan(0);
      expect(run.movedPixels).toBeLessThan(square);
      expect(agreement(run.labels, cold(frames[f]!).labels)).toBeGreaterThan(0.99);
    }
    // The old rule (re-embed beyond σβ) on the same clip finds nearly every pixel moved: cold frames.
    const strict = engineFor(w, h);
    const warmth = frames.map(
      (frame) => strict.frame(frame.image, frame.probabilities, classes, { ...settings, rgb: 5 }).warm,
    );
    expect(warmth.slice(1).filter(Boolean).length).toBeLessThanOrEqual(1);
  });

  it('holds the camera noise it has seen over frames where a codec copied most blocks', () => {
    const [w, h, classes] = [128, 96, 4];
    const random = seededRandom(8);
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const base = deeplabLikeCase(w, h, classes, 5);
    const noisy = () => base.image.map((v) => Math.min(255, Math.max(0, Math.round(v + 4 * gaussian()))));
    const [first, second] = [noisy(), noisy()];
    // The third frame repeats the second where a codec copied blocks (70% of rows), fresh noise elsewhere.
    const fresh = noisy();
    const third = second.map((v, i) => (Math.floor(i / (w * 3)) % 10 < 7 ? v : fresh[i]!));
    const engine = engineFor(w, h);
    const runs = [first, second, third].map((image) => engine.frame(image, base.probabilities, classes, settings));
    expect(runs.map((r) => r.warm)).toEqual([false, true, true]);
    // The third frame's median difference is 0, but the noise of the frame before still holds: its
    // noisy rows are not taken for motion (with the colour test at σβ, about a quarter of the pixels were).
    expect(runs[2]!.movedPixels).toBeLessThan(w * h * 0.03);
    expect(agreement(runs[2]!.labels, cold({ ...base, image: third }).labels)).toBeGreaterThan(0.99);
  });

  it('measures frame-to-frame camera noise, not motion', () => {
    const random = seededRandom(3);
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const base = Uint8Array.from({ length: 90_000 }, () => 60 + Math.floor(random() * 120));
    const noisy = (σ: number) => base.map((v) => Math.round(v + σ * gaussian()));
    // Two frames each with noise σ: their difference spreads by σ·√2.
    expect(frameDifferenceSigma(noisy(6), noisy(6))).toBeGreaterThan(6 * Math.SQRT2 * 0.8);
    expect(frameDifferenceSigma(noisy(6), noisy(6))).toBeLessThan(6 * Math.SQRT2 * 1.25);
    expect(frameDifferenceSigma(base, base)).toBe(0);
    // Between whole levels: σ 1.2 and σ 2 (differences' σ 1.7 and 2.8) both have a median difference of 1 or 2 levels.
    for (const σ of [1.2, 2]) {
      const estimate = frameDifferenceSigma(noisy(σ), noisy(σ));
      expect(estimate).toBeGreaterThan(σ * Math.SQRT2 * 0.85);
      expect(estimate).toBeLessThan(σ * Math.SQRT2 * 1.15);
    }
    // A compressed stream: 60% of the samples copied (equal), the rest coded with noise σ 2 — read
    // from the coded ones; a noise-free picture with a tenth of it moving stays at 0.
    const coded = (σ: number) => {
      const next = noisy(σ);
      return base.map((v, i) => (i % 10 < 6 ? v : next[i]!));
    };
    expect(frameDifferenceSigma(base, coded(2), 3)).toBeGreaterThan(2 * 0.85);
    expect(frameDifferenceSigma(base, coded(2), 3)).toBeLessThan(2 * 1.3);
    expect(
      frameDifferenceSigma(
        base,
        base.map((v, i) => (i < 9_000 ? 255 - v : v)),
        3,
      ),
    ).toBe(0);
    // 40% of a still, noise-free picture recoloured: content, not coding noise.
    expect(
      frameDifferenceSigma(
        base,
        base.map((v, i) => (i % 10 < 4 ? 255 - v : v)),
        3,
      ),
    ).toBe(0);
    // A third of the picture changing wholesale (motion) leaves the estimate with the noise.
    const moving = noisy(6).map((v, i) => (i < 30_000 ? 255 - v : v));
    expect(frameDifferenceSigma(noisy(6), moving)).toBeLessThan(6 * Math.SQRT2 * 1.6);
  });

  it('starts cold on a scene cut, on a new label count and after restart(); a label newly in play joins warm', () => {
    const [w, h] = [96, 64];
    const a = deeplabLikeCase(w, h, 4, 21);
    const engine = engineFor(w, h);
    const run = (c: CrfCase) => engine.frame(c.image, c.probabilities, c.classes, settings).warm;
    expect(run(a)).toBe(false);
    expect(run(a)).toBe(true);
    expect(run(deeplabLikeCase(w, h, 4, 22))).toBe(false); // another scene
    // A label that was nowhere likely becomes likely somewhere.
    const b = deeplabLikeCase(w, h, 4, 23);
    const pruned = b.probabilities.slice();
    for (let p = 0; p < w * h; p++) {
      const moved = pruned[p * 4 + 3]!;
      pruned[p * 4 + 3] = 0;
      pruned[p * 4] = pruned[p * 4]! + moved;
    }
    expect(run({ ...b, probabilities: pruned })).toBe(false);
    expect(run({ ...b, probabilities: pruned })).toBe(true);
    const patch = pruned.slice();
    for (let p = 0; p < 40; p++) patch.set([0, 0, 0, 1], p * 4);
    // The label comes into play on 40 pixels: the warm state grows by it, and still agrees with a cold run.
    const grown = engine.frame(b.image, patch, 4, settings);
    expect(grown.warm).toBe(true);
    expect(grown.activeLabels).toContain(3);
    expect(grown.activePixels).toBeLessThan((w * h) / 2);
    expect(agreement(grown.labels, cold({ ...b, probabilities: patch }).labels)).toBeGreaterThan(0.99);
    expect(Array.from(grown.labels.subarray(0, 40)).every((l) => l === 3)).toBe(true);
    expect(engine.keptSplatError()).toBeLessThan(1e-4); // the kept splats were made afresh at the new width
    // A label hovering around the pruning threshold (0.001) makes no cold frame until it passes 10× it.
    const hovering = (peak: number) => {
      const p = pruned.slice();
      p[3] = peak;
      p[0] = p[0]! - peak;
      return { ...b, probabilities: p };
    };
    engine.restart();
    expect(run(hovering(0.0008))).toBe(false);
    expect(run(hovering(0.0015))).toBe(true); // left out on the cold frame (under 0.001), nowhere near winning a pixel
    expect(run(hovering(0.0009))).toBe(true);
    expect(run(hovering(0.02))).toBe(true); // now it comes into play: the warm state grows by it
    expect(run(hovering(0.0009))).toBe(true);
    const five = deeplabLikeCase(w, h, 5, 23);
    expect(run(five)).toBe(false);
    expect(run(five)).toBe(true);
    engine.restart();
    expect(run(five)).toBe(false);
  });
});
