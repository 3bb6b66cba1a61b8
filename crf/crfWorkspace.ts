/**
 * What a CRF worker keeps between the frames of every stream it serves: the WebAssembly memory
 * and engine (latticeWasm.ts), the position lattice of each frame size, and the helper thread.
 */
import { type EngineMark, WasmMeanField } from './latticeWasm.js';
import { MIN_POINTS_FOR_TWO_THREADS } from './wasmModule.js';

/**
 * What a CRF worker keeps between frames: one WebAssembly instance per frame size and parameters,
 * with the position-only (Gaussian) kernel built once — it does not depend on the image — and the
 * memory already grown. Each `engineFor` drops the previous frame's image kernel: a DenseCrf made
 * from a workspace is valid until the next one is made from it.
 */
export class CrfWorkspace {
  private engine: WasmMeanField | null = null;
  private key = '';
  /** Where the instance's kernels begin, and where the position kernel (kept) ends. */
  private empty: EngineMark | null = null;
  private base: EngineMark | null = null;

  /**
   * `threads`: 2 runs each frame's mean field on two cores (a helper thread per instance).
   * `keepPositionLattice: false` builds the position kernel again for every image, as a CRF for
   * unrelated images must (the benchmark's comparison with single-image implementations).
   */
  constructor(private readonly options: { readonly threads?: number; readonly keepPositionLattice?: boolean } = {}) {}

  get threads(): number {
    return this.options.threads ?? 1;
  }

  /**
   * With two threads: starts the helper thread now (tens of milliseconds), before the first frame
   * arrives — a worker does it while its caller is still reading that frame.
   */
  startThreads(module: WebAssembly.Module): void {
    if (this.threads > 1 && !this.engine)
      this.engine = new WasmMeanField(module, MIN_POINTS_FOR_TWO_THREADS, [], { threads: this.threads });
  }

  engineFor(
    module: WebAssembly.Module,
    width: number,
    height: number,
    gaussian: { readonly xy: number; readonly weight: number },
  ): WasmMeanField {
    const key = `${width}x${height}:${gaussian.xy}:${gaussian.weight}`;
    const position = () => {
      if (gaussian.weight !== 0)
        this.engine!.addKernel({ pixels: { width, xy: gaussian.xy }, weight: gaussian.weight });
      this.base = this.engine!.mark();
    };
    if (!this.engine || key !== this.key) {
      // Another size or smoothness kernel: the same memory, started over, where it can be.
      if (!this.engine?.restart(width * height)) {
        this.engine?.dispose();
        this.engine = new WasmMeanField(module, width * height, [], { threads: this.threads });
      }
      this.key = key;
      this.empty = this.engine.mark();
      position();
    } else if (this.options.keepPositionLattice === false) {
      this.engine.release(this.empty!);
      position();
    } else this.engine.release(this.base!);
    return this.engine;
  }

  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }
}
