import { describe, expect, it } from 'vitest';
import { DenseCrf } from '../../crf/denseCrf.js';
import { NormalizedFilter, pixelFeatures, ReferenceMeanField } from '../../crf/referenceMeanField.js';
import { type CrfParams } from '../../crf/crfParams.js';
import { PermutohedralLattice } from '../../crf/permutohedralLattice.js';
import { seededRandom } from '../../model/onnxGraph.js';

/** The exact O(N²) Gaussian filter the lattice approximates. */
class ExactGaussian {
  constructor(
    private readonly f: Float32Array,
    private readonly n: number,
    private readonly d: number,
  ) {}
  filter(values: Float32Array, channels: number, out: Float32Array): Float32Array {
    out.fill(0);
    for (let i = 0; i < this.n; i++) {
      for (let j = 0; j < this.n; j++) {
        let s = 0;
        for (let k = 0; k < this.d; k++) s += (this.f[i * this.d + k]! - this.f[j * this.d + k]!) ** 2;
        const w = Math.exp(-s / 2);
        for (let c = 0; c < channels; c++) out[i * channels + c]! += w * values[j * channels + c]!;
      }
    }
    return out;
  }
}

const random = seededRandom(21);

/** Two-region test image (left dark red, right light blue, plus noise) and noisy probabilities. */
function scene(width: number, height: number, classes: number, noise: number) {
  const image = new Uint8Array(width * height * 3);
  const truth = new Uint8Array(width * height);
  const probs = new Float32Array(width * height * classes);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const label = x + (y % 3) < width / 2 ? 0 : 1;
      truth[p] = label;
      const colour = label === 0 ? [150, 30, 40] : [60, 140, 220];
      for (let c = 0; c < 3; c++)
        image[p * 3 + c] = Math.max(0, Math.min(255, colour[c]! + Math.round((random() - 0.5) * 30)));
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        const v = Math.exp((c === label ? 1 : 0) + noise * (random() * 2 - 1));
        probs[p * classes + c] = v;
        sum += v;
      }
      for (let c = 0; c < classes; c++) probs[p * classes + c]! /= sum;
    }
  }
  return { image, truth, probs };
}

function exactCrf(image: Uint8Array, width: number, height: number, params: CrfParams): DenseCrf {
  const n = width * height;
  const kernels = [
    {
      weight: params.bilateral.weight,
      filter: new NormalizedFilter(
        new ExactGaussian(
          pixelFeatures(width, height, params.bilateral.xy, { image, sigma: params.bilateral.rgb }),
          n,
          5,
        ),
        n,
        params.normalization,
      ),
    },
    {
      weight: params.gaussian.weight,
      filter: new NormalizedFilter(
        new ExactGaussian(pixelFeatures(width, height, params.gaussian.xy), n, 2),
        n,
        params.normalization,
      ),
    },
  ];
  return new DenseCrf(width, height, params, new ReferenceMeanField(n, kernels));
}

const small: CrfParams = {
  iterations: 10,
  bilateral: { weight: 4, xy: 8, rgb: 13 },
  gaussian: { weight: 3, xy: 2 },
  normalization: 'after',
  pruneBelow: 0,
  scale: 1,
};

describe('permutohedral lattice', () => {
  for (const d of [2, 5]) {
    it(`matches exact Gaussian filtering (normalised) in ${d} dimensions`, () => {
      const n = 600;
      const f = Float32Array.from({ length: n * d }, () => random() * 3);
      const values = Float32Array.from({ length: n * 2 }, () => random());
      const lattice = new NormalizedFilter(PermutohedralLattice.build(f, n, d), n, 'after').apply(
        values,
        2,
        new Float32Array(n * 2),
      );
      const exact = new NormalizedFilter(new ExactGaussian(f, n, d), n, 'after').apply(
        values,
        2,
        new Float32Array(n * 2),
      );
      let num = 0;
      let den = 0;
      for (let i = 0; i < n * 2; i++) {
        num += (lattice[i]! - exact[i]!) ** 2;
        den += exact[i]! ** 2;
      }
      expect(Math.sqrt(num / den)).toBeLessThan(0.02);
    });
  }
});

