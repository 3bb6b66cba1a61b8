/**
 * A scene whose zone events are known: a model that labels each pixel by its strongest colour
 * channel (red "background", green "person", blue "car"), and a clip on a red ground where a green
 * square stands in the lower right from 1.5 s to 3.5 s — with a one-frame green blip there at 0.5 s
 * (DeepLab's flicker) and H.264's block noise. Plus the two ends a dashboard talks to: an SSE reader
 * and a webhook receiver, both real, on 127.0.0.1.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { runFfmpeg } from '../../io/ffmpeg.js';
import { ONNX_UINT8, OnnxGraphBuilder } from '../../model/onnxGraph.js';

export const SCENE = { width: 160, height: 96, fps: 10, seconds: 6, enter: 1.5, leave: 3.5, blip: 0.5 };

/** The zone the square stands in: the lower-right quarter. */
export const LOWER_RIGHT: [number, number][] = [
  [0.5, 0.5],
  [1, 0.5],
  [1, 1],
  [0.5, 1],
];

/** Scores = the pixel's colour channels (uint8 NHWC in, float NHWC out): argmax is its strongest channel. */
function colourModelBytes(): Uint8Array {
  const g = new OnnxGraphBuilder();
  const x = g.input('ImageTensor', [1, 'height', 'width', 3], ONNX_UINT8, 3);
  const [scores] = g.node('Cast', [x], [OnnxGraphBuilder.int('to', 1)]);
  g.rename(scores!, 'scores');
  g.output('scores', [1, 'height', 'width', 3]);
  return g.toBytes('colours');
}

/** `serve` with no stream yet, the colour model, files under `dir` allowed, and clips of 1 s before and after into `clipsDir`. */
export function clipsServeArgs(model: string, dir: string, clipsDir: string): string[] {
  return [
    '--no-test-pattern',
    '--model',
    model,
    '--allow-inputs',
    `file:${dir}`,
    '--clips',
    clipsDir,
    '--clip-pre',
    '1',
    '--clip-post',
    '1',
  ];
}

export function writeColourModel(dir: string): string {
  const file = path.join(dir, 'colours.onnx');
  writeFileSync(file, colourModelBytes());
  writeFileSync(`${file}.json`, JSON.stringify({ classes: ['background', 'person', 'car'] }));
  return file;
}

/**
 * A red ground with a green square on it (the colour model's background and "person"), H.264 with a
 * keyframe a second: the square at `x`, `y` (ffmpeg overlay expressions), shown while `enable` holds.
 */
export async function writeSquareClip(
  file: string,
  o: {
    width: number;
    height: number;
    fps: number;
    seconds: number;
    side: number;
    x: string;
    y: string;
    enable?: string;
  },
): Promise<string> {
  const filter = [
    `color=c=0xC02020:s=${o.width}x${o.height}:r=${o.fps}:d=${o.seconds}[ground]`,
    `color=c=0x20C020:s=${o.side}x${o.side}:r=${o.fps}:d=${o.seconds}[square]`,
    `[ground][square]overlay=x='${o.x}':y='${o.y}'${o.enable ? `:enable='${o.enable}'` : ''}`,
  ].join(';');
  const encode = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(o.fps)];
  await runFfmpeg(['-y', '-filter_complex', filter, ...encode, file]);
  return file;
}

export async function writeZoneClip(
  dir: string,
  name = 'scene.mp4',
  timing: Partial<Pick<typeof SCENE, 'seconds' | 'enter' | 'leave'>> = {},
): Promise<string> {
  const { width, height, fps, seconds, enter, leave, blip } = { ...SCENE, ...timing };
  return writeSquareClip(path.join(dir, name), {
    width,
    height,
    fps,
    seconds,
    side: 40,
    x: String(width - 60),
    y: String(height - 44),
    enable: `between(t,${enter},${leave - 0.01})+between(t,${blip},${blip + 0.05})`,
  });
}

export interface ReceivedEvent {
  readonly type: string;
  readonly stream: string;
  readonly zone: string;
  readonly share: number;
  readonly at: string;
  readonly frame: number;
  readonly receivedAt: number;
}

/** Reads /api/events as a browser's EventSource would; `events` grows as they come. */
export async function readEvents(url: string): Promise<{ events: ReceivedEvent[]; close: () => void }> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  const events: ReceivedEvent[] = [];
  void (async () => {
    let buffer = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data) events.push({ ...(JSON.parse(data) as Omit<ReceivedEvent, 'receivedAt'>), receivedAt: Date.now() });
        }
      }
    } catch {
      // closed
    }
  })();
  return { events, close: () => controller.abort() };
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: { body: string; headers: IncomingMessage['headers'] }[];
  /** How it answers: 'ok' (204), 'fail' (500), 'hang' (never). */
  mode: 'ok' | 'fail' | 'hang';
  /** Requests answered 500 or left hanging. */
  refused: number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    mode: 'ok',
    refused: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      if (receiver.mode === 'hang') {
        receiver.refused += 1;
        return;
      }
      if (receiver.mode === 'fail') {
        receiver.refused += 1;
        response.writeHead(500).end('no');
        return;
      }
      receiver.received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: request.headers });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(receiver, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });
  return receiver;
}
