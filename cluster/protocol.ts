/**
 * What the client (`segment --nats`) and the workers (`worker --nats`) say to each other through
 * NATS JetStream, and the names of the streams and buckets they share. Every message is checked
 * (zod) on arrival: they come from other machines.
 *
 *   client ──ChunkTask──▶ deeplab.chunks.<job>   (work-queue stream, one worker acknowledges each)
 *   worker ──ChunkDone──▶ deeplab.done.<job>     (stream, the client reads it in order)
 *   objects: <job>/in-<n>.mkv (chunks), <job>/out-<n>.{jsonl,masks,mp4} (results), models/<sha256>.onnx
 *
 * Live (`serve --nats`): the server puts each stream's LiveTask in the key-value bucket
 * `deeplab-live`; a worker owns a stream while it holds its lease in `deeplab-leases` (created
 * atomically, renewed every third of its time to live); it publishes
 *   deeplab.live.<stream>     the viewer's binary frame message (core NATS: latest wins, nothing kept)
 *   deeplab.status.<stream>   StreamStatus once a second (core NATS)
 *   deeplab.results.<stream>  FrameResult per frame (JetStream stream DEEPLAB_RESULTS, kept an hour)
 */
import { z } from 'zod';
import { settings } from '../core/settings.js';
import { MAX_ZONES_PER_STREAM } from '../zones/zoneSpec.js';
import type { ZoneEvent } from '../zones/zoneTracker.js';

export const CHUNK_STREAM = 'DEEPLAB_CHUNKS';
export const DONE_STREAM = 'DEEPLAB_DONE';
export const OBJECT_BUCKET = 'deeplab-objects';
export const WORKER_CONSUMER = 'deeplab-workers';
export const chunkSubject = (job: string) => `deeplab.chunks.${job}`;
export const doneSubject = (job: string) => `deeplab.done.${job}`;

/**
 * How long a job's messages and objects live when nobody removes them (a client that died): six
 * hours, or DEEPLAB_STREAM_JOB_TTL seconds (1 s to 30 days). Set where the streams are first made.
 */
export const jobTtlMs = (): number => settings().cluster.jobTtlMs;

/**
 * How long a worker may hold a chunk without a sign of life before it goes to another: 30 s, or
 * DEEPLAB_STREAM_ACK_WAIT seconds (1 s to an hour). A working worker says so every third of it.
 */
export const ackWaitMs = (): number => settings().cluster.ackWaitMs;

/**
 * How long a live stream's lease outlives its worker: 3 s, or DEEPLAB_STREAM_LEASE_TTL seconds
 * (0.5 s to 5 min). Another worker takes the stream within about that long of its owner's death.
 */
export const leaseTtlMs = (): number => settings().cluster.leaseTtlMs;

export const LIVE_BUCKET = 'deeplab-live';
export const LEASE_BUCKET = 'deeplab-leases';
export const RESULTS_STREAM = 'DEEPLAB_RESULTS';
/**
 * A stream id as one subject token and key (ids may hold dots, which separate tokens): letters,
 * digits and `-` as they are, any other character as `_` and its UTF-8 bytes in hex (`.` → `_2e`,
 * `_` → `_5f`), so that two ids never share a token.
 */
export const streamToken = (id: string) =>
  id.replace(/[^A-Za-z0-9-]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `_${b.toString(16).padStart(2, '0')}`).join(''),
  );
export const liveSubject = (id: string) => `deeplab.live.${streamToken(id)}`;
export const statusSubject = (id: string) => `deeplab.status.${streamToken(id)}`;
export const resultsSubject = (id: string) => `deeplab.results.${streamToken(id)}`;
/** Zone events of a stream (`serve --nats`), for dashboards on the broker. */
export const eventsSubject = (id: string) => `deeplab.events.${streamToken(id)}`;

/** Deliveries of one chunk before it is given up (each one a worker that died or failed on it). */
export const MAX_DELIVERIES = 5;

const name = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const objectName = z
  .string()
  .regex(/^[A-Za-z0-9_./-]{1,200}$/)
  .refine((s) => !s.split('/').includes('..'));
const positive = z.number().finite().positive();
const fraction = z.number().finite().min(0).max(1);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const CRF_SETTINGS = z.strictObject({
  iterations: z.number().int().min(1).max(100).optional(),
  bilateral: z
    .strictObject({ weight: z.number().finite().min(0).optional(), xy: positive.optional(), rgb: positive.optional() })
    .optional(),
  gaussian: z.strictObject({ weight: z.number().finite().min(0).optional(), xy: positive.optional() }).optional(),
  normalization: z.enum(['after', 'symmetric']).optional(),
  pruneBelow: fraction.optional(),
  scale: positive.max(1).optional(),
});

