/**
 * The dense CRF's parameters: DeepLab's VOC set, what a run asks for, and the model's tuned
 * kernels merged into what it uses. Apart from the engine so that flags can show the defaults
 * without loading it.
 */
export interface CrfParams {
  readonly iterations: number;
  /** Appearance kernel: weight, spatial σα (pixels), colour σβ (0–255 units). */
  readonly bilateral: { readonly weight: number; readonly xy: number; readonly rgb: number };
  /** Smoothness kernel: weight, spatial σγ (pixels). */
  readonly gaussian: { readonly weight: number; readonly xy: number };
  readonly normalization: 'after' | 'symmetric';
  /** Labels whose largest probability in the image is below this are not inferred (0 disables). */
  readonly pruneBelow: number;
  /** Run at this fraction of the resolution, Q upsampled (1: full resolution). */
  readonly scale: number;
}

/**
 * The smallest σ a kernel takes (pixels or colour levels). Below it a kernel reaches no neighbour,
 * and the lattice's coordinates (position or colour over σ) overflow its 32-bit keys: `--bi-xy
 * 1e-9` failed with an internal error.
 */
export const MIN_KERNEL_SIGMA = 0.01;

/** The two kernels alone: what is tuned for a model and kept in its sidecar. */
export type CrfKernels = Pick<CrfParams, 'bilateral' | 'gaussian'>;

/** What a run asks of the CRF: anything left out comes from the model's tuned kernels, then DeepLab's VOC set. */
export type CrfSettings = Partial<Omit<CrfParams, 'bilateral' | 'gaussian'>> & {
  readonly bilateral?: Partial<CrfParams['bilateral']>;
  readonly gaussian?: Partial<CrfParams['gaussian']>;
};

/** The parameters a run uses, and a line saying which and from where. */
export function crfParamsFor(settings: CrfSettings, tuned?: CrfKernels): { params: CrfParams; description: string } {
  const base = tuned ?? DEEPLAB_VOC_PARAMS;
  const params: CrfParams = {
    ...DEEPLAB_VOC_PARAMS,
    ...settings,
    bilateral: { ...base.bilateral, ...settings.bilateral },
    gaussian: { ...base.gaussian, ...settings.gaussian },
  };
  const flagged = Object.keys(settings.bilateral ?? {}).length + Object.keys(settings.gaussian ?? {}).length > 0;
  const origin = `${tuned ? "the model's tuned kernels" : "DeepLab's VOC kernels"}${flagged ? ', changed by flags' : ''}`;
  const { bilateral: b, gaussian: g } = params;
  return {
    params,
    description: `CRF w1 ${b.weight} σα ${b.xy} σβ ${b.rgb}, w2 ${g.weight} σγ ${g.xy}, ${params.iterations} iterations at scale ${params.scale} (${origin})`,
  };
}

/** DeepLab-LargeFOV's PASCAL VOC setting. */
export const DEEPLAB_VOC_PARAMS: CrfParams = {
  iterations: 10,
  bilateral: { weight: 4, xy: 121, rgb: 5 },
  gaussian: { weight: 3, xy: 3 },
  normalization: 'after',
  pruneBelow: 1e-3,
  scale: 1,
};
