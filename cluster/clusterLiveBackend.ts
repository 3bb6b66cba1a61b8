/**
 * The live back end whose streams run on a cluster's workers (`serve --nats`): the streams are
 * asked for and relayed by liveRelay.ts; their state is what the workers last said.
 *
 *   serve ─LiveTask─▶ KV ◀─lease─ worker ─frames─▶ relay ─▶ ViewerHub (the server's)
 */
import { redactSecrets } from '../core/redact.js';
import { liveInputFor, type LiveStreamsOptions, planLiveStreams } from '../pipeline/liveStreams.js';
import { planFields, planRun, shownClassIndices } from '../pipeline/runPlan.js';
import type { ZoneSpec } from '../zones/zoneSpec.js';
import type { LiveBackend, LiveBackendFactory, StreamTiles } from '../server/liveBackend.js';
import type { StreamDescription } from '../server/wireFormat.js';
import type { LiveInput } from '../sources/liveInputs.js';
import { startLiveRelay } from './liveRelay.js';
import type { NatsTarget } from './natsSecurity.js';
import { runSettingsFor } from './runSettings.js';
import type { InputKey } from './sealedInput.js';

export interface ClusterLiveOptions extends LiveStreamsOptions {
  readonly nats: NatsTarget;
  /** Seals inputs' credentials for the workers (sealedInput.ts). */
  readonly inputKey?: InputKey;
}

export function clusterLiveBackend(options: ClusterLiveOptions): LiveBackendFactory {
  return async ({ hub, metrics, streamsChanged, log, zonesMeasured }): Promise<LiveBackend> => {
    // The workers open the inputs, on their machines: nothing is opened here.
    const { inputs, plan, classes, crfOn } = await planLiveStreams(options, log, false);
    const zones = new Map<string, readonly ZoneSpec[]>();
    /** Streams added over the API with their own classes shown. */
    const classesShown = new Map<string, readonly string[]>();
    const ownTiles = new Map<string, StreamTiles>();
    const run = runSettingsFor({
      ...options,
      crf: { params: options.crf.params, ...(options.crf.warmStart ? { warmStart: options.crf.warmStart } : {}) },
    });
    const relay = await startLiveRelay({
      nats: options.nats,
      inputs,
      modelPath: options.modelPath,
      runOf: (id) => {
        const shown = classesShown.get(id);
        const tiles = ownTiles.get(id);
        return {
          ...run,
          ...(shown ? { classesShown: [...shown] } : {}),
          ...(tiles ? { tiles: tiles === 'auto' ? 'auto' : { cols: tiles.cols, rows: tiles.rows } } : {}),
        };
      },
      crfOn: (id) => crfOn.has(id),
      zonesOf: (id) => zones.get(id) ?? [],
      onZones: zonesMeasured,
      hub,
      metrics,
      log,
      onStatus: streamsChanged,
      ...(options.inputKey ? { inputKey: options.inputKey } : {}),
    });
    /** The stream's task again, for its worker to read within a lease tick. */
    const retell = (id: string, what: string) =>
      void relay
        .update(id)
        .catch((error: unknown) =>
          log(`stream ${id}: ${what} did not reach the cluster (${(error as Error).message})`),
        );
    const describe = (input: LiveInput): StreamDescription => {
      const status = relay.status(input.id);
      const message = status?.stale ? `its worker ${status.worker} stopped; waiting for another` : status?.message;
      return {
        id: input.id,
        input: input.shown,
        kind: input.kind,
        status: !status ? 'waiting for a worker' : status.stale ? 'outage' : status.status,
        ...(message ? { message } : {}),
        width: status?.width ?? 0,
        height: status?.height ?? 0,
        crf: crfOn.has(input.id),
        ...(classesShown.has(input.id) ? { classesShown: classesShown.get(input.id)! } : {}),
        ...(ownTiles.has(input.id) ? { tiles: ownTiles.get(input.id)! } : {}),
        dropped: status?.dropped ?? 0,
        fps: metrics.streamFps(input.id),
      };
    };
    return {
      classes,
      crfAvailable: plan.crfAvailable,
      provider: `workers of ${redactSecrets(options.nats.url)}`,
      fallbackReason: undefined,
      get streamIds() {
        return relay.inputs.map((i) => i.id);
      },
      describeStreams: () => relay.inputs.map(describe),
      inputOf: (id) => relay.inputs.find((i) => i.id === id)?.spec,
      addStream: async (request) => {
        // The workers open it: only its form is checked here, and its kind against their rules there.
        const input = liveInputFor(request, new Set(relay.inputs.map((i) => i.id)), true);
        if (request.classesShown) {
          shownClassIndices(plan.descriptor, request.classesShown, options.modelPath);
          classesShown.set(input.id, request.classesShown);
        } else classesShown.delete(input.id);
        // Its own windows: checked against the model here as --tiles would be; its worker plans them.
        if (request.tiles) {
          await planRun({
            ...planFields(options),
            tiles: request.tiles,
            batchSize: options.batchSize,
            mixedSizes: true,
            crf: options.crf.on,
          });
          ownTiles.set(input.id, request.tiles);
        } else ownTiles.delete(input.id);
        if (request.crf ?? options.crf.on) crfOn.add(input.id);
        else crfOn.delete(input.id);
        await relay.add(input);
        log(`stream ${input.id}: asked of the cluster (${input.shown})`);
        streamsChanged();
        return describe(input);
      },
      removeStream: async (id) => {
        if (!(await relay.remove(id))) return false;
        crfOn.delete(id);
        zones.delete(id);
        classesShown.delete(id);
        ownTiles.delete(id);
        metrics.streamRemoved(id);
        log(`stream ${id}: removed`);
        streamsChanged();
        return true;
      },
      setZones: (id, list) => {
        if (!relay.inputs.some((i) => i.id === id)) return false;
        zones.set(id, list);
        retell(id, 'the zones');
        return true;
      },
      publishEvent: (event) => relay.publishEvent(event),
      setCrf: (id, on) => {
        if (!plan.crfAvailable || !relay.inputs.some((i) => i.id === id)) return false;
        if (on) crfOn.add(id);
        else crfOn.delete(id);
        retell(id, 'the CRF switch');
        return true;
      },
      // A cluster's workers encode frames only while someone watches.
      watchedChanged: () =>
        void relay
          .viewersChanged()
          .catch((error: unknown) =>
            log(`the cluster did not hear that viewers came or went (${(error as Error).message})`),
          ),
      // A cluster's streams never end here: their workers come and go.
      finished: new Promise<void>(() => {}),
      close: () => relay.close(),
    };
  };
}
