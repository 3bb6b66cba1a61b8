/**
 * A run's settings as a task carries them to a worker (`segment --nats`, `serve --nats`): the
 * flags, and the model sidecar's settings too — the worker's copy of the model has no sidecar.
 */
import { parseOverrides, readSidecar } from '../model/modelOverrides.js';
import type { PlanOptions } from '../pipeline/runPlan.js';
import type { SegmentOptions } from '../pipeline/segmentVideo.js';
import type { WindowRefreshOptions } from '../model/windowRefresh.js';
import type { RunSettings } from './protocol.js';

export type RunSettingsSource = PlanOptions &
  Pick<
    SegmentOptions,
    'batchSize' | 'opacity' | 'overlayStyle' | 'legend' | 'encoderPreset' | 'strict' | 'masksRle'
  > & {
    readonly crf?: Pick<NonNullable<SegmentOptions['crf']>, 'params' | 'warmStart'> | undefined;
    readonly tileRefresh?: WindowRefreshOptions | undefined;
  };

export function runSettingsFor(o: RunSettingsSource): RunSettings {
  const overrides = { ...readSidecar(o.modelPath), ...o.modelOverrides };
  return {
    batchSize: o.batchSize,
    ...(o.inputSize ? { inputSize: [o.inputSize[0], o.inputSize[1]] as [number, number] } : {}),
    ...(o.tiles ? { tiles: o.tiles === 'auto' ? 'auto' : { cols: o.tiles.cols, rows: o.tiles.rows } } : {}),
    ...(o.tileOverlap !== undefined ? { tileOverlap: o.tileOverlap } : {}),
    ...(o.tileRefresh ? { tileRefresh: { ...o.tileRefresh } } : {}),
    ...(o.scales ? { scales: [...o.scales] } : {}),
    ...(o.flip ? { flip: true } : {}),
    ...(o.opacity !== undefined ? { opacity: o.opacity } : {}),
    ...(o.overlayStyle ? { overlayStyle: o.overlayStyle } : {}),
    ...(o.classesShown ? { classesShown: [...o.classesShown] } : {}),
    ...(o.legend !== undefined ? { legend: o.legend } : {}),
    ...(o.encoderPreset ? { encoderPreset: o.encoderPreset } : {}),
    ...(o.crf ? { crf: { params: o.crf.params, ...(o.crf.warmStart ? { warmStart: o.crf.warmStart } : {}) } } : {}),
    ...(Object.keys(overrides).length ? { modelOverrides: overrides } : {}),
    ...(o.strict ? { strict: true } : {}),
    ...(o.masksRle ? { masksRle: true } : {}),
  };
}

/** The plan a task's settings stand for, on the worker's copy of the model (`what` names the task in errors). */
export function planOptionsOf(run: RunSettings, modelPath: string, what: string): PlanOptions {
  return {
    modelPath,
    modelOverrides: run.modelOverrides !== undefined ? parseOverrides(run.modelOverrides, what) : undefined,
    inputSize: run.inputSize,
    tiles: run.tiles,
    tileOverlap: run.tileOverlap,
    scales: run.scales,
    flip: run.flip,
    classesShown: run.classesShown,
  };
}
