/** `worker`: a process that segments chunks for `segment --nats` and live streams for `serve --nats` until stopped. */
import os from 'node:os';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { reportFailure, type SetExitCode } from '../failure.js';
import { deviceOption, positiveInt } from '../flags.js';
import { resolveModelFlag } from '../modelFlag.js';
import { natsSecurityOptions, natsTargetFrom } from '../natsFlags.js';
import type { NatsSecurityFlags } from '../../cluster/natsSecurity.js';
import type { Device } from '../../model/device.js';
import { settings } from '../../core/settings.js';

/** The operator's settings: flags, or `--config FILE` (cli/configFile.ts; a flag wins). */
interface WorkerFlags extends NatsSecurityFlags {
  nats?: string;
  allowInputs?: string;
  inputKey?: string;
  maxStreams?: number;
  maxInputSize?: number;
  maxScales?: number;
  maxTiles?: number;
  maxBatch?: number;
  maxModelMb?: number;
  modelCacheMb?: number;
  model?: string;
  device: Device;
  threads?: number;
  verbose?: boolean;
}

export function registerWorker(program: Command, setExitCode: SetExitCode): void {
  const command = program
    .command('worker')
    .description(
      'take work from a NATS JetStream cluster — chunks of videos (segment --nats) and live streams (serve --nats) — until Ctrl-C (which hands back what it holds)',
    )
    .option(
      '--nats <url>',
      "the cluster's NATS server, e.g. nats://10.0.0.5:4222 (JetStream on) [env DEEPLAB_STREAM_NATS]",
    );
  natsSecurityOptions(command)
    .option(
      '--config <file>',
      'read these settings from a JSON or YAML file (keys as the flags in camelCase; a flag given here wins)',
    )
    .option(
      '--allow-inputs <rules>',
      'what live tasks may make this worker open: rtsp, rtsps, http, https, testsrc, camera, file:DIR, host:NAME (network inputs only to these hosts), comma-separated (default: rtsp,rtsps,http,https,testsrc)',
    )
    .option(
      '--input-key <file>',
      "the secret serve --input-key seals inputs' credentials with [env DEEPLAB_STREAM_INPUT_KEY]",
    )
    .option(
      '--max-streams <n>',
      'live streams (serve --nats) this worker runs at most, besides chunks (default: 4)',
      positiveInt('--max-streams'),
    )
    .option(
      '--max-input-size <px>',
      'refuse tasks whose model input is larger than this on a side (default: 2048)',
      positiveInt('--max-input-size'),
    )
    .option(
      '--max-scales <n>',
      'refuse tasks with more inference scales than this, flips counted (default: 4)',
      positiveInt('--max-scales'),
    )
    .option(
      '--max-tiles <n>',
      'refuse tasks with more tiles per frame than this (default: 36)',
      positiveInt('--max-tiles'),
    )
    .option('--max-batch <n>', 'refuse tasks with a larger batch than this (default: 16)', positiveInt('--max-batch'))
    .option('--max-model-mb <n>', 'refuse models larger than this (default: 1024)', positiveInt('--max-model-mb'))
    .option(
      '--model-cache-mb <n>',
      'keep at most this much of fetched models on disk, least recently used removed first (default: 4096)',
      positiveInt('--model-cache-mb'),
    )
    .option(
      '--model <name|path>',
      'a model to have ready before the first chunk (jobs bring their own model; this one is then not fetched again)',
    )
    .addOption(deviceOption())
    .option('--threads <n>', 'cores for each chunk and each live stream (default: all)', positiveInt('--threads'))
    .option('--verbose', 'print stack traces of internal errors')
    .addHelpText(
      'after',
      `
Examples:
  deeplab-stream worker --nats nats://broker:4222
  deeplab-stream worker --nats tls://broker:4222 --nats-creds /etc/deeplab/worker.creds --nats-ca /etc/deeplab/ca.pem
  deeplab-stream worker --nats nats://broker:4222 --allow-inputs rtsp,host:.cams.example.com,file:/srv/videos
  deeplab-stream worker --config /etc/deeplab/worker.json     {"nats": "tls://broker:4222", "allowInputs": "rtsp", "maxBatch": 4}`,
    )
    .action(async (flags: WorkerFlags) => {
      const controller = new AbortController();
      const onSignal = () => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('stopping: the chunk in hand goes back to the queue\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const url = flags.nats ?? settings().flags.nats;
        if (!url)
          throw new UsageError(
            'worker needs the cluster\'s NATS server: --nats nats://HOST:4222 (or DEEPLAB_STREAM_NATS, or "nats" in --config)',
          );
        const [
          { runClusterWorker },
          { seedModelCache, DEFAULT_MODEL_CACHE_LIMITS },
          { parseInputRules, DEFAULT_INPUT_RULES },
          { DEFAULT_RUN_LIMITS },
          { readInputKey },
        ] = await Promise.all([
          import('../../cluster/clusterWorker.js'),
          import('../../cluster/modelCache.js'),
          import('../../sources/inputPolicy.js'),
          import('../../cluster/runLimits.js'),
          import('../../cluster/sealedInput.js'),
        ]);
        const inputs = parseInputRules(flags.allowInputs ?? DEFAULT_INPUT_RULES);
        const keyFile = flags.inputKey ?? settings().flags.inputKey;
        const nats = natsTargetFrom(url, flags);
        if (flags.model) await seedModelCache(await resolveModelFlag(flags.model));
        const mb = 1 << 20;
        const summary = await runClusterWorker({
          nats,
          device: flags.device,
          threads: flags.threads ?? os.availableParallelism(),
          maxStreams: flags.maxStreams ?? 4,
          signal: controller.signal,
          inputs,
          limits: {
            maxInputSide: flags.maxInputSize ?? DEFAULT_RUN_LIMITS.maxInputSide,
            maxScales: flags.maxScales ?? DEFAULT_RUN_LIMITS.maxScales,
            maxTiles: flags.maxTiles ?? DEFAULT_RUN_LIMITS.maxTiles,
            maxBatch: flags.maxBatch ?? DEFAULT_RUN_LIMITS.maxBatch,
          },
          modelCache: {
            maxBytes: flags.maxModelMb ? flags.maxModelMb * mb : DEFAULT_MODEL_CACHE_LIMITS.maxBytes,
            cacheBytes: flags.modelCacheMb ? flags.modelCacheMb * mb : DEFAULT_MODEL_CACHE_LIMITS.cacheBytes,
          },
          ...(keyFile ? { inputKey: readInputKey(keyFile) } : {}),
          onLog: (line) => process.stderr.write(`${line}\n`),
        });
        process.stderr.write(`worker stopped after ${summary.chunks} chunk(s), ${summary.frames} frames\n`);
      } catch (error) {
        setExitCode(reportFailure(error, Boolean(flags.verbose)));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
