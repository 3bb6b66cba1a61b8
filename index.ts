/**
 * deeplab-stream as a library: the RxJS operators of the pipeline, its sources and sinks, the
 * models and the dense CRF, and the whole runs (`segmentVideo`, `evaluate`, `startLiveServer` over
 * `localLiveBackend(…)`; on a NATS cluster `segmentOnCluster`, `runClusterWorker`, and
 * `startLiveServer` over `clusterLiveBackend(…)`).
 *
 * @example
 * import { lastValueFrom, tap } from 'rxjs';
 * import { batchFrames, defaultModelPath, FrameCredits, fromVideoFile, inferBatches, openModel, preprocessFrames, reorderByIndex } from 'deeplab-stream';
 *
 * const model = await openModel(defaultModelPath());
 * const credits = new FrameCredits(8);
 * await lastValueFrom(fromVideoFile('clip.mp4', { credits }).pipe(
 *   preprocessFrames(model.preprocess), batchFrames(1, 20), inferBatches(model.pool), reorderByIndex((s) => s.frame.index),
 *   tap((s) => { console.log(s.frame.index, s.classPixels); credits.release(); }),
 * ));
 * await model.close();
 */
export * from './core/errors.js';
export type { Frame, ModelInput, PreparedFrame, Segmentation, StageTimings } from './core/frames.js';
export { finishSinks, type SegmentationSink } from './core/sink.js';

export { CrfRunner } from './crf/crfRunner.js';
export { type CrfParams, DEEPLAB_VOC_PARAMS } from './crf/crfParams.js';
export { type CatalogEntry, DEFAULT_MODEL_NAME, MODEL_CATALOG } from './model/catalog.js';
export { defaultModelPath } from './model/defaultModel.js';
export type { ModelDescriptor } from './model/descriptor.js';
export { InferencePool } from './model/inferencePool.js';
export type { ModelOverrides } from './model/modelOverrides.js';

export { batchFrames } from './operators/batchFrames.js';
export { dropStaleFrames } from './operators/dropStaleFrames.js';
export { type BatchRunner, inferBatches } from './operators/inferBatches.js';
export { preprocessFrames, type PreprocessOptions } from './operators/preprocessFrames.js';
export { type CrfBackend, refineWithCrf, type RefineOptions } from './operators/refineWithCrf.js';
export { reorderByIndex } from './operators/reorderByIndex.js';
export { writeToSinks } from './operators/writeToSinks.js';

export { runClusterWorker, type ClusterWorkerOptions, type ClusterWorkerSummary } from './cluster/clusterWorker.js';
export { clusterLiveBackend, type ClusterLiveOptions } from './cluster/clusterLiveBackend.js';
export { type FrameResult, resultsSubject } from './cluster/protocol.js';
export {
  type ClusterSegmentOptions,
  type ClusterSegmentSummary,
  segmentOnCluster,
} from './cluster/segmentOnCluster.js';
export { evaluate } from './pipeline/evaluate.js';
export { FrameCredits } from './sources/frameCredits.js';
export { openModel, type OpenModelOptions, type SegmentationModel } from './pipeline/openModel.js';
export { resolveModel, type ResolveModelOptions } from './pipeline/resolveModel.js';
export { loadModelDescriptor, planRun, type RunPlan, type RunPlanOptions } from './pipeline/runPlan.js';
export { segmentFrames, type SegmentFramesOptions } from './pipeline/segmentFrames.js';
export { localLiveBackend, type LocalLiveOptions } from './pipeline/localLiveBackend.js';
export type { LiveStreamsOptions } from './pipeline/liveStreams.js';
export { segmentVideo, type SegmentOptions, type SegmentSummary } from './pipeline/segmentVideo.js';
export type { LiveBackend, LiveBackendContext, LiveBackendFactory } from './server/liveBackend.js';
export { type LiveServer, type LiveServerOptions, startLiveServer } from './server/liveServer.js';
export { FrameStatsSink } from './sinks/frameStatsSink.js';
export { MaskPngSink } from './sinks/maskPngSink.js';
export { OverlayVideoSink } from './sinks/overlayVideoSink.js';
export { fromVideoFile } from './sources/fromVideoFile.js';
