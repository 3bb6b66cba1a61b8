/**
 * What `serve` accepts as an input, and how ffmpeg opens each kind:
 *
 *   path, file:path          a video file — lossless (every frame), or paced and latest-wins with --realtime
 *   testsrc[:WxH[@fps]]      ffmpeg's moving test pattern, paced in real time (demos, tests)
 *   rtsp://… rtsps://…       a network camera; reconnects with backoff, each outage reported
 *   http(s)://…              an HTTP stream (MJPEG, HLS, a file over HTTP); reconnects likewise
 *   camera:N, /dev/videoN    a V4L2 camera: GStreamer's v4l2src in-process when the optional
 *                            gstreamer-superficial binding is installed, ffmpeg's v4l2 input otherwise
 *   gst:PIPELINE             any GStreamer launch line producing video (needs the binding)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SourceError, UsageError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { ffmpegReason, locateFfmpeg, probeInput, type InputInfo } from '../io/ffmpeg.js';
import { FfmpegFrameSource } from './ffmpegFrameSource.js';
import type { FrameSource } from './frameSource.js';
import { GstFrameSource, gstreamerBinding, GSTREAMER_HOWTO } from './gstreamerFrameSource.js';

/** An input ffmpeg decodes, once probed. */
function viaFfmpeg(info: InputInfo, inputArgs: readonly string[]): OpenedInput {
  return {
    width: info.width,
    height: info.height,
    fps: info.fps,
    decoder: (streamId) => new FfmpegFrameSource(info, streamId, { inputArgs }),
    release: () => {},
  };
}

/** A GStreamer pipeline, started to learn its size: the decoder takes over the running pipeline. */
async function viaGstreamer(description: string, spec: string): Promise<OpenedInput> {
  const source = await GstFrameSource.open(description, spec, spec);
  return {
    width: source.width,
    height: source.height,
    fps: source.fps,
    decoder: () => source,
    release: () => source.close(),
  };
}

export type LiveInputKind = 'file' | 'testsrc' | 'rtsp' | 'http' | 'camera' | 'gstreamer';

/** An opened input: what it is, and the decoder to read it (started by the call). */
export interface OpenedInput {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly decoder: (streamId: string) => FrameSource;
  /** Lets go of what opening holds when no decoder will be asked for (a GStreamer pipeline already playing). */
  readonly release: () => void;
}

export interface LiveInput {
  /** The stream id shown in the viewer and the metrics: unique within one server. */
  readonly id: string;
  /** As the user wrote it. */
  readonly spec: string;
  /** As it may be shown (viewer, /healthz, logs): the URL's user:password replaced by ***. */
  readonly shown: string;
  readonly kind: LiveInputKind;
  /** Drop older frames when inference is behind (live inputs, and files with --realtime). */
  readonly latestWins: boolean;
  /** Reopen after errors and at the end (network streams and cameras), with backoff. */
  readonly reconnects: boolean;
  /** Probes the input (size, rate): rejects with a SourceError a user can act on. */
  open(): Promise<OpenedInput>;
}

/**
 * The protocols ffmpeg may open for each kind of input (`-protocol_whitelist`): an input names one
 * thing, and ffmpeg must not follow it anywhere else (a playlist into local files, `cache:tcp://`).
 */
export const PROTOCOLS: Record<'file' | 'rtsp' | 'http', string> = {
  file: 'file',
  rtsp: 'tcp,udp,rtp,tls',
  http: 'http,https,tcp,tls,crypto',
};

