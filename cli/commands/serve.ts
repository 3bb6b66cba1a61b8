/** `serve`: live inputs segmented and shown in browsers, until Ctrl-C. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parse as parseYaml } from 'yaml';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { WARM_START_ITERATIONS } from '../../crf/crfProtocol.js';
import { cpuFallbackNote } from '../../model/device.js';
import { reportFailure, type SetExitCode } from '../failure.js';
import { resolveModelFlag } from '../modelFlag.js';
import { redactSecrets } from '../../core/redact.js';
import { UsageError } from '../../core/errors.js';
import { natsSecurityOptions, natsTargetFrom } from '../natsFlags.js';
import type { NatsSecurityFlags } from '../../cluster/natsSecurity.js';
import {
  LIVE_CRF_PRUNE,
  crfKernelOptions,
  crfSwitch,
  planFlags,
  crfParams,
  modelOptions,
  modelOverridesFrom,
  positiveInt,
  type RunFlags,
  scaleFraction,
} from '../flags.js';
import { settings } from '../../core/settings.js';
import type { LiveStreamsOptions } from '../../pipeline/liveStreams.js';
import type { LiveBackendFactory } from '../../server/liveBackend.js';
import { checkInput, DEFAULT_INPUT_RULES, parseInputRules } from '../../sources/inputPolicy.js';

interface ServeFlags extends RunFlags, NatsSecurityFlags {
  port: number;
  host: string;
  token?: string;
  allowedHosts?: string[];
  maxViewers: number;
  realtime?: boolean;
  workers: number;
  nats?: string;
  inputKey?: string;
  allowInputs: string;
  state?: string;
  zones?: Record<string, unknown>;
  webhook?: string;
  webhookSecret?: string;
  testPattern: boolean;
  maxStreams: number;
  masksRle?: boolean;
  clips?: string;
  clipPre: number;
  clipPost: number;
  clipOverlay?: boolean;
  clipsMaxGb: number;
  tileMaxAge: number;
  tileBudget?: number;
}

/** A number of seconds or gigabytes within a range. */
function amount(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`${flag} takes ${min}–${max}, got "${value}"`);
    return n;
  };
}

