/**
 * What `/metrics` reports, in Prometheus' text format (prom-client, a registry of our own so two
 * servers in one process do not mix): per-stage latency histograms, end-to-end latency up to the
 * hand-over to the sockets, frames and fps per stream, frames dropped and where, source outages,
 * CRF frames started warm or cold and the share of pixels a warm one recomputed, each zone's
 * share per class and its state, events and the events consumers missed, connected viewers and the bytes held for them, and Node's process metrics (memory, event-loop lag).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Segmentation, StageTimings } from '../core/frames.js';
import type { ZoneSpec } from '../zones/zoneSpec.js';
import type { ZoneEvent, ZoneState } from '../zones/zoneTracker.js';

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5];

/** Where a frame can be dropped: at the source (inference behind), out of order, at a slow viewer, or lost with a worker. */
const DROP_PLACES = ['source', 'stale', 'viewer', 'error'] as const;
export type DropPlace = (typeof DROP_PLACES)[number];

/** The stages a relayed frame's times are kept for (a live source's decode time is its wait, not latency). */
const RELAYED_STAGES = [
  'preprocess',
  'queue',
  'infer',
  'postprocess',
  'crf',
  'write',
] as const satisfies readonly (keyof StageTimings)[];

export class LiveMetrics {
  readonly registry = new Registry();
  private readonly stageSeconds: Histogram<'stage'>;
  private readonly endToEndSeconds: Histogram<'stream'>;
  private readonly frames: Counter<'stream'>;
  private readonly droppedFrames: Counter<'stream' | 'place'>;
  private readonly outages: Counter<'stream'>;
  private readonly viewers: Gauge;
  private readonly rejectedMessages: Counter;
  private readonly crfFrames: Counter<'stream' | 'start'>;
  private readonly crfActiveShare: Histogram;
  private readonly scoresAge: Gauge<'stream'>;
  private readonly ignoredClusterMessages: Counter<'reason'>;
  private readonly fps: Gauge<'stream'>;
  private readonly zoneShare: Gauge<'stream' | 'zone' | 'class'>;
  private readonly zoneOccupied: Gauge<'stream' | 'zone'>;
  private readonly zoneEvents: Counter<'stream' | 'type'>;
  private readonly eventsDropped: Counter<'consumer'>;
  /** The zone series each stream has, so that a zone or stream removed takes its series along. */
  private readonly zoneSeries = new Map<string, { zone: string; classes: readonly string[] }[]>();
  /** Frame times of the last second, per stream, for the fps gauge. */
  private readonly recent = new Map<string, number[]>();

