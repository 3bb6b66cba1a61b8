/**
 * Every environment variable deeplab-stream reads, in one place: its name, what it is for, its type,
 * range and default. Read through `settings()`, parsed once for a given environment (tests and
 * embedding applications may change `process.env`; a change is parsed again, never half-seen).
 * A value out of range or of the wrong kind is one line on stderr and the nearest allowed value —
 * a service started with a typo keeps running with what it says it uses.
 *
 * @example
 * const { cacheDir, cluster } = settings();
 * setTimeout(retry, cluster.ackWaitMs);
 */
import os from 'node:os';
import path from 'node:path';

/** What a variable holds and how its text becomes a value. */
type Spec =
  | { readonly kind: 'text'; readonly about: string }
  | { readonly kind: 'switch'; readonly about: string; readonly fallback: boolean }
  | {
      readonly kind: 'number';
      readonly about: string;
      readonly unit: string;
      readonly fallback: number;
      readonly min: number;
      readonly max: number;
    };

/** The variables, by name: docs/configuration.md lists the same (a test holds it to that). */
export const ENVIRONMENT = {
  DEEPLAB_STREAM_CACHE: {
    kind: 'text',
    about: 'where fetched and imported models are kept (default $XDG_CACHE_HOME/deeplab-stream)',
  },
  DEEPLAB_STREAM_MODEL_MIRROR: {
    kind: 'text',
    about: 'a URL or directory to fetch catalogue models from instead of their published addresses',
  },
  FFMPEG_PATH: { kind: 'text', about: 'the ffmpeg binary to use' },
  FFPROBE_PATH: { kind: 'text', about: 'the ffprobe binary to use' },
  DEEPLAB_STREAM_GSTREAMER: {
    kind: 'switch',
    about: 'use the optional GStreamer binding where installed',
    fallback: true,
  },
  DEEPLAB_STREAM_CRF_NATIVE: { kind: 'switch', about: "the CRF's native AVX2 kernels where built", fallback: true },
  DEEPLAB_STREAM_CRF_NATIVE_IMAGE: {
    kind: 'switch',
    about: 'a one-image crf whole in the native addon',
    fallback: true,
  },
  DEEPLAB_STREAM_CRF_WASM: {
    kind: 'switch',
    about: "the CRF's WebAssembly engine (off: the reference engine)",
    fallback: true,
  },
  DEEPLAB_STREAM_HUGE_PAGES: { kind: 'switch', about: "huge pages for the CRF's memory", fallback: true },
  DEEPLAB_STREAM_CRF_SPIN_US: {
    kind: 'number',
    about: "how long the CRF's two threads spin before they sleep",
    unit: 'µs',
    fallback: 200,
    min: 0,
    max: 100_000,
  },
  DEEPLAB_STREAM_JOB_TTL: {
    kind: 'number',
    about: "how long a cluster job's messages and objects live when nobody removes them",
    unit: 's',
    fallback: 6 * 3600,
    min: 1,
    max: 30 * 86400,
  },
  DEEPLAB_STREAM_ACK_WAIT: {
    kind: 'number',
    about: 'how long a worker may hold a chunk without a sign of life',
    unit: 's',
    fallback: 30,
    min: 1,
    max: 3600,
  },
  DEEPLAB_STREAM_LEASE_TTL: {
    kind: 'number',
    about: "how long a live stream's lease outlives its worker",
    unit: 's',
    fallback: 3,
    min: 0.5,
    max: 300,
  },
  DEEPLAB_STREAM_STORE_MB: {
    kind: 'number',
    about: "the cluster object store's size",
    unit: 'MB',
    fallback: 10 * 1024,
    min: 64,
    max: 1 << 24,
  },
  DEEPLAB_STREAM_NATS: { kind: 'text', about: '`worker`: the NATS URL when --nats is not given' },
  DEEPLAB_STREAM_INPUT_KEY: { kind: 'text', about: '`serve`, `worker`: the --input-key file' },
  DEEPLAB_STREAM_WEBHOOK_SECRET: { kind: 'text', about: '`serve`: --webhook-secret (flags show in `ps`)' },
  DEEPLAB_STREAM_NATS_CREDS: { kind: 'text', about: '--nats-creds' },
  DEEPLAB_STREAM_NATS_NKEY: { kind: 'text', about: '--nats-nkey' },
  DEEPLAB_STREAM_NATS_TOKEN: { kind: 'text', about: '--nats-token' },
  DEEPLAB_STREAM_NATS_CA: { kind: 'text', about: '--nats-ca' },
  DEEPLAB_STREAM_NATS_CERT: { kind: 'text', about: '--nats-cert' },
  DEEPLAB_STREAM_NATS_KEY: { kind: 'text', about: '--nats-key' },
  DEEPLAB_STREAM_NATS_TLS_REQUIRED: { kind: 'switch', about: '--nats-tls-required', fallback: false },
} as const satisfies Record<string, Spec>;

export type VariableName = keyof typeof ENVIRONMENT;

