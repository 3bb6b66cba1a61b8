/**
 * What both live back ends (this process's, a cluster's) make of the same options before a stream
 * starts: the inputs parsed and named, every flag checked against the model (`planRun`), the CRF's
 * parameters, and the classes the viewers are told.
 */
import { type CrfSettings, crfParamsFor, type CrfParams } from '../crf/crfParams.js';
import type { Device } from '../model/device.js';
import type { WindowRefreshOptions } from '../model/windowRefresh.js';
import type { ClassDescription } from '../server/wireFormat.js';
import { parseLiveInput, type LiveInput } from '../sources/liveInputs.js';
import { liveCrfScale } from './livePipeline.js';
import { type PlanOptions, planFields, planRun, type RunPlan } from './runPlan.js';
import { ConflictError, UsageError } from '../core/errors.js';
import type { StreamRequest } from '../server/liveBackend.js';

export interface LiveStreamsOptions extends Omit<PlanOptions, 'scales' | 'flip'> {
  readonly inputs: readonly string[];
  /** Pace files at their frame rate and let them drop frames like live inputs. */
  readonly realtime?: boolean;
  /** Each frame's labels as COCO RLE in the cluster's results (`serve --nats --masks-rle`). */
  readonly masksRle?: boolean;
  readonly device: Device;
  readonly workers: number;
  readonly threadsPerWorker: number;
  readonly batchSize: number;
  readonly batchWaitMs?: number;
  /** Tiled streams run only the windows whose picture changed (`serve --tile-max-age`, `--tile-budget`). */
  readonly tileRefresh?: WindowRefreshOptions;
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

const STREAM_ID = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * A stream's input parsed and named: the id asked for (ConflictError when taken), or one made
 * from the input as on the command line (`cam.mp4` → `cam`, a second → `cam-2`).
 */
export function liveInputFor(request: StreamRequest, taken: ReadonlySet<string>, realtime = false): LiveInput {
  if (request.id !== undefined && !STREAM_ID.test(request.id))
    throw new UsageError(`stream id ${JSON.stringify(request.id.slice(0, 120))}: 1 to 100 letters, digits, . _ or -`);
  if (request.id !== undefined && taken.has(request.id))
    throw new ConflictError(`there is already a stream ${request.id}: remove it first, or pick another id`);
  const input = parseLiveInput(request.input, { takenIds: taken, ...(realtime ? { realtime: true } : {}) });
  return request.id === undefined ? input : { ...input, id: request.id };
}

/** Parses and checks; `openFiles`: open file inputs now (a missing file is a mistake on the command line). */
export async function planLiveStreams(
  options: LiveStreamsOptions,
  log: (line: string) => void,
  openFiles: boolean,
): Promise<PlannedLiveStreams> {
  const taken = new Set<string>();
  const inputs: LiveInput[] = options.inputs.map((spec) => {
    const input = liveInputFor({ input: spec }, taken, options.realtime);
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