/** The run's settings a worker applies to its chunk: `segment`'s flags less its outputs and cores. */
const RUN_SETTINGS = z.strictObject({
  batchSize: z.number().int().min(1).max(64),
  inputSize: z.tuple([z.number().int().min(16).max(8192), z.number().int().min(16).max(8192)]).optional(),
  tiles: z
    .union([
      z.literal('auto'),
      z.strictObject({ cols: z.number().int().min(1).max(16), rows: z.number().int().min(1).max(16) }),
    ])
    .optional(),
  tileOverlap: fraction.max(0.9).optional(),
  /** Live tiles at the camera's rate (`serve --tile-max-age`, `--tile-budget`). */
  tileRefresh: z
    .strictObject({
      maxAgeMs: z.number().finite().min(1).max(60_000),
      budget: z.number().int().min(1).max(256).optional(),
    })
    .optional(),
  scales: z.array(positive.max(4)).min(1).max(8).optional(),
  flip: z.boolean().optional(),
  opacity: fraction.optional(),
  overlayStyle: z.enum(['fill', 'outline', 'both']).optional(),
  classesShown: z.array(z.string().max(200)).max(1024).optional(),
  legend: z.boolean().optional(),
  /** Each frame's labels as COCO RLE in the frames JSON (segment) or the results (serve). */
  masksRle: z.boolean().optional(),
  encoderPreset: z
    .string()
    .regex(/^[a-z]{1,12}$/)
    .optional(),
  crf: z
    .strictObject({
      params: CRF_SETTINGS,
      warmStart: z.strictObject({ iterations: z.number().int().min(1).max(100), sceneCut: fraction }).optional(),
    })
    .optional(),
  modelOverrides: z.unknown().optional(),
  strict: z.boolean().optional(),
});
export type RunSettings = z.infer<typeof RUN_SETTINGS>;

const CHUNK_TASK = z.strictObject({
  job: name,
  chunk: z.number().int().min(0),
  chunks: z.number().int().min(1),
  input: objectName,
  /** The model's ONNX file in the object store, named by its content (models/<sha256>.onnx). */
  model: z.strictObject({ object: objectName }),
  outputs: z.strictObject({ video: z.boolean(), masks: z.boolean() }),
  run: RUN_SETTINGS,
});
export type ChunkTask = z.infer<typeof CHUNK_TASK>;

const ERROR_ENVELOPE = z.strictObject({
  kind: z.enum([
    'InputError',
    'SourceError',
    'ModelError',
    'OutputError',
    'EnvironmentError',
    'UsageError',
    'WorkerLostError',
    'CancelledError',
    'ClusterError',
    'internal',
  ]),
  message: z.string().max(2000),
});

const CHUNK_DONE = z.discriminatedUnion('ok', [
  z.strictObject({
    ok: z.literal(true),
    job: name,
    chunk: z.number().int().min(0),
    worker: z.string().max(200),
    frames: z.number().int().min(0),
    objects: z.strictObject({ frames: objectName, masks: objectName.optional(), video: objectName.optional() }),
  }),
  z.strictObject({
    ok: z.literal(false),
    job: name,
    chunk: z.number().int().min(0),
    worker: z.string().max(200),
    error: ERROR_ENVELOPE,
  }),
]);
export type ChunkDone = z.infer<typeof CHUNK_DONE>;

/** Messages larger than this are refused before parsing (the broker's own limit is 1 MiB by default). */
export const MAX_MESSAGE_BYTES = 1 << 20;

function parse<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  if (bytes.length > MAX_MESSAGE_BYTES) throw new Error(`${what} is too large (${bytes.length} bytes)`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new Error(
      `${what} is malformed (${parsed.error.issues[0]?.path.join('.') || 'message'}: ${parsed.error.issues[0]?.message})`,
    );
  return parsed.data;
}

