/**
 * The live back end that runs its streams in this process: one LiveStream per input in a set that
 * may change while it runs (the server's API), the live pipeline (livePipeline.ts: credits,
 * batches across streams, shared workers, latest wins, CRF per stream), a ViewerSink into the
 * server's hub, and each stream's zones measured on its label maps as they are published.
 *
 *   LiveStreamSet ─▶ startLivePipeline ─▶ ViewerSink ─▶ ViewerHub (the server's)
 *                                      └▶ zone shares ─▶ the server's zone trackers
 */
import { ConflictError } from '../core/errors.js';
import type { Segmentation } from '../core/frames.js';
import type { LiveBackend, LiveBackendFactory, StreamRequest, StreamTiles } from '../server/liveBackend.js';
import { ViewerSink } from '../server/viewerSink.js';
import { epochMs, type StreamDescription } from '../server/wireFormat.js';
import type { LiveInput } from '../sources/liveInputs.js';
import { LiveStream, type LiveStreamOptions } from '../sources/liveStream.js';
import { LiveStreamSet } from '../sources/liveStreamSet.js';
import { zoneMeasure } from '../zones/zoneShares.js';
import type { ZoneEvent } from '../zones/zoneEvent.js';
import { EventClips } from '../sinks/eventClips.js';
import { classAlphas } from '../sinks/overlay.js';
import { startLivePipeline } from './livePipeline.js';
import { liveInputFor, type LiveStreamsOptions, planLiveStreams } from './liveStreams.js';
import { planFields, planRun, type RunPlan, shownClassIndices } from './runPlan.js';

export interface LocalLiveOptions extends LiveStreamsOptions {
  readonly reconnect?: LiveStreamOptions;
  /** Event clips with pre-roll (`--clips DIR`): recorded for streams with zones. */
  readonly clips?: {
    readonly dir: string;
    readonly preSeconds: number;
    readonly postSeconds: number;
    readonly maxBytes: number;
    /** Burn the classes into the clips. */
    readonly overlay: boolean;
  };
}