  /** `pendingBytes`: what the server holds for viewers right now (unsent and queued frames). */
  constructor(pendingBytes: () => number = () => 0) {
    const registers = [this.registry];
    new Gauge({
      name: 'deeplab_viewer_pending_bytes',
      help: 'Bytes held for viewers: accepted by their sockets but unsent, plus frames in their queues',
      registers,
      collect() {
        this.set(pendingBytes());
      },
    });
    this.stageSeconds = new Histogram({
      name: 'deeplab_stage_seconds',
      help: 'Time per frame in each pipeline stage',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.endToEndSeconds = new Histogram({
      name: 'deeplab_end_to_end_seconds',
      help: "From leaving the decoder to being handed to the viewers' sockets",
      labelNames: ['stream'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.frames = new Counter({
      name: 'deeplab_frames_total',
      help: 'Frames segmented and published',
      labelNames: ['stream'],
      registers,
    });
    this.droppedFrames = new Counter({
      name: 'deeplab_frames_dropped_total',
      help: 'Frames dropped: at the source (inference behind), stale (finished out of order), at a slow viewer, or error (lost with a worker that stopped)',
      labelNames: ['stream', 'place'],
      registers,
    });
    this.outages = new Counter({
      name: 'deeplab_source_outages_total',
      help: 'Times a live source was lost (and reconnected)',
      labelNames: ['stream'],
      registers,
    });
    this.viewers = new Gauge({ name: 'deeplab_viewers_connected', help: 'Connected WebSocket viewers', registers });
    this.ignoredClusterMessages = new Counter({
      name: 'deeplab_cluster_messages_ignored_total',
      help: 'Messages from the broker (serve --nats) ignored: for a stream this server does not show, or malformed',
      labelNames: ['reason'],
      registers,
    });
    this.rejectedMessages = new Counter({
      name: 'deeplab_viewer_messages_rejected_total',
      help: 'Control messages from viewers refused as malformed (not JSON, binary, or not the declared shape)',
      registers,
    });
    this.crfFrames = new Counter({
      name: 'deeplab_crf_frames_total',
      help: "Frames refined by the dense CRF: started cold, or warm (incremental, from the stream's previous frame)",
      labelNames: ['stream', 'start'],
      registers,
    });
    this.scoresAge = new Gauge({
      name: 'deeplab_scores_age_seconds',
      help: "Tiles at the camera's rate: the oldest window scores in the stream's last frame (capture time; 0 when every window ran)",
      labelNames: ['stream'],
      registers,
    });
    this.crfActiveShare = new Histogram({
      name: 'deeplab_crf_active_share',
      help: 'Share of the pixels a warm CRF frame recomputed (the others kept their labels)',
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1],
      registers,
    });
    const recent = this.recent;
    this.fps = new Gauge({
      name: 'deeplab_stream_fps',
      help: 'Frames published per second, over the last second',
      labelNames: ['stream'],
      registers,
      collect() {
        const now = performance.now();
        for (const [stream, times] of recent) this.set({ stream }, times.filter((t) => now - t <= 1000).length);
      },
    });
    this.zoneShare = new Gauge({
      name: 'deeplab_zone_share',
      help: "Share of the zone's pixels labelled the class, on the stream's latest frame (exact, from the label map)",
      labelNames: ['stream', 'zone', 'class'],
      registers,
    });
    this.zoneOccupied = new Gauge({
      name: 'deeplab_zone_occupied',
      help: '1 while the zone is occupied (its classes above minShare for minSeconds), else 0',
      labelNames: ['stream', 'zone'],
      registers,
    });
    this.zoneEvents = new Counter({
      name: 'deeplab_zone_events_total',
      help: 'zone.occupied and zone.free events',
      labelNames: ['stream', 'type'],
      registers,
    });
    this.eventsDropped = new Counter({
      name: 'deeplab_events_dropped_total',
      help: 'Events a consumer did not get: an SSE client too slow to read, a webhook that failed every retry or whose queue was full',
      labelNames: ['consumer'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** A stream's zones as the latest frame left them. */
  zonesMeasured(stream: string, zones: readonly ZoneState[], specs: readonly ZoneSpec[]): void {
    zones.forEach((zone, z) => {
      this.zoneOccupied.set({ stream, zone: zone.name }, zone.occupied ? 1 : 0);
      for (const c of specs[z]?.classes ?? [])
        this.zoneShare.set({ stream, zone: zone.name, class: c }, zone.shares[c] ?? 0);
    });
  }

  /** The stream's zones are now these: the series of the others go. */
  zonesChanged(stream: string, specs: readonly ZoneSpec[]): void {
    for (const { zone, classes } of this.zoneSeries.get(stream) ?? []) {
      this.zoneOccupied.remove({ stream, zone });
      for (const c of classes) this.zoneShare.remove({ stream, zone, class: c });
    }
    this.zoneSeries.set(
      stream,
      specs.map((s) => ({ zone: s.name, classes: s.classes })),
    );
  }

  zoneEvent(event: ZoneEvent): void {
    this.zoneEvents.inc({ stream: event.stream, type: event.type });
  }

  eventsDroppedBy(consumer: 'sse' | 'webhook' | 'nats', count = 1): void {
    this.eventsDropped.inc({ consumer }, count);
  }

  /** A stream removed while serving: its series go, so that /metrics does not grow with every stream ever added. */
  streamRemoved(stream: string): void {
    this.zonesChanged(stream, []);
    this.zoneSeries.delete(stream);
    this.recent.delete(stream);
    this.fps.remove({ stream });
    this.frames.remove({ stream });
    this.endToEndSeconds.remove({ stream });
    this.scoresAge.remove({ stream });
    this.outages.remove({ stream });
    for (const place of DROP_PLACES) this.droppedFrames.remove({ stream, place });
    for (const start of ['warm', 'cold']) this.crfFrames.remove({ stream, start });
    for (const type of ['zone.occupied', 'zone.free']) this.zoneEvents.remove({ stream, type });
  }

  framePublished(segmentation: Segmentation): void {
    const now = performance.now();
    const stream = segmentation.frame.streamId;
    for (const [stage, ms] of Object.entries(segmentation.timings) as [keyof StageTimings, number][]) {
      // A live source's "decode" time is the wait for its next frame, not latency: left out.
      if (stage !== 'decode') this.stageSeconds.observe({ stage }, ms / 1000);
    }
    this.endToEndSeconds.observe({ stream }, (now - segmentation.frame.capturedAt) / 1000);
    if (segmentation.crf) {
      this.crfFrames.inc({ stream, start: segmentation.crf.warm ? 'warm' : 'cold' });
      if (segmentation.crf.warm) this.crfActiveShare.observe(segmentation.crf.activeShare);
    }
    if (segmentation.scoresAge) this.scoresAge.set({ stream }, segmentation.scoresAge.oldestMs / 1000);
    this.counted(stream, now);
  }

  /**
   * A frame segmented elsewhere (a cluster worker), told here by its result: its stage times, and
   * its age from capture (epoch milliseconds, the worker's clock) to now.
   */
  frameRelayed(
    stream: string,
    header: {
      readonly capturedAt: number;
      readonly stageMs: Partial<Record<keyof StageTimings, number>>;
      readonly scoresAgeMs?: number | undefined;
    },
  ): void {
    const now = performance.now();
    // Only the stages there are: a label per name another machine makes up would grow without end.
    for (const stage of RELAYED_STAGES) {
      const ms = header.stageMs[stage];
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) this.stageSeconds.observe({ stage }, ms / 1000);
    }
    this.endToEndSeconds.observe({ stream }, Math.max(0, Date.now() - header.capturedAt) / 1000);
    if (header.scoresAgeMs !== undefined) this.scoresAge.set({ stream }, header.scoresAgeMs / 1000);
    this.counted(stream, now);
  }

  /** One more frame of `stream`, for the counter and the fps gauge. */
  private counted(stream: string, now: number): void {
    this.frames.inc({ stream });
    const times = this.recent.get(stream) ?? [];
    times.push(now);
    while (times.length > 0 && now - times[0]! > 1000) times.shift();
    this.recent.set(stream, times);
  }

  framesDropped(stream: string, place: DropPlace, count = 1): void {
    if (count > 0) this.droppedFrames.inc({ stream, place }, count);
  }

  sourceOutage(stream: string): void {
    this.outages.inc({ stream });
  }

  clusterMessageIgnored(reason: string): void {
    this.ignoredClusterMessages.inc({ reason });
  }

  controlMessageRejected(): void {
    this.rejectedMessages.inc();
  }

  viewersConnected(count: number): void {
    this.viewers.set(count);
  }

  /** Frames per second of a stream over the last second. */
  streamFps(stream: string): number {
    const now = performance.now();
    return (this.recent.get(stream) ?? []).filter((t) => now - t <= 1000).length;
  }
}