describe('dense CRF mean field', () => {
  it('on the lattice agrees with the exact O(N²) CRF on a tiny image', () => {
    const [w, h, c] = [14, 11, 3];
    const { image, probs } = scene(w, h, c, 1.2);
    const fast = DenseCrf.forImage(image, w, h, small).infer(probs, c);
    const exact = exactCrf(image, w, h, small).infer(probs, c);
    let agree = 0;
    let worst = 0;
    for (let p = 0; p < w * h; p++) agree += fast.labels[p] === exact.labels[p] ? 1 : 0;
    for (let i = 0; i < w * h * c; i++) worst = Math.max(worst, Math.abs(fast.q[i]! - exact.q[i]!));
    expect(agree / (w * h)).toBeGreaterThan(0.97);
    expect(worst).toBeLessThan(0.15);
  });

  it('never increases the mean-field free energy (symmetric normalisation, exact kernel)', () => {
    const [w, h, c] = [12, 10, 3];
    const { image, probs } = scene(w, h, c, 1.5);
    const params: CrfParams = { ...small, normalization: 'symmetric' };
    const n = w * h;
    const kernels = [
      {
        weight: params.bilateral.weight,
        features: pixelFeatures(w, h, params.bilateral.xy, { image, sigma: params.bilateral.rgb }),
        d: 5,
      },
      { weight: params.gaussian.weight, features: pixelFeatures(w, h, params.gaussian.xy), d: 2 },
    ].map((k) => ({
      weight: k.weight,
      filter: new NormalizedFilter(new ExactGaussian(k.features, n, k.d), n, 'symmetric'),
    }));
    const unary = probs.map((p) => -Math.log(Math.max(p, 1e-8)));
    // F(Q) = Σ Q·U − ½ Σ_k w_k Σ_l Q_lᵀ K̃_k Q_l + Σ Q log Q
    const energy = (q: Float32Array) => {
      let f = 0;
      for (let i = 0; i < n * c; i++) f += q[i]! * unary[i]! + (q[i]! > 0 ? q[i]! * Math.log(q[i]!) : 0);
      for (const { weight, filter } of kernels) {
        const kq = filter.apply(q, c, new Float32Array(n * c));
        for (let i = 0; i < n * c; i++) f -= 0.5 * weight * q[i]! * kq[i]!;
      }
      return f;
    };
    const energies: number[] = [];
    new DenseCrf(w, h, params, new ReferenceMeanField(w * h, kernels)).infer(probs, c, {
      onIteration: (_, q) => energies.push(energy(q)),
    });
    expect(energies).toHaveLength(10);
    // Q is float32: allow its rounding (1e-6 relative) once converged.
    for (let i = 1; i < energies.length; i++)
      expect(energies[i]!).toBeLessThanOrEqual(energies[i - 1]! + 1e-6 * Math.abs(energies[i - 1]!));
    expect(energies.at(-1)!).toBeLessThan(energies[0]!);
  });

  it('cleans up noisy scores along the image edges (DeepLab VOC parameters)', () => {
    const [w, h, c] = [80, 60, 4];
    const { image, truth, probs } = scene(w, h, c, 1.6);
    const argmax = (p: number) => {
      let best = 0;
      for (let k = 1; k < c; k++) if (probs[p * c + k]! > probs[p * c + best]!) best = k;
      return best;
    };
    const crf = DenseCrf.forImage(image, w, h).infer(probs, c);
    let before = 0;
    let after = 0;
    for (let p = 0; p < w * h; p++) {
      before += argmax(p) === truth[p] ? 1 : 0;
      after += crf.labels[p] === truth[p] ? 1 : 0;
    }
    expect(before / (w * h)).toBeLessThan(0.8);
    expect(after / (w * h)).toBeGreaterThan(0.97);
  });

  it('leaves out labels that are nowhere likely, keeping their Q at 0', () => {
    const [w, h] = [20, 16];
    const { image, probs: two } = scene(w, h, 2, 0.5);
    const probs = new Float32Array(w * h * 5); // labels 0 and 3 carry the scene, 1, 2, 4 are empty
    for (let p = 0; p < w * h; p++) {
      probs[p * 5] = two[p * 2]!;
      probs[p * 5 + 3] = two[p * 2 + 1]!;
    }
    const result = DenseCrf.forImage(image, w, h).infer(probs, 5);
    expect(result.activeLabels).toEqual([0, 3]);
    expect(new Set(result.labels)).toEqual(new Set([0, 3]));
    for (let p = 0; p < w * h; p++) expect(result.q[p * 5 + 1]).toBe(0);
  });
});

