/**
 * A connection to the cluster's NATS server with JetStream, and what client and workers share on
 * it: the work-queue stream of chunks, the stream of results, the workers' consumer and the object
 * store. Each is made on first use (the same settings from every process) and found afterwards.
 *
 *   const cluster = await openCluster({ url: 'nats://127.0.0.1:4222' }, { role: 'client' }); await cluster.putFile(name, file); await cluster.close();
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { connect, credsAuthenticator, type NatsConnection, nkeyAuthenticator } from '@nats-io/transport-node';
import { ClusterError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { describeNatsFailure, type NatsTarget, natsConnectSettings } from './natsSecurity.js';
import {
  ackWaitMs,
  CHUNK_STREAM,
  DONE_STREAM,
  jobTtlMs,
  LEASE_BUCKET,
  leaseTtlMs,
  LIVE_BUCKET,
  MAX_DELIVERIES,
  OBJECT_BUCKET,
  RESULTS_STREAM,
  WORKER_CONSUMER,
} from './protocol.js';
import { settings } from '../core/settings.js';

const nanos = (ms: number) => Math.round(ms * 1e6);

const MIB = 1 << 20;
/**
 * What each stream and bucket may hold at most (set where it is first made): one publisher cannot
 * fill the broker's disk. The object store holds jobs' chunks and outputs: DEEPLAB_STREAM_STORE_MB
 * (default 10 GiB) where jobs are larger.
 */
const STORE_LIMITS = {
  objects: settings().cluster.storeBytes,
  queue: 64 * MIB,
  results: 1024 * MIB,
  tasks: 16 * MIB,
  leases: MIB,
  messageBytes: 64 * 1024,
  taskBytes: 64 * 1024,
  leaseBytes: 256,
};

/** Which part of the product connects: each has its own reply subjects (`_INBOX_<role>.>`), so that a server's permissions can keep one role from reading another's replies. */
export type ClusterRole = 'client' | 'worker' | 'server';

export interface Cluster {
  /** The server's URL as it may be shown (no credentials). */
  readonly url: string;
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly objects: ObjectStore;
  putFile(name: string, file: string): Promise<void>;
  getFile(name: string, file: string): Promise<void>;
  putBytes(name: string, bytes: Uint8Array): Promise<void>;
  getBytes(name: string): Promise<Uint8Array>;
  /** A model file in the object store under its content's name (put once for the whole cluster). */
  putModel(modelPath: string): Promise<{ object: string }>;
  /** The live side: streams asked for (key: stream token), and the workers' leases on them. */
  liveStores(): Promise<{ readonly tasks: KV; readonly leases: KV }>;
  /** Resolves when the connection is gone for good (closed, or the server lost past reconnecting). */
  readonly lost: Promise<Error | undefined>;
  close(): Promise<void>;
}

function reason(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return redactSecrets(e.message || e.code || String(error));
}

/**
 * Connects and makes sure the streams, consumer and bucket are there. `persistent`: a worker keeps
 * trying to reconnect for ever; a client gives up after about five seconds (its run then fails).
 */