export function localLiveBackend(options: LocalLiveOptions): LiveBackendFactory {
  return async ({ hub, metrics, streamsChanged, log, zonesMeasured }): Promise<LiveBackend> => {
    const { inputs, plan, crfParams, classes, crfOn } = await planLiveStreams(options, log, true);
    const { classNames } = plan.descriptor;
    const measures = new Map<string, ReturnType<typeof zoneMeasure>>();
    /** Streams added over the API with their own classes shown, or their own windows. */
    const shownClasses = new Map<string, readonly number[]>();
    const ownTiles = new Map<string, { readonly tiles: StreamTiles; readonly inputsFor: RunPlan['inputsFor'] }>();
    const { palette } = plan.descriptor;
    const clips = options.clips
      ? new EventClips({
          dir: options.clips.dir,
          preSeconds: options.clips.preSeconds,
          postSeconds: options.clips.postSeconds,
          maxBytes: options.clips.maxBytes,
          ...(options.clips.overlay ? { overlay: { palette, alphas: classAlphas(classNames, 0.55) } } : {}),
          log,
        })
      : null;
    const streamFor = (input: LiveInput) => {
      const stream = new LiveStream(input, options.reconnect);
      stream.on('dropped', () => metrics.framesDropped(stream.id, 'source'));
      stream.on('status', (status, message) => {
        if (status === 'outage') metrics.sourceOutage(stream.id);
        log(`stream ${stream.id}: ${status}${message ? `: ${message}` : ''}`);
        streamsChanged();
      });
      return stream;
    };
    // A server with no stream at the start is there to take them over its API: it waits for them.
    const streams = new LiveStreamSet(inputs.map(streamFor), inputs.length === 0);
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
    const measureZones = (segmentation: Segmentation) => {
      const { frame, labels } = segmentation;
      const measure = measures.get(frame.streamId);
      if (!measure) return;
      clips?.push(segmentation);
      zonesMeasured(frame.streamId, frame.index, epochMs(frame.capturedAt), measure(labels, frame.width, frame.height));
    };
    let pipeline;
    try {
      pipeline = await startLivePipeline(streams, {
        plan,
        device: options.device,
        workers,
        threadsPerWorker,
        batchSize: options.batchSize,
        batchWaitMs: options.batchWaitMs ?? 5,
        ...(options.tileRefresh ? { windowRefresh: options.tileRefresh } : {}),
        crf: {
          params: crfParams,
          enabledFor: (id) => crfOn.has(id),
          ...(options.crf.warmStart ? { warmStart: options.crf.warmStart } : {}),
          ...(options.crf.workers ? { workers: options.crf.workers } : {}),
        },
        shownClassesOf: (id) => shownClasses.get(id),
        inputsOf: (id) => ownTiles.get(id)?.inputsFor,
        sink: new ViewerSink(hub, (error, segmentation) => {
          metrics.framesDropped(segmentation.frame.streamId, 'error');
          logOnce(
            `stream ${segmentation.frame.streamId}: a frame could not be encoded for the viewers (${error instanceof Error ? error.message : String(error)})`,
          );
        }),
        onPublished: (segmentation) => {
          // A frame of a stream removed while it was in flight: its series are gone and stay gone.
          if (!streams.get(segmentation.frame.streamId)) return;
          metrics.framePublished(segmentation);
          measureZones(segmentation);
        },
        onDropped: (stream, place, count) => metrics.framesDropped(stream, place, count),
        log,
      });
    } catch (error) {
      streams.close();
      throw error;
    }
    const running = pipeline;
    const describe = (s: LiveStream): StreamDescription => ({
      id: s.id,
      input: s.input.shown,
      kind: s.input.kind,
      status: s.status,
      ...(s.statusMessage ? { message: s.statusMessage } : {}),
      width: s.width,
      height: s.height,
      crf: crfOn.has(s.id),
      ...(shownClasses.has(s.id)
        ? {
            classesShown: shownClasses
              .get(s.id)!
              .map((c) => classNames[c]!)
              .filter((n) => n !== 'background'),
          }
        : {}),
      ...(ownTiles.has(s.id) ? { tiles: ownTiles.get(s.id)!.tiles } : {}),
      dropped: s.dropped,
      fps: metrics.streamFps(s.id),
    });
    return {
      classes,
      crfAvailable: plan.crfAvailable,
      provider: running.provider,
      fallbackReason: running.fallbackReason,
      get streamIds() {
        return streams.streams.map((s) => s.id);
      },
      describeStreams: () => streams.streams.map(describe),
      inputOf: (id) => streams.get(id)?.input.spec,
      addStream: async (request: StreamRequest) => {
        // Streams asked for while serving are live: files are paced at their rate and drop frames when behind.
        const input = liveInputFor(request, new Set(streams.streams.map((s) => s.id)), true);
        const shown = request.classesShown
          ? shownClassIndices(plan.descriptor, request.classesShown, options.modelPath)
          : undefined;
        // Its own windows: planned as --tiles would be, every check against the model included.
        const tiled = request.tiles
          ? await planRun({
              ...planFields(options),
              tiles: request.tiles,
              batchSize: options.batchSize,
              mixedSizes: true,
              crf: options.crf.on,
            })
          : undefined;
        if (input.kind === 'file') await input.open();
        // Checked again: another request may have taken the id while the file opened.
        if (streams.get(input.id)) throw new ConflictError(`there is already a stream ${input.id}: remove it first`);
        if (request.crf ?? options.crf.on) crfOn.add(input.id);
        else crfOn.delete(input.id);
        if (shown) shownClasses.set(input.id, shown);
        else shownClasses.delete(input.id);
        if (tiled && request.tiles) ownTiles.set(input.id, { tiles: request.tiles, inputsFor: tiled.inputsFor });
        else ownTiles.delete(input.id);
        const stream = streamFor(input);
        streams.keepOpen();
        streams.add(stream);
        log(`stream ${input.id}: added (${input.shown})`);
        streamsChanged();
        return describe(stream);
      },
      removeStream: async (id) => {
        streams.keepOpen();
        if (!streams.remove(id)) return false;
        crfOn.delete(id);
        shownClasses.delete(id);
        ownTiles.delete(id);
        measures.delete(id);
        await clips?.removeStream(id);
        metrics.streamRemoved(id);
        log(`stream ${id}: removed`);
        streamsChanged();
        return true;
      },
      setZones: (id, zones) => {
        if (!streams.get(id)) return false;
        if (zones.length === 0) measures.delete(id);
        else measures.set(id, zoneMeasure(zones, classNames));
        return true;
      },
      setCrf: (id, on) => {
        if (!plan.crfAvailable || !streams.get(id)) return false;
        if (on) crfOn.add(id);
        else crfOn.delete(id);
        return true;
      },
      ...(clips
        ? {
            clipFor: (event: ZoneEvent) =>
              clips.clipFor(event.stream, event.zone, Date.parse(event.at) - performance.timeOrigin, event.at),
            clipPending: (name: string) => clips.readyAt(name) !== undefined,
          }
        : {}),
      watchedChanged: () => {},
      finished: running.finished,
      close: async () => {
        await running.close();
        streams.close();
        await clips?.close();
      },
    };
  };
}