const TESTSRC = /^testsrc(?::(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?)?$/;
const PROBE_TIMEOUT_MS = 10_000;

/** Parses one input of `serve`; an id already in `takenIds` gets a -2, -3 … suffix. */
export function parseLiveInput(
  spec: string,
  options: { realtime?: boolean; takenIds?: ReadonlySet<string> } = {},
): LiveInput {
  const make = (
    kind: LiveInputKind,
    baseId: string,
    open: LiveInput['open'],
    latestWins = true,
    reconnects = true,
  ): LiveInput => {
    const base = baseId.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || kind;
    let id = base;
    for (let n = 2; options.takenIds?.has(id); n++) id = `${base}-${n}`;
    return { id, spec, shown, kind, latestWins, reconnects, open };
  };
  const shown = redactSecrets(spec);
  const testsrc = TESTSRC.exec(spec);
  if (testsrc) {
    const width = Number(testsrc[1] ?? 640);
    const height = Number(testsrc[2] ?? 360);
    const fps = Number(testsrc[3] ?? 30);
    if (width < 16 || height < 16 || width > 7680 || height > 4320 || !(fps > 0 && fps <= 240)) {
      throw new UsageError(
        `${spec}: testsrc takes WxH between 16x16 and 7680x4320 and a rate up to 240, e.g. testsrc:640x360@30`,
      );
    }
    const info: InputInfo = {
      path: spec,
      width,
      height,
      fps,
      frameCount: null,
      frameCountDeclared: false,
      isStillImage: false,
    };
    // testsrc2 moves (a rotating sweep, scrolling colours, a counter): every frame differs.
    const inputArgs = ['-re', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`];
    return make('testsrc', 'testsrc', () => Promise.resolve(viaFfmpeg(info, inputArgs)), true, false);
  }
  if (/^rtsps?:\/\//i.test(spec)) {
    const inputArgs = [
      '-protocol_whitelist',
      PROTOCOLS.rtsp,
      '-rtsp_transport',
      'tcp',
      '-timeout',
      String(PROBE_TIMEOUT_MS * 1000),
      '-i',
      spec,
    ];
    return make('rtsp', hostId(spec), () => probeLive(shown, inputArgs, shown));
  }
  if (/^https?:\/\//i.test(spec)) {
    return make('http', hostId(spec), () =>
      probeLive(shown, ['-protocol_whitelist', PROTOCOLS.http, '-i', spec], shown),
    );
  }
  const camera = /^camera:(\d+)$/.exec(spec)?.[1] ?? /^\/dev\/video(\d+)$/.exec(spec)?.[1];
  if (camera !== undefined) {
    const device = `/dev/video${camera}`;
    return make('camera', `camera${camera}`, async () => {
      if (!existsSync(device))
        throw new SourceError(
          `${spec}: there is no ${device} (connect a camera, or list the ones present with \`ls /dev/video*\`)`,
        );
      const viaFfmpegV4l2 = () => probeLive(spec, ['-f', 'v4l2', '-i', device], device);
      if (!gstreamerBinding()) return viaFfmpegV4l2();
      // GStreamer says little when a camera fails: ffmpeg then tries it, and names the reason (busy …).
      return viaGstreamer(`v4l2src device=${device}`, spec).catch(viaFfmpegV4l2);
    });
  }
  if (spec.startsWith('gst:')) {
    if (!gstreamerBinding())
      throw new UsageError(`${spec}: gst: inputs need the optional gstreamer-superficial binding; ${GSTREAMER_HOWTO}`);
    return make('gstreamer', 'gst', () => viaGstreamer(spec.slice('gst:'.length), spec));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec) && !/^file:/i.test(spec))
    throw new UsageError(`${shown}: unsupported input; serve takes a file, testsrc, rtsp://, http(s):// or camera:N`);
  const file = filePathOf(spec);
  const name = file
    .split('/')
    .pop()!
    .replace(/\.[^.]+$/, '');
  return make(
    'file',
    name,
    async () => {
      // `file:` and an absolute path: a name such as `cache:tcp://…` is a file here, never a protocol.
      return viaFfmpeg(await probeInput(file), [
        ...(options.realtime ? ['-re'] : []),
        '-protocol_whitelist',
        PROTOCOLS.file,
        '-i',
        `file:${path.resolve(file)}`,
      ]);
    },
    Boolean(options.realtime),
    false,
  );
}

/** The path of a file input: as written, or from a `file:` URL (`file:/x`, `file:///x`, percent-escapes decoded). */
export function filePathOf(spec: string): string {
  return spec.startsWith('file:') ? decodeURIComponent(spec.slice('file:'.length).replace(/^\/\/(?=\/)/, '')) : spec;
}

function hostId(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}${parsed.port ? `-${parsed.port}` : ''}${parsed.pathname}`;
  } catch {
    throw new UsageError(`${redactSecrets(url)} is not a valid URL`);
  }
}

/** ffprobe with the same input options ffmpeg will use; a clear SourceError when it fails. */
async function probeLive(spec: string, inputArgs: readonly string[], shown: string): Promise<OpenedInput> {
  const { ffprobe } = locateFfmpeg();
  if (!ffprobe) throw new SourceError(`${spec}: ffprobe was not found beside ffmpeg (install ffmpeg's full package)`);
  const args = [
    '-v',
    'error',
    ...inputArgs,
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=width,height,avg_frame_rate,r_frame_rate',
    '-of',
    'json',
  ];
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(ffprobe, args, { timeout: PROBE_TIMEOUT_MS * 1.5 }, (error, out, stderr) => {
      if (!error) resolve(out);
      // Killed by the timeout: ffprobe said nothing, and its command line is no reason to show.
      else
        reject(
          new Error(
            stderr.trim() ||
              (error.killed
                ? `timed out: no video within ${(PROBE_TIMEOUT_MS * 1.5) / 1000} s`
                : `ffprobe failed (exit code ${error.code})`),
          ),
        );
    }),
  ).catch((error: unknown) => {
    throw new SourceError(`${spec}: ${describeOpenFailure(redactSecrets(ffmpegReason(error)), shown)}`);
  });
  const stream = (
    JSON.parse(stdout) as {
      streams?: { width?: number; height?: number; avg_frame_rate?: string; r_frame_rate?: string }[];
    }
  ).streams?.[0];
  if (!stream?.width || !stream.height) throw new SourceError(`${shown}: has no video stream`);
  const rate = (r?: string) => {
    const [n, d] = (r ?? '').split('/').map(Number);
    return d ? n! / d : 0;
  };
  const fps = rate(stream.avg_frame_rate) || rate(stream.r_frame_rate) || 30;
  return viaFfmpeg(
    {
      path: shown,
      width: stream.width,
      height: stream.height,
      fps: fps > 240 ? 30 : fps,
      frameCount: null,
      frameCountDeclared: false,
      isStillImage: false,
    },
    inputArgs,
  );
}

/** ffmpeg's reason, with what to do for the failures users meet most. */
export function describeOpenFailure(reason: string, shown: string): string {
  if (/busy/i.test(reason))
    return `${shown} is busy: another program is using it (close it, then the stream reconnects)`;
  if (/refused/i.test(reason)) return `connection refused (${reason}): is the server at ${shown} running?`;
  if (/401|unauthori[sz]ed/i.test(reason))
    return `the server refused the credentials (${reason}): put user:password@ in the URL`;
  if (/timed? ?out/i.test(reason)) return `no answer (${reason}): check the address and the network`;
  if (/permission denied/i.test(reason)) return `permission denied (${reason}): add your user to the video group`;
  if (/invalid data found/i.test(reason))
    return `${shown} sent nothing ffmpeg could read as video (${reason}): is the server there silent, or not a video server? check the address`;
  return reason;
}