export async function openCluster(
  target: NatsTarget,
  options: {
    readonly role: ClusterRole;
    readonly persistent?: boolean;
    readonly name?: string;
    readonly log?: (line: string) => void;
  },
): Promise<Cluster> {
  const url = redactSecrets(target.url);
  const settings = natsConnectSettings(target, `_INBOX_${options.role}`);
  const authenticator = settings.creds
    ? credsAuthenticator(settings.creds)
    : settings.nkeySeed
      ? nkeyAuthenticator(settings.nkeySeed)
      : undefined;
  let connection: NatsConnection;
  try {
    connection = await connect({
      ...settings.options,
      ...(authenticator ? { authenticator } : {}),
      name: options.name ?? 'deeplab-stream',
      timeout: 5000,
      reconnectTimeWait: 500,
      maxReconnectAttempts: options.persistent ? -1 : 10,
    });
  } catch (error) {
    throw new ClusterError(describeNatsFailure(target, error));
  }
  try {
    const jsm = await jetstreamManager(connection, { timeout: 10_000 }).catch((error: unknown) => {
      throw new ClusterError(`the NATS server at ${url} has no JetStream (${reason(error)}): start it with -js`);
    });
    const js = jetstream(connection, { timeout: 30_000 });
    await ensureStreams(jsm);
    const objects = await new Objm(js).create(OBJECT_BUCKET, {
      ttl: nanos(jobTtlMs()),
      max_bytes: STORE_LIMITS.objects,
    });
    if (options.log) {
      const log = options.log;
      void (async () => {
        for await (const status of connection.status()) {
          if (status.type === 'disconnect')
            log(
              `lost the NATS server at ${url}; reconnecting (what it holds goes back to the queue if it does not come back in time)`,
            );
          if (status.type === 'reconnect') log(`reconnected to the NATS server at ${url}`);
        }
      })();
    }
    let closing = false;
    let live: Promise<{ tasks: KV; leases: KV }> | undefined;
    const lost = connection
      .closed()
      .then((error) =>
        closing
          ? undefined
          : new ClusterError(
              `lost the NATS server at ${url}${error ? ` (${reason(error)})` : ''}: is it running? the run stopped and wrote nothing`,
            ),
      );
    const cluster: Cluster = {
      url,
      connection,
      js,
      jsm,
      objects,
      lost,
      putFile: async (name, file) => {
        await objects.put({ name }, Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>);
      },
      getFile: async (name, file) => {
        const result = await objects.get(name);
        if (!result)
          throw new ClusterError(`${name} is not in the cluster's object store (expired, or removed by its client)`);
        await pipeline(
          Readable.fromWeb(result.data as unknown as NodeReadableStream<Uint8Array>),
          createWriteStream(file),
        );
        const failure = await result.error;
        if (failure) throw new ClusterError(`reading ${name} from the object store failed (${reason(failure)})`);
      },
      putBytes: async (name, bytes) => void (await objects.putBlob({ name }, bytes)),
      getBytes: async (name) => {
        const bytes = await objects.getBlob(name);
        if (!bytes)
          throw new ClusterError(`${name} is not in the cluster's object store (expired, or removed by its client)`);
        return bytes;
      },
      putModel: async (modelPath) => {
        const object = `models/${createHash('sha256').update(readFileSync(modelPath)).digest('hex')}.onnx`;
        if (!(await objects.info(object))) await cluster.putFile(object, modelPath);
        return { object };
      },
      liveStores: async () => {
        live ??= (async () => {
          const kvm = new Kvm(js);
          // A task lives three lease lifetimes unless its server puts it again: a server that died leaves none behind.
          const tasks = await kvm.create(LIVE_BUCKET, {
            history: 1,
            ttl: 3 * leaseTtlMs(),
            max_bytes: STORE_LIMITS.tasks,
            maxValueSize: STORE_LIMITS.taskBytes,
          });
          const leases = await kvm.create(LEASE_BUCKET, {
            history: 1,
            ttl: leaseTtlMs(),
            max_bytes: STORE_LIMITS.leases,
            maxValueSize: STORE_LIMITS.leaseBytes,
          });
          if (
            !(await jsm.streams.info(RESULTS_STREAM).then(
              () => true,
              () => false,
            ))
          ) {
            await jsm.streams
              .add({
                name: RESULTS_STREAM,
                subjects: ['deeplab.results.>'],
                max_age: nanos(3600_000),
                max_msgs_per_subject: 100_000,
                max_bytes: STORE_LIMITS.results,
                max_msg_size: STORE_LIMITS.messageBytes,
              })
              .catch(() => undefined);
          }
          return { tasks, leases };
        })();
        return live;
      },
      close: async () => {
        closing = true;
        if (!connection.isClosed()) await connection.drain().catch(() => connection.close());
      },
    };
    return cluster;
  } catch (error) {
    await connection.close();
    if (error instanceof ClusterError) throw error;
    throw new ClusterError(`the NATS server at ${url} refused the cluster's streams (${reason(error)})`);
  }
}

async function ensureStreams(jsm: JetStreamManager): Promise<void> {
  const ttl = nanos(jobTtlMs());
  // Another process may make the same thing at the same moment: then it is there, which is all we need.
  const made = async (make: () => Promise<unknown>, found: () => Promise<unknown>) => {
    if (
      await found().then(
        () => true,
        () => false,
      )
    )
      return;
    await make().catch(async (error: unknown) => {
      if (
        !(await found().then(
          () => true,
          () => false,
        ))
      )
        throw error;
    });
  };
  const small = { max_bytes: STORE_LIMITS.queue, max_msg_size: STORE_LIMITS.messageBytes };
  await made(
    () =>
      jsm.streams.add({
        name: CHUNK_STREAM,
        subjects: ['deeplab.chunks.>'],
        retention: RetentionPolicy.Workqueue,
        max_age: ttl,
        ...small,
      }),
    () => jsm.streams.info(CHUNK_STREAM),
  );
  await made(
    () => jsm.streams.add({ name: DONE_STREAM, subjects: ['deeplab.done.>'], max_age: ttl, ...small }),
    () => jsm.streams.info(DONE_STREAM),
  );
  await made(
    () =>
      jsm.consumers.add(CHUNK_STREAM, {
        durable_name: WORKER_CONSUMER,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(ackWaitMs()),
        max_deliver: MAX_DELIVERIES,
        max_ack_pending: -1,
      }),
    () => jsm.consumers.info(CHUNK_STREAM, WORKER_CONSUMER),
  );
}