/** `--zones FILE` or `--zones '{"cam": [...]}'`: zones per stream id, checked against the model once it is loaded. */
function zonesFlag(value: string): Record<string, unknown> {
  let text = value;
  const inline = value.trimStart().startsWith('{');
  if (!inline) {
    try {
      text = readFileSync(value, 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(`cannot read ${value} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let parsed: unknown;
  try {
    parsed = /\.json$/i.test(value) || inline ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new InvalidArgumentError(`not JSON or YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidArgumentError('takes zones per stream id: {"cam": [{"name": …, "polygon": […], "classes": […]}]}');
  return parsed as Record<string, unknown>;
}

function webhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`takes an http:// or https:// URL, got "${redactSecrets(value)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError(`takes an http:// or https:// URL, got a ${url.protocol} one`);
  return value;
}

function hostList(value: string): string[] {
  const hosts = value
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  if (hosts.length === 0 || hosts.some((h) => !/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(h))) {
    throw new InvalidArgumentError(
      `takes host names separated by commas (a leading dot allows subdomains: .example.com), got "${value}"`,
    );
  }
  return hosts;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`takes a port number 0–65535, got "${value}"`);
  return n;
}

/** What runs the streams: this process, or the workers of a cluster (`--nats`). */
async function streamsBackend(streams: LiveStreamsOptions, flags: ServeFlags): Promise<LiveBackendFactory> {
  if (!flags.nats)
    return (await import('../../pipeline/localLiveBackend.js')).localLiveBackend({
      ...streams,
      ...(flags.clips
        ? {
            clips: {
              dir: flags.clips,
              preSeconds: flags.clipPre,
              postSeconds: flags.clipPost,
              maxBytes: flags.clipsMaxGb * 1024 ** 3,
              overlay: Boolean(flags.clipOverlay),
            },
          }
        : {}),
    });
  const [{ clusterLiveBackend }, { readInputKey }] = await Promise.all([
    import('../../cluster/clusterLiveBackend.js'),
    import('../../cluster/sealedInput.js'),
  ]);
  const keyFile = flags.inputKey ?? settings().flags.inputKey;
  return clusterLiveBackend({
    ...streams,
    nats: natsTargetFrom(flags.nats, flags),
    ...(keyFile ? { inputKey: readInputKey(keyFile) } : {}),
  });
}

/** Serves until Ctrl-C / SIGTERM; one line per stream event on stderr. */
async function runServe(given: string[], flags: ServeFlags): Promise<void> {
  // No inputs: the moving test pattern, unless the streams come from the state file or the API.
  const inputs = given.length === 0 && flags.testPattern && !flags.state ? ['testsrc'] : given;
  const policy = parseInputRules(flags.allowInputs);
  if (flags.clips && flags.nats)
    throw new UsageError(
      '--clips records where the frames are, and with --nats they are on the workers: not both yet (use --clips without --nats)',
    );
  if (flags.masksRle && !flags.nats)
    throw new UsageError(
      "--masks-rle puts each frame's masks in the cluster's results (deeplab.results.<stream>): it needs --nats",
    );
  const webhookSecret = flags.webhookSecret ?? settings().flags.webhookSecret;
  const threads = flags.threads ?? Math.max(1, Math.floor(os.availableParallelism() / flags.workers));
  const log = (line: string) => process.stderr.write(`${redactSecrets(line)}\n`);
  const streams = {
    inputs,
    realtime: Boolean(flags.realtime),
    ...(flags.masksRle ? { masksRle: true } : {}),
    modelPath: await resolveModelFlag(flags.model, false, flags.tfliteArithmetic),
    modelOverrides: modelOverridesFrom(flags),
    device: flags.device,
    workers: flags.workers,
    threadsPerWorker: threads,
    batchSize: flags.batch,
    ...(flags.inputSize ? { inputSize: flags.inputSize } : {}),
    ...planFlags(flags),
    ...(flags.tileMaxAge > 0
      ? {
          tileRefresh: { maxAgeMs: flags.tileMaxAge * 1000, ...(flags.tileBudget ? { budget: flags.tileBudget } : {}) },
        }
      : {}),
    crf: {
      on: flags.crf,
      params: { pruneBelow: LIVE_CRF_PRUNE, ...crfParams(flags) },
      warmStart: { iterations: flags.crfWarmIters, sceneCut: 0.3 },
      workers: flags.crfWorkers,
    },
  };
  const [{ startLiveServer }, backend] = await Promise.all([
    import('../../server/liveServer.js'),
    streamsBackend(streams, flags),
  ]);
  const server = await startLiveServer({
    backend,
    host: flags.host,
    port: flags.port,
    ...(flags.token ? { token: flags.token } : {}),
    ...(flags.allowedHosts ? { allowedHosts: flags.allowedHosts } : {}),
    maxViewers: flags.maxViewers,
    log,
    refuseInput: (spec) => {
      const verdict = checkInput(spec, policy, 'this server (serve --allow-inputs)');
      return 'refused' in verdict ? verdict.refused : undefined;
    },
    ...(flags.zones ? { zones: flags.zones } : {}),
    ...(flags.state ? { stateFile: flags.state } : {}),
    maxStreams: flags.maxStreams,
    ...(flags.clips ? { clipsDir: flags.clips } : {}),
    ...(flags.webhook ? { webhook: { url: flags.webhook, ...(webhookSecret ? { secret: webhookSecret } : {}) } } : {}),
  });
  if (server.fallbackReason) process.stderr.write(`${cpuFallbackNote(server.fallbackReason)}\n`);
  const shown = flags.token ? `${server.url}/?token=${encodeURIComponent(flags.token)}` : `${server.url}/`;
  const streamsNow = server.streamIds.length > 0 ? server.streamIds.join(', ') : 'no stream yet (POST /api/streams)';
  process.stderr.write(`serving ${streamsNow} on ${shown} (${server.provider})\n`);
  await new Promise<void>((resolve, reject) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    server.finished.catch(reject);
  }).finally(() => server.close());
}

export function registerServe(program: Command, setExitCode: SetExitCode): void {
  const command = program
    .command('serve')
    .description('segment live inputs and show them in a browser: the viewer at /, /healthz, /metrics, WebSocket /ws')
    .argument(
      '[inputs...]',
      'files, testsrc[:WxH[@fps]], rtsp://…, http(s)://…, camera:N or /dev/videoN (none: the moving test pattern)',
    )
    .option('--port <n>', 'HTTP port (0: any free one)', port, 8080)
    .option('--host <address>', 'address to listen on (0.0.0.0 opens it to the network)', '127.0.0.1')
    .option('--token <secret>', 'require ?token=SECRET (or Authorization: Bearer) for /ws and /metrics')
    .option(
      '--allowed-hosts <names>',
      'host names the server answers to besides IP addresses, localhost and --host (comma-separated; .example.com allows subdomains)',
      hostList,
    )
    .option(
      '--max-viewers <n>',
      'WebSocket viewers at most; more are refused with 503',
      positiveInt('--max-viewers'),
      64,
    )
    .option('--realtime', 'play files at their frame rate, dropping frames when behind (default: every frame)')
    .option('--no-test-pattern', 'with no inputs, start with no stream (add them with POST /api/streams)')
    .optionsGroup('Dashboard (docs/dashboard.md):')
    .option(
      '--allow-inputs <rules>',
      'what streams added over the API may open: rtsp, rtsps, http, https, testsrc, camera, file:DIR, host:NAME, comma-separated',
      DEFAULT_INPUT_RULES,
    )
    .option(
      '--max-streams <n>',
      'streams at most, counting those added over the API (a POST beyond is answered 429)',
      positiveInt('--max-streams'),
      32,
    )
    .option(
      '--zones <file|json>',
      'zones per stream id, JSON or YAML: {"cam": [{"name": "crossing", "polygon": [[x,y],…], "classes": ["person"]}]}',
      zonesFlag,
    )
    .option(
      '--state <file>',
      "keep the streams added over the API and every stream's zones in this file, and start from it (no test pattern then)",
    )
    .option('--webhook <url>', 'POST every zone event here (JSON, retried with backoff)', webhookUrl)
    .option(
      '--clips <dir>',
      'write a clip per zone.occupied event here, from --clip-pre seconds before to --clip-post after (GET /api/clips/<name>)',
    )
    .option('--clip-pre <s>', 'seconds of video before the event', amount('--clip-pre', 0, 60), 5)
    .option('--clip-post <s>', 'seconds of video after the event', amount('--clip-post', 0, 300), 10)
    .option('--clip-overlay', 'burn the classes into the clips')
    .option(
      '--clips-max-gb <gb>',
      'disk the clips may take; the oldest are removed first',
      amount('--clips-max-gb', 0.001, 100_000),
      10,
    )
    .option(
      '--webhook-secret <secret>',
      'sign webhook bodies: x-deeplab-signature: sha256=HMAC(secret, body) [env DEEPLAB_STREAM_WEBHOOK_SECRET]',
    )
    .option(
      '--config <file>',
      'read the streams ("inputs") and any of these flags from a JSON or YAML file (keys as the flags in camelCase; a flag given here wins)',
    );
  modelOptions(command)
    .option(
      '--batch <n>',
      'frames per inference call (frames of all streams batch together)',
      positiveInt('--batch'),
      1,
    )
    .option(
      '--workers <n>',
      'inference worker threads shared by all streams (default: 2 on 2+ cores, one thread each: more frames and less latency than one worker on both cores)',
      positiveInt('--workers'),
      Math.min(2, os.availableParallelism()),
    )
    .option('--threads <n>', 'intra-op threads per worker (default: cores / workers)', positiveInt('--threads'))
    .option(
      '--tile-max-age <s>',
      "with --tiles: a frame runs the windows whose picture changed and reuses the others' scores, none older than this (0: every window, every frame)",
      amount('--tile-max-age', 0, 60),
      1,
    )
    .option(
      '--tile-budget <n>',
      "with --tiles: windows a frame runs at most, besides those reaching --tile-max-age (default: as many as the inference workers keep up with at the cameras' rates, measured)",
      positiveInt('--tile-budget'),
    )
    .optionsGroup('CRF:')
    .addOption(crfSwitch('start every stream with the dense CRF on (viewers can switch it per stream)'))
    .option(
      '--crf-iters <n>',
      'CRF mean-field iterations of a cold start',
      positiveInt('--crf-iters'),
      DEEPLAB_VOC_PARAMS.iterations,
    )
    .option(
      '--crf-warm-iters <n>',
      'CRF iterations of a frame warm-started from the previous one',
      positiveInt('--crf-warm-iters'),
      WARM_START_ITERATIONS,
    )
    .option(
      '--crf-scale <s>',
      'run the CRF at this fraction of the resolution, labels from Q upsampled (default: 0.5 for a two-label model, 0.25 above: the CRF costs more per label)',
      scaleFraction('--crf-scale'),
    )
    .option(
      '--crf-workers <n>',
      'CRF workers shared by the streams (each stream stays on one; one worker runs each frame on two cores)',
      positiveInt('--crf-workers'),
      1,
    );
  crfKernelOptions(command)
    .optionsGroup('Cluster (NATS):')
    .option(
      '--nats <url>',
      'run the streams on the workers of a NATS JetStream cluster (deeplab-stream worker --nats URL); this server shows them',
    );
  natsSecurityOptions(command)
    .option(
      '--masks-rle',
      "with --nats: each frame's labels as COCO RLE per class in deeplab.results.<stream> (docs/dashboard.md)",
    )
    .option(
      '--input-key <file>',
      "with --nats: seal inputs' credentials (rtsp://user:pw@…) with this secret for the workers, which need the same file [env DEEPLAB_STREAM_INPUT_KEY]",
    )
    .optionsGroup('Options:')
    .option('--verbose', 'print stack traces of internal errors')
    .addHelpText(
      'after',
      `
Examples:
  deeplab-stream serve                                        the moving test pattern, viewer at http://127.0.0.1:8080/
  deeplab-stream serve vtest.avi --realtime --model deeplabv3-voc --tiles auto --crf on
  deeplab-stream serve rtsp://user:pw@10.0.0.7/live camera:0 --host 0.0.0.0 --token SECRET
  deeplab-stream serve rtsp://10.0.0.7/live --nats nats://broker:4222   (run by: deeplab-stream worker --nats …)
  deeplab-stream serve --config serve.yaml                    inputs: [rtsp://10.0.0.7/live], port: 8080, model: deeplab-cityscapes
  deeplab-stream serve --no-test-pattern --state dash.json --webhook http://127.0.0.1:9000/hook   streams and zones over /api`,
    )
    .action(async (inputs: string[], flags: ServeFlags) => {
      try {
        await runServe(inputs, flags);
      } catch (error) {
        setExitCode(reportFailure(error, Boolean(flags.verbose)));
      }
    });
}
