/**
 * What runs a live server's streams, as its HTTP/WebSocket side sees it: the streams and their
 * state for viewers and /healthz, the CRF switch, and who watches. Two implementations — the live
 * pipeline in this process (pipeline/localLiveBackend.ts) and the cluster relay
 * (cluster/clusterLiveBackend.ts); the server does not know which it has.
 *
 *   startLiveServer({ backend: localLiveBackend(options) })   or   { backend: clusterLiveBackend(options) }
 */
import type { ZoneShares } from '../zones/zoneShares.js';
import type { ZoneSpec } from '../zones/zoneSpec.js';
import type { ZoneEvent } from '../zones/zoneTracker.js';
import type { LiveMetrics } from './metrics.js';
import type { ViewerHub } from './viewerHub.js';
import type { ClassDescription, StreamDescription } from './wireFormat.js';

/** What the server lends a back end: where frames go, what it counts, whom to tell. */
export interface LiveBackendContext {
  /** Encoded frames go to the viewers through it. */
  readonly hub: ViewerHub;
  readonly metrics: LiveMetrics;
  /** A stream's state changed: the server tells the viewers. */
  readonly streamsChanged: () => void;
  readonly log: (line: string) => void;
  /** A frame of a stream with zones was measured: each zone's shares (`capturedAt`: epoch ms). */
  readonly zonesMeasured: (stream: string, frame: number, capturedAt: number, shares: readonly ZoneShares[]) => void;
}

/** A stream asked for while the server runs (its API, the state file), checked by the server first. */
export interface StreamRequest {
  /** The stream's id; absent: made from the input, as on the command line. */
  readonly id?: string;
  readonly input: string;
  /** The CRF's state to start in; absent: the server's --crf. */
  readonly crf?: boolean;
  /** The classes this stream shows (the others become background); absent: the server's --classes-shown. */
  readonly classesShown?: readonly string[];
  /** This stream's windows (`auto` or `CxR`, as `--tiles`); absent: the server's --tiles. */
  readonly tiles?: StreamTiles;
}

export type StreamTiles = 'auto' | { readonly cols: number; readonly rows: number };

export interface LiveBackend {
  /** The model's classes and whether the CRF can be switched on: the viewers' first message. */
  readonly classes: readonly ClassDescription[];
  readonly crfAvailable: boolean;
  /** Where the model runs, for the start line (`cpu`, `cuda`, `workers of nats://…`). */
  readonly provider: string;
  readonly fallbackReason: string | undefined;
  /** The streams it runs now. */
  readonly streamIds: readonly string[];
  /** Each stream as viewers and /healthz show it. */
  describeStreams(): StreamDescription[];
  /** The stream's input as given, credentials included (for the state file only; never shown). */
  inputOf(id: string): string | undefined;
  /** A viewer asked for a stream's CRF on or off; false when there is no such stream or no CRF. */
  setCrf(streamId: string, on: boolean): boolean;
  /**
   * Starts a stream and resolves once it is asked for (a file opened, a task put); ConflictError
   * for an id already running, UsageError or InputError for an input that cannot be had.
   */
  addStream(request: StreamRequest): Promise<StreamDescription>;
  /** Stops a stream and forgets it; false when there is none by that id. */
  removeStream(id: string): Promise<boolean>;
  /** The zones measured on every frame of the stream from now on ([]: none); false when there is no such stream. */
  setZones(id: string, zones: readonly ZoneSpec[]): boolean;
  /** Starts the event's clip (`--clips`): its name, or undefined when there is none to make. */
  clipFor?(event: ZoneEvent): string | undefined;
  /** Whether a clip of that name is being recorded (not written yet). */
  clipPending?(name: string): boolean;
  /** A zone event, for consumers only this back end has (the cluster's subjects). */
  publishEvent?(event: ZoneEvent): void;
  /** The first viewer came or the last one left. */
  watchedChanged(watched: boolean): void;
  /** Rejects if the streams' pipeline fails; resolves when every input has ended (never, for a cluster's). */
  readonly finished: Promise<void>;
  close(): Promise<void>;
}

/** Starts a back end once the server's hub and metrics exist. */
export type LiveBackendFactory = (context: LiveBackendContext) => Promise<LiveBackend>;
