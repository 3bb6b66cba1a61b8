/**
 * What runs a live server's streams, as its HTTP/WebSocket side sees it: the streams and their
 * state for viewers and /healthz, the CRF switch, and who watches. Two implementations — the live
 * pipeline in this process (pipeline/localLiveBackend.ts) and the cluster relay
 * (cluster/clusterLiveBackend.ts); the server does not know which it has.
 *
 *   startLiveServer({ backend: localLiveBackend(options) })   or   { backend: clusterLiveBackend(options) }
 */
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
}

export interface LiveBackend {
  /** The model's classes and whether the CRF can be switched on: the viewers' first message. */
  readonly classes: readonly ClassDescription[];
  readonly crfAvailable: boolean;
  /** Where the model runs, for the start line (`cpu`, `cuda`, `workers of nats://…`). */
  readonly provider: string;
  readonly fallbackReason: string | undefined;
  readonly streamIds: readonly string[];
  /** Each stream as viewers and /healthz show it. */
  describeStreams(): StreamDescription[];
  /** A viewer asked for a stream's CRF on or off; false when there is no such stream or no CRF. */
  setCrf(streamId: string, on: boolean): boolean;
  /** The first viewer came or the last one left. */
  watchedChanged(watched: boolean): void;
  /** Rejects if the streams' pipeline fails; resolves when every input has ended (never, for a cluster's). */
  readonly finished: Promise<void>;
  close(): Promise<void>;
}

/** Starts a back end once the server's hub and metrics exist. */
export type LiveBackendFactory = (context: LiveBackendContext) => Promise<LiveBackend>;
