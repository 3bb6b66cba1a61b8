/**
 * The dashboard's HTTP API under /api (the contract is fixed; docs/dashboard.md shows each call):
 *
 *   GET    /api/streams                 → 200 {"streams": [...]}  (as /healthz, with each stream's zones)
 *   POST   /api/streams                 {"id"?, "input", "crf"?, "zones"?} → 201 the stream
 *   DELETE /api/streams/<id>            → 204
 *   GET    /api/streams/<id>/zones      → 200 {"zones": [...], "states": [...]}
 *   PUT    /api/streams/<id>/zones      [zone, …] → 200 {"zones": [...]}
 *   GET    /api/events                  → Server-Sent Events (zone.occupied, zone.free)
 *   GET    /api/clips/<name>            → video/mp4 (Range requests too); 503 while it is recorded
 *
 * Every request is untrusted: bodies are capped (413), parsed as JSON and checked in full (400),
 * inputs pass the operator's rules (`--allow-inputs`) and the same checks as on the command line;
 * unknown ids are 404, taken ones 409. Every error is `{"error": "one line"}`; nothing a request
 * sends can stop the server. The token, Host and Origin checks happen before (httpServer.ts).
 */
import { createReadStream, promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { z } from 'zod';
import { ConflictError, isUserError } from '../core/errors.js';
import { CLIP_NAME } from '../zones/zoneEvent.js';
import { parseZones, type ZoneSpec } from '../zones/zoneSpec.js';
import type { EventStream } from './eventStream.js';
import type { LiveBackend, StreamTiles } from './liveBackend.js';
import type { StreamDescription } from './wireFormat.js';
import type { ZoneBoard } from './zoneBoard.js';

/** Bodies larger than this are refused unread (a zone list of 64 zones × 256 corners fits in a tenth of it). */
export const MAX_API_BODY_BYTES = 1 << 20;

export interface StreamsApiOptions {
  readonly backend: () => LiveBackend;
  readonly board: ZoneBoard;
  /** The streams as /healthz shows them, each with its zones' states. */
  readonly describeStreams: () => StreamDescription[];
  /** A stream's zones are now these: its tracker and its back end's measure both. */
  readonly setZones: (stream: string, zones: readonly ZoneSpec[]) => void;
  readonly events: EventStream;
  /** Why an input may not be opened here (`serve --allow-inputs`), or undefined when it may. */
  readonly refuseInput: (spec: string) => string | undefined;
  /** Streams this server runs at most; a POST beyond is 429 (each stream is a decoder and a share of the workers). */
  readonly maxStreams: number;
  /** Where event clips are (`--clips`); absent: /api/clips answers 404. */
  readonly clipsDir?: string;
  /** Streams or zones changed (the state file is written). */
  readonly changed: () => void;
  readonly log: (line: string) => void;
}

const streamRequestSchema = z.strictObject({
  id: z.string().max(200).optional(),
  input: z.string().min(1).max(2000),
  crf: z.boolean().optional(),
  zones: z.unknown().optional(),
  tiles: z
    .union([
      z.literal('auto'),
      z.string().regex(/^([1-9]|1[0-6])x([1-9]|1[0-6])$/, 'auto, or COLSxROWS from 1x1 to 16x16 such as "3x2"'),
    ])
    .optional(),
  classesShown: z.array(z.string().min(1).max(200)).min(1).max(256).optional(),
});

/** `"auto"` or `"3x2"` as the stream's windows. */
export function tilesOf(text: string): StreamTiles {
  if (text === 'auto') return 'auto';
  const [cols, rows] = text.split('x').map(Number) as [number, number];
  return { cols, rows };
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function send(response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    response.writeHead(status, headers).end();
    return;
  }
  response
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
    .end(`${JSON.stringify(body)}\n`);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_API_BODY_BYTES)
    throw new ApiError(
      413,
      `the body is over ${MAX_API_BODY_BYTES >> 20} MiB: send less (at most 64 zones of 256 corners)`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY_BYTES) {
      request.destroy();
      throw new ApiError(413, `the body is over ${MAX_API_BODY_BYTES >> 20} MiB: send less`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'the body is not JSON');
  }
}