export interface Settings {
  readonly cacheDir: string;
  readonly modelMirror: string | undefined;
  readonly ffmpegPath: string | undefined;
  readonly ffprobePath: string | undefined;
  readonly gstreamer: boolean;
  readonly crf: {
    readonly native: boolean;
    readonly nativeImage: boolean;
    readonly wasm: boolean;
    readonly hugePages: boolean;
    readonly spinMicros: number;
  };
  readonly cluster: {
    readonly jobTtlMs: number;
    readonly ackWaitMs: number;
    readonly leaseTtlMs: number;
    readonly storeBytes: number;
  };
  /** Defaults for flags a service may take from its environment instead (the flag wins). */
  readonly flags: {
    readonly nats: string | undefined;
    readonly inputKey: string | undefined;
    readonly webhookSecret: string | undefined;
    readonly natsCreds: string | undefined;
    readonly natsNkey: string | undefined;
    readonly natsToken: string | undefined;
    readonly natsCa: string | undefined;
    readonly natsCert: string | undefined;
    readonly natsKey: string | undefined;
    readonly natsTlsRequired: boolean;
  };
}

const FALSE = new Set(['0', 'false', 'no', 'off']);
const TRUE = new Set(['1', 'true', 'yes', 'on']);

/** The settings an environment gives; `note` hears one line per value it could not take as it is. */
export function readSettings(env: NodeJS.ProcessEnv, note: (line: string) => void = () => {}): Settings {
  const text = (name: VariableName) => env[name] || undefined;
  const number = (name: VariableName) => {
    const spec = ENVIRONMENT[name] as Extract<Spec, { kind: 'number' }>;
    const raw = env[name];
    if (raw === undefined || raw === '') return spec.fallback;
    const value = Number(raw);
    const clamped = Number.isFinite(value) ? Math.min(spec.max, Math.max(spec.min, value)) : spec.fallback;
    if (clamped !== value)
      note(
        `note: ${name}=${raw} is ${Number.isFinite(value) ? `outside ${spec.min}–${spec.max} ${spec.unit}` : `not a number of ${spec.unit === 's' ? 'seconds' : spec.unit}`}; using ${clamped} ${spec.unit}`,
      );
    return clamped;
  };
  const on = (name: VariableName) => {
    const spec = ENVIRONMENT[name] as Extract<Spec, { kind: 'switch' }>;
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return spec.fallback;
    if (FALSE.has(raw)) return false;
    if (TRUE.has(raw)) return true;
    note(`note: ${name}=${env[name]} is not 0 or 1; using ${spec.fallback ? 1 : 0}`);
    return spec.fallback;
  };
  return {
    cacheDir:
      text('DEEPLAB_STREAM_CACHE') ??
      path.join(env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'deeplab-stream'),
    modelMirror: text('DEEPLAB_STREAM_MODEL_MIRROR'),
    ffmpegPath: text('FFMPEG_PATH'),
    ffprobePath: text('FFPROBE_PATH'),
    gstreamer: on('DEEPLAB_STREAM_GSTREAMER'),
    crf: {
      native: on('DEEPLAB_STREAM_CRF_NATIVE'),
      nativeImage: on('DEEPLAB_STREAM_CRF_NATIVE_IMAGE'),
      wasm: on('DEEPLAB_STREAM_CRF_WASM'),
      hugePages: on('DEEPLAB_STREAM_HUGE_PAGES'),
      spinMicros: number('DEEPLAB_STREAM_CRF_SPIN_US'),
    },
    cluster: {
      jobTtlMs: number('DEEPLAB_STREAM_JOB_TTL') * 1000,
      ackWaitMs: number('DEEPLAB_STREAM_ACK_WAIT') * 1000,
      leaseTtlMs: number('DEEPLAB_STREAM_LEASE_TTL') * 1000,
      storeBytes: number('DEEPLAB_STREAM_STORE_MB') * 1024 * 1024,
    },
    flags: {
      nats: text('DEEPLAB_STREAM_NATS'),
      inputKey: text('DEEPLAB_STREAM_INPUT_KEY'),
      webhookSecret: text('DEEPLAB_STREAM_WEBHOOK_SECRET'),
      natsCreds: text('DEEPLAB_STREAM_NATS_CREDS'),
      natsNkey: text('DEEPLAB_STREAM_NATS_NKEY'),
      natsToken: text('DEEPLAB_STREAM_NATS_TOKEN'),
      natsCa: text('DEEPLAB_STREAM_NATS_CA'),
      natsCert: text('DEEPLAB_STREAM_NATS_CERT'),
      natsKey: text('DEEPLAB_STREAM_NATS_KEY'),
      natsTlsRequired: on('DEEPLAB_STREAM_NATS_TLS_REQUIRED'),
    },
  };
}

const NAMES = [...Object.keys(ENVIRONMENT), 'XDG_CACHE_HOME'];
let cached: { key: string; settings: Settings } | null = null;
const told = new Set<string>();

/** This process's settings (its environment now); each note is told once per process. */
export function settings(): Settings {
  const key = NAMES.map((name) => process.env[name] ?? '\u0000').join('\u0001');
  if (cached?.key !== key) {
    cached = {
      key,
      settings: readSettings(process.env, (line) => {
        if (told.has(line)) return;
        told.add(line);
        process.stderr.write(`${line}\n`);
      }),
    };
  }
  return cached.settings;
}
