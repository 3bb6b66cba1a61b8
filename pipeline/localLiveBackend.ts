/**
 * The live back end that runs its streams in this process: one LiveStream per input, the live
 * pipeline (livePipeline.ts: credits, batches across streams, shared workers, latest wins, CRF per
 * stream) and a ViewerSink into the server's hub.
 *
 *   LiveStream × N ─▶ startLivePipeline ─▶ ViewerSink ─▶ ViewerHub (the server's)
 */
import type { LiveBackend, LiveBackendFactory } from '../server/liveBackend.js';
import { ViewerSink } from '../server/viewerSink.js';
import { LiveStream, type LiveStreamOptions } from '../sources/liveStream.js';
import { startLivePipeline } from './livePipeline.js';
import { type LiveStreamsOptions, planLiveStreams } from './liveStreams.js';

export interface LocalLiveOptions extends LiveStreamsOptions {
  readonly reconnect?: LiveStreamOptions;
}

export function localLiveBackend(options: LocalLiveOptions): LiveBackendFactory {
  return async ({ hub, metrics, streamsChanged, log }): Promise<LiveBackend> => {
    const { inputs, plan, crfParams, classes, crfOn } = await planLiveStreams(options, log, true);
    const streams = inputs.map((input) => new LiveStream(input, options.reconnect));
    for (const stream of streams) {
      stream.on('dropped', () => metrics.framesDropped(stream.id, 'source'));
      stream.on('status', (status, message) => {
        if (status === 'outage') metrics.sourceOutage(stream.id);
        log(`stream ${stream.id}: ${status}${message ? `: ${message}` : ''}`);
        streamsChanged();
      });
    }
    /** The same trouble of a stream is told once, not once per frame. */
    const told = new Set<string>();
    const logOnce = (line: string) => {
      if (told.has(line)) return;
      told.add(line);
      log(line);
    };
    // A file served without --realtime keeps every frame, in order: with several inference workers a
    // frame finishing after a newer one would be dropped as stale, so such a run uses one.
    const lossless = inputs.filter((i) => !i.latestWins);
    const workers = lossless.length > 0 ? 1 : options.workers;
    const threadsPerWorker =
      lossless.length > 0 ? options.workers * options.threadsPerWorker : options.threadsPerWorker;
    if (lossless.length > 0 && options.workers > 1) {
      log(
        `note: ${lossless.map((i) => i.id).join(', ')} keep${lossless.length === 1 ? 's' : ''} every frame (no --realtime): one inference worker, on ${threadsPerWorker} threads`,
      );
    }
    const closeStreams = () => streams.forEach((s) => s.close());
    let pipeline;
    try {
      pipeline = await startLivePipeline(streams, {
        plan,
        device: options.device,
        workers,
        threadsPerWorker,
        batchSize: options.batchSize,
        batchWaitMs: options.batchWaitMs ?? 5,
        crf: {
          params: crfParams,
          enabledFor: (id) => crfOn.has(id),
          ...(options.crf.warmStart ? { warmStart: options.crf.warmStart } : {}),
          ...(options.crf.workers ? { workers: options.crf.workers } : {}),
        },
        sink: new ViewerSink(hub, (error, segmentation) => {
          metrics.framesDropped(segmentation.frame.streamId, 'error');
          logOnce(
            `stream ${segmentation.frame.streamId}: a frame could not be encoded for the viewers (${error instanceof Error ? error.message : String(error)})`,
          );
        }),
        onPublished: (segmentation) => metrics.framePublished(segmentation),
        onDropped: (stream, place, count) => metrics.framesDropped(stream, place, count),
        log,
      });
    } catch (error) {
      closeStreams();
      throw error;
    }
    const running = pipeline;
    return {
      classes,
      crfAvailable: plan.crfAvailable,
      provider: running.provider,
      fallbackReason: running.fallbackReason,
      streamIds: inputs.map((i) => i.id),
      describeStreams: () =>
        streams.map((s) => ({
          id: s.id,
          input: s.input.shown,
          kind: s.input.kind,
          status: s.status,
          ...(s.statusMessage ? { message: s.statusMessage } : {}),
          width: s.width,
          height: s.height,
          crf: crfOn.has(s.id),
          dropped: s.dropped,
          fps: metrics.streamFps(s.id),
        })),
      setCrf: (id, on) => {
        if (!plan.crfAvailable || !streams.some((s) => s.id === id)) return false;
        if (on) crfOn.add(id);
        else crfOn.delete(id);
        return true;
      },
      watchedChanged: () => {},
      finished: running.finished,
      close: async () => {
        await running.close();
        closeStreams();
      },
    };
  };
}