/** Handles a request whose path starts with /api/. */
export function streamsApi(
  o: StreamsApiOptions,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  const streamIds = () => o.backend().streamIds;
  const knownStream = (id: string) => {
    if (!streamIds().includes(id))
      throw new ApiError(404, `there is no stream ${id.slice(0, 100)}: GET /api/streams lists them`);
  };
  const zonesFor = (value: unknown, what: string): ZoneSpec[] =>
    parseZones(
      value,
      o.backend().classes.map((c) => c.name),
      what,
    );

  const addStream = async (request: IncomingMessage, response: ServerResponse) => {
    const parsed = streamRequestSchema.safeParse(await readJson(request));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ApiError(
        400,
        `${issue.path.join('.') || 'body'}: ${issue.message} (expected {"input": "…", "id"?: "…", "crf"?: true, "tiles"?: "3x2", "classesShown"?: [...], "zones"?: [...]})`,
      );
    }
    const body = parsed.data;
    if (streamIds().length >= o.maxStreams)
      throw new ApiError(
        429,
        `this server runs ${streamIds().length} streams, its cap (serve --max-streams ${o.maxStreams}): remove one first`,
      );
    const refused = o.refuseInput(body.input);
    if (refused) throw new ApiError(403, refused);
    const zones = body.zones === undefined ? [] : zonesFor(body.zones, 'zones');
    const added = await o.backend().addStream({
      input: body.input,
      ...(body.id !== undefined ? { id: body.id } : {}),
      ...(body.crf !== undefined ? { crf: body.crf } : {}),
      ...(body.classesShown ? { classesShown: body.classesShown } : {}),
      ...(body.tiles ? { tiles: tilesOf(body.tiles) } : {}),
    });
    if (zones.length > 0) o.setZones(added.id, zones);
    o.changed();
    send(response, 201, o.describeStreams().find((s) => s.id === added.id) ?? added, {
      location: `/api/streams/${encodeURIComponent(added.id)}`,
    });
  };

  const sendClip = async (request: IncomingMessage, response: ServerResponse, name: string) => {
    const missing = () => new ApiError(404, `there is no clip ${name.slice(0, 100)}`);
    if (!o.clipsDir || !CLIP_NAME.test(name)) throw missing();
    const file = path.join(o.clipsDir, name);
    const stat = await fs.stat(file).catch(() => null);
    if (!stat?.isFile()) {
      if (o.backend().clipPending?.(name))
        throw new ApiError(503, `clip ${name} is being recorded: ask again in a few seconds`, { 'retry-after': '5' });
      throw missing();
    }
    // One byte range (a <video> element seeks with them); anything else gets the whole file.
    const range = /^bytes=(\d*)-(\d*)$/.exec(request.headers.range ?? '');
    let start = 0;
    let end = stat.size - 1;
    if (range && (range[1] || range[2])) {
      start = range[1] ? Number(range[1]) : Math.max(0, stat.size - Number(range[2]));
      end = range[1] && range[2] ? Math.min(end, Number(range[2])) : end;
      if (start > end || start >= stat.size) {
        response.writeHead(416, { 'content-range': `bytes */${stat.size}` }).end();
        return;
      }
    }
    const partial = Boolean(range && (range[1] || range[2]));
    response.writeHead(partial ? 206 : 200, {
      'content-type': 'video/mp4',
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      'cache-control': 'no-cache',
      ...(partial ? { 'content-range': `bytes ${start}-${end}/${stat.size}` } : {}),
    });
    if (request.method === 'HEAD') response.end();
    else createReadStream(file, { start, end }).pipe(response);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').slice(2); // ['streams', id?, 'zones'?]
    const method = request.method ?? 'GET';
    const only = (...allowed: string[]) => {
      if (!allowed.includes(method)) throw new ApiError(405, `${url.pathname} takes ${allowed.join(', ')}`);
    };
    let id: string | undefined;
    try {
      id = parts[1] === undefined ? undefined : decodeURIComponent(parts[1]);
    } catch {
      throw new ApiError(400, 'the stream id in the path is not valid percent-encoding');
    }
    if (parts[0] === 'clips' && parts.length === 2) {
      only('GET', 'HEAD');
      await sendClip(request, response, id ?? '');
      return;
    }
    if (parts[0] === 'events' && parts.length === 1) {
      only('GET');
      o.events.add(request, response);
      return;
    }
    if (parts[0] !== 'streams' || parts.length > 3 || (parts.length === 3 && parts[2] !== 'zones'))
      throw new ApiError(404, `no such API: ${url.pathname.slice(0, 100)} (see docs/dashboard.md)`);
    if (id === undefined || (parts.length === 2 && id === '')) {
      only('GET', 'POST');
      if (method === 'GET') send(response, 200, { streams: o.describeStreams() });
      else await addStream(request, response);
      return;
    }
    if (parts.length === 2) {
      only('DELETE');
      knownStream(id);
      if (!(await o.backend().removeStream(id))) throw new ApiError(404, `there is no stream ${id.slice(0, 100)}`);
      o.board.remove(id);
      o.changed();
      send(response, 204);
      return;
    }
    only('GET', 'PUT');
    knownStream(id);
    if (method === 'GET') {
      send(response, 200, { zones: o.board.zonesOf(id), states: o.board.states(id) });
      return;
    }
    const zones = zonesFor(await readJson(request), `PUT /api/streams/${id}/zones`);
    o.setZones(id, zones);
    o.changed();
    send(response, 200, { zones: o.board.zonesOf(id) });
  };

  return async (request, response) => {
    try {
      await handle(request, response);
    } catch (error) {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const status =
        error instanceof ApiError
          ? error.status
          : error instanceof ConflictError
            ? 409
            : isUserError(error)
              ? 400
              : 500;
      if (status === 500)
        o.log(`API: ${request.method} ${request.url?.slice(0, 100)} failed (${(error as Error).message})`);
      send(
        response,
        status,
        { error: status === 500 ? 'internal error: see the server log' : (error as Error).message },
        error instanceof ApiError ? error.headers : {},
      );
    }
  };
}