describe('WebAssembly SIMD mean field', () => {
  // Label counts: padding lanes (1, 5), none (8), a row longer than the 24 channels kept in registers (30).
  it.each([5, 1, 8, 30])("is built, and gives the TypeScript mean field's results with %i labels", async (c) => {
    const { WasmMeanField } = await import('../../crf/latticeWasm.js');
    const { latticeModule } = await import('../../crf/wasmModule.js');
    const module = latticeModule();
    expect(module).not.toBeNull(); // `npm run build` compiles it; CI builds before testing
    const [w, h] = [40, 30];
    const { image, probs } = scene(w, h, c, 1.4);
    const n = w * h;
    const params: CrfParams = { ...small, pruneBelow: 0 };
    const bilateral = PermutohedralLattice.build(
      pixelFeatures(w, h, params.bilateral.xy, { image, sigma: params.bilateral.rgb }),
      n,
      5,
    );
    const gaussian = PermutohedralLattice.build(pixelFeatures(w, h, params.gaussian.xy), n, 2);
    const typescriptCrf = () =>
      new DenseCrf(
        w,
        h,
        params,
        new ReferenceMeanField(n, [
          { weight: params.bilateral.weight, filter: new NormalizedFilter(bilateral, n, 'after') },
          { weight: params.gaussian.weight, filter: new NormalizedFilter(gaussian, n, 'after') },
        ]),
      );
    const typescript = typescriptCrf().infer(probs, c);
    const wasm = new DenseCrf(
      w,
      h,
      params,
      new WasmMeanField(module!, n, [
        { lattice: bilateral, weight: params.bilateral.weight },
        { lattice: gaussian, weight: params.gaussian.weight },
      ]),
    ).infer(probs, c);
    let worst = 0;
    for (let i = 0; i < n * c; i++) worst = Math.max(worst, Math.abs(wasm.q[i]! - typescript.q[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect(Buffer.compare(Buffer.from(wasm.labels), Buffer.from(typescript.labels))).toBe(0);
    // Labels without the marginals: the same labels.
    const labelsOnly = new DenseCrf(
      w,
      h,
      params,
      new WasmMeanField(module!, n, [
        { lattice: bilateral, weight: params.bilateral.weight },
        { lattice: gaussian, weight: params.gaussian.weight },
      ]),
    ).labels(probs, c);
    expect(Buffer.compare(Buffer.from(labelsOnly.labels), Buffer.from(wasm.labels))).toBe(0);
    // Lattices built inside WebAssembly give the same answer as the TypeScript-built ones.
    const kernels = [
      {
        features: pixelFeatures(w, h, params.bilateral.xy, { image, sigma: params.bilateral.rgb }),
        d: 5,
        weight: params.bilateral.weight,
      },
      { features: pixelFeatures(w, h, params.gaussian.xy), d: 2, weight: params.gaussian.weight },
    ];
    const built = new DenseCrf(w, h, params, new WasmMeanField(module!, n, kernels)).infer(probs, c);
    for (let i = 0; i < n * c; i++) expect(built.q[i]).toBeCloseTo(wasm.q[i]!, 5);
    // Started from a given Q (a warm start) instead of the probabilities: the same on both.
    const initialQ = probs.map((_, i) => ((i * 7) % 11) + 1);
    const fromTs = typescriptCrf().infer(probs, c, { iterations: 2, initialQ });
    const fromWasm = new DenseCrf(w, h, params, new WasmMeanField(module!, n, kernels)).infer(probs, c, {
      iterations: 2,
      initialQ,
    });
    let worstStart = 0;
    for (let i = 0; i < n * c; i++) worstStart = Math.max(worstStart, Math.abs(fromWasm.q[i]! - fromTs.q[i]!));
    expect(worstStart).toBeLessThan(1e-4);
  });
});

describe('CrfWorkspace', () => {
  it('keeps the position kernel across frames and gives the same marginals as a fresh CRF, also after a size change', async () => {
    const { CrfWorkspace } = await import('../../crf/crfWorkspace.js');
    const workspaces = [new CrfWorkspace(), new CrfWorkspace({ keepPositionLattice: false })];
    const frames = [scene(40, 30, 4, 1.1), scene(40, 30, 4, 1.7), scene(24, 20, 4, 1.3), scene(40, 30, 4, 0.9)];
    for (const [i, { image, probs }] of frames.entries()) {
      const [w, h] = i === 2 ? [24, 20] : [40, 30];
      const fresh = DenseCrf.forImage(image, w, h, small).infer(probs, 4);
      for (const workspace of workspaces) {
        const reused = DenseCrf.forImage(image, w, h, small, workspace).infer(probs, 4);
        let worst = 0;
        for (let k = 0; k < fresh.q.length; k++) worst = Math.max(worst, Math.abs(fresh.q[k]! - reused.q[k]!));
        expect(worst).toBeLessThan(1e-6);
      }
    }
  });
});

describe('mean field on two threads', () => {
  it('gives the one-thread marginals (summation order aside) and the same labels', async () => {
    const { WasmMeanField } = await import('../../crf/latticeWasm.js');
    const { latticeModule } = await import('../../crf/wasmModule.js');
    const [w, h, c] = [320, 240, 5]; // 76,800 pixels: above the two-thread threshold
    const { image, probs } = scene(w, h, c, 1.3);
    const n = w * h;
    const kernels = [
      {
        features: pixelFeatures(w, h, small.bilateral.xy, { image, sigma: small.bilateral.rgb }),
        d: 5,
        weight: small.bilateral.weight,
      },
      { features: pixelFeatures(w, h, small.gaussian.xy), d: 2, weight: small.gaussian.weight },
    ];
    const unary = probs.map((p) => -Math.log(Math.max(p, 1e-8)));
    const one = new WasmMeanField(latticeModule()!, n, kernels);
    const two = new WasmMeanField(latticeModule()!, n, kernels, { threads: 2 });
    try {
      expect([one.threads, two.threads]).toEqual([1, 2]);
      const q1 = one.run(unary, probs, c, 10);
      const q2 = two.run(unary, probs, c, 10);
      let worst = 0;
      for (let i = 0; i < q1.length; i++) worst = Math.max(worst, Math.abs(q1[i]! - q2[i]!));
      expect(worst).toBeLessThan(1e-5);
      const argmax = (q: Float32Array, p: number) =>
        q.subarray(p * c, p * c + c).indexOf(Math.max(...q.subarray(p * c, p * c + c)));
      let differ = 0;
      for (let p = 0; p < n; p++) differ += argmax(q1, p) === argmax(q2, p) ? 0 : 1;
      expect(differ).toBeLessThanOrEqual(2); // exact ties only
    } finally {
      two.dispose();
    }
  });
});