const LIVE_TASK = z.strictObject({
  stream: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/),
  /**
   * The input as given to serve, credentials redacted (what logs show); the worker opens it only
   * where its rules allow (inputPolicy.ts).
   */
  input: z.string().min(1).max(2000),
  /** The whole input, credentials included, sealed with the key serve and its workers share (sealedInput.ts). */
  sealedInput: z.string().max(6000).optional(),
  realtime: z.boolean(),
  model: z.strictObject({ object: objectName }),
  run: RUN_SETTINGS,
  crfOn: z.boolean(),
  /** Someone watches the server's viewer: frames are encoded and published only then (results always). */
  watched: z.boolean(),
  /** The serve process that asked (host:pid). */
  server: z.string().max(200),
  /** Zones whose shares the worker measures on every frame (checked against its model by parseZones). */
  zones: z.array(z.unknown()).max(MAX_ZONES_PER_STREAM).optional(),
});
export type LiveTask = z.infer<typeof LIVE_TASK>;

const STREAM_STATUS = z.strictObject({
  stream: z.string().max(100),
  worker: z.string().max(200),
  status: z.string().max(40),
  message: z.string().max(1000).optional(),
  width: z.number().int().min(0),
  height: z.number().int().min(0),
  dropped: count,
});
export type StreamStatus = z.infer<typeof STREAM_STATUS>;

const FRAME_RESULT = z.strictObject({
  stream: z.string().max(100),
  index: count,
  /** Epoch milliseconds when the frame left the decoder, and when its labels were ready (the worker's clock). */
  capturedAt: z.number().finite().min(0),
  inferredAt: z.number().finite().min(0),
  width: z.number().int().min(1).max(16384),
  height: z.number().int().min(1).max(16384),
  crf: z.boolean(),
  /** Pixels per class name (classes with none left out). */
  pixels: z.record(z.string().max(100), count).refine((p) => Object.keys(p).length <= 1024, 'at most 1024 classes'),
  /** Milliseconds per pipeline stage for this frame. */
  stageMs: z
    .record(z.string().max(40), z.number().finite().min(0))
    .refine((s) => Object.keys(s).length <= 32, 'at most 32 stages'),
  worker: z.string().max(200),
  /** Tiles at the camera's rate: the oldest window scores in this frame (ms of capture time). */
  scoresAgeMs: z.number().finite().min(0).max(3_600_000).optional(),
  /** The frame's labels as COCO RLE per class present (`--masks-rle`); left out of a result that would be too large. */
  masks: z
    .record(
      z.string().max(200),
      z.strictObject({ size: z.tuple([count, count]), counts: z.string().max(MAX_MESSAGE_BYTES) }),
    )
    .refine((m) => Object.keys(m).length <= 1024, 'at most 1024 classes')
    .optional(),
  /** Each zone's shares on this frame (streams with zones only). */
  zones: z
    .array(
      z.strictObject({
        zone: z.string().max(64),
        share: fraction,
        shares: z
          .record(z.string().max(200), fraction)
          .refine((s) => Object.keys(s).length <= 64, 'at most 64 classes'),
      }),
    )
    .max(MAX_ZONES_PER_STREAM)
    .optional(),
});
/** What dashboards read on deeplab.results.<stream>: one per segmented frame. */
export type FrameResult = z.infer<typeof FRAME_RESULT>;

/** The part of JetStream's max-deliveries advisory the client reads (the server's, or anyone's who may publish there). */
const MAX_DELIVERIES_ADVISORY = z.looseObject({
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number().int().min(1),
});
export type MaxDeliveriesAdvisory = z.infer<typeof MAX_DELIVERIES_ADVISORY>;

export const parseLiveTask = (bytes: Uint8Array): LiveTask => parse(LIVE_TASK, bytes, 'a live stream task');
export const parseFrameResult = (bytes: Uint8Array): FrameResult => parse(FRAME_RESULT, bytes, 'a frame result');
export const parseMaxDeliveriesAdvisory = (bytes: Uint8Array): MaxDeliveriesAdvisory =>
  parse(MAX_DELIVERIES_ADVISORY, bytes, 'a max-deliveries advisory');
export const parseStreamStatus = (bytes: Uint8Array): StreamStatus => parse(STREAM_STATUS, bytes, 'a stream status');

export const parseChunkTask = (bytes: Uint8Array): ChunkTask => parse(CHUNK_TASK, bytes, 'a chunk task');
export const parseChunkDone = (bytes: Uint8Array): ChunkDone => parse(CHUNK_DONE, bytes, 'a chunk result');
export const encode = (
  message: ChunkTask | ChunkDone | LiveTask | StreamStatus | FrameResult | ZoneEvent,
): Uint8Array => new TextEncoder().encode(JSON.stringify(message));
