/**
 * What both live back ends (this process's, a cluster's) make of the same options before a stream
 * starts: the inputs parsed and named, every flag checked against the model (`planRun`), the CRF's
 * parameters, and the classes the viewers are told.
 */
import { type CrfSettings, crfParamsFor, type CrfParams } from '../crf/crfParams.js';
import type { Device } from '../model/device.js';
import type { ClassDescription } from '../server/wireFormat.js';
import { parseLiveInput, type LiveInput } from '../sources/liveInputs.js';
import { liveCrfScale } from './livePipeline.js';
import { type PlanOptions, planFields, planRun, type RunPlan } from './runPlan.js';
import { UsageError } from '../core/errors.js';

export interface LiveStreamsOptions extends Omit<PlanOptions, 'scales' | 'flip'> {
  readonly inputs: readonly string[];
  /** Pace files at their frame rate and let them drop frames like live inputs. */
  readonly realtime?: boolean;
  readonly device: Device;
  readonly workers: number;
  readonly threadsPerWorker: number;
  readonly batchSize: number;
  readonly batchWaitMs?: number;
  /** CRF parameters for streams whose CRF is on; `on` is the state each stream starts in. */
  readonly crf: {
    readonly on: boolean;
    readonly params: CrfSettings;
    readonly warmStart?: { readonly iterations: number; readonly sceneCut: number };
    readonly workers?: number;
  };
}

export interface PlannedLiveStreams {
  readonly inputs: readonly LiveInput[];
  readonly plan: RunPlan;
  readonly crfParams: CrfParams;
  readonly classes: readonly ClassDescription[];
  /** The streams whose CRF is on now (viewers switch it). */
  readonly crfOn: Set<string>;
}

/** Parses and checks; `openFiles`: open file inputs now (a missing file is a mistake on the command line). */
export async function planLiveStreams(
  options: LiveStreamsOptions,
  log: (line: string) => void,
  openFiles: boolean,
): Promise<PlannedLiveStreams> {
  if (options.inputs.length === 0)
    throw new UsageError('serve needs at least one input (a file, testsrc, rtsp://…, http(s)://… or camera:N)');
  const taken = new Set<string>();
  const inputs: LiveInput[] = options.inputs.map((spec) => {
    const input = parseLiveInput(spec, { takenIds: taken, ...(options.realtime ? { realtime: true } : {}) });
    taken.add(input.id);
    return input;
  });
  if (openFiles) await Promise.all(inputs.filter((i) => i.kind === 'file').map((i) => i.open()));
  // Every check of flags against the model before any worker starts; streams batch together.
  const plan = await planRun({
    ...planFields(options),
    batchSize: options.batchSize,
    mixedSizes: true,
    crf: options.crf.on,
  });
  const { descriptor, crfAvailable } = plan;
  for (const note of plan.notes) log(`note: ${note}`);
  const { params: crfParams, description } = crfParamsFor(
    { scale: liveCrfScale(descriptor.classes), ...options.crf.params },
    descriptor.crf,
  );
  if (crfAvailable && options.crf.on) log(`note: ${description}`);
  const classes = descriptor.classNames.map((name, c) => ({
    name,
    color: [descriptor.palette[c * 3]!, descriptor.palette[c * 3 + 1]!, descriptor.palette[c * 3 + 2]!] as const,
  }));
  return { inputs, plan, crfParams, classes, crfOn: new Set(options.crf.on ? inputs.map((i) => i.id) : []) };
}
