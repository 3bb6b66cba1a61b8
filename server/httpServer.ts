/**
 * The HTTP side of `serve`: the viewer's files at `/`, `/healthz`, `/metrics`, the dashboard's API
 * under `/api/`, and the WebSocket at `/ws`. With a token, `/ws`, `/api/` and `/metrics` need it (`?token=T`, or `Authorization: Bearer T`):
 * a WebSocket without it is answered `401` before the upgrade, so no socket is ever opened for it.
 * A WebSocket or API request sent by a page of another origin is answered `403`.
 *
 * DNS rebinding: a page on a domain the attacker controls can re-point that domain at 127.0.0.1 and
 * then talk to this server as its own origin. Every request whose `Host` is not this server's
 * (an IP address, `localhost`, the `--host` name, or one of `allowedHosts`) is answered `403`, as
 * webpack's and Vite's dev servers do since their rebinding advisories.
 */
import { timingSafeEqual } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ViewerHub } from './viewerHub.js';
import { MAX_CONTROL_MESSAGE_BYTES } from './viewerProtocol.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly token?: string;
  /** Host names (besides IP addresses, localhost and `host`) this server answers to; `.example.com` allows its subdomains too. */
  readonly allowedHosts?: readonly string[];
  /** WebSocket viewers at most; more are answered `503` before the upgrade. */
  readonly maxViewers?: number;
  /** The folder served at `/` (viewer/); nothing outside it is ever served but `vendorFiles`. */
  readonly viewerDir: string;
  /** Files of the viewer's libraries by URL path (`/vendor/uPlot.iife.min.js` → the package's file). */
  readonly vendorFiles?: Readonly<Record<string, string>>;
  readonly hub: ViewerHub;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly health: () => object;
  /** Requests under /api/ (streamsApi.ts), after the token and Origin checks. */
  readonly api?: (request: IncomingMessage, response: ServerResponse) => Promise<void>;
}

export interface RunningHttpServer {
  readonly server: Server;
  /** http://host:port, with the port actually bound (port 0 picks a free one). */
  readonly url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

export function hasToken(request: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const url = new URL(request.url ?? '/', 'http://localhost');
  const given =
    url.searchParams.get('token') ?? /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Browsers let any web page open a WebSocket to 127.0.0.1: a page from elsewhere must not read the
 * streams. A browser always sends Origin; it must name this server. Clients that are not browsers
 * send none and are let through (the token, when set, still applies).
 */
export function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** The host name of a `Host` header (`name:port`, `[v6]:port`), lower-cased; null when malformed. */
function hostName(header: string | undefined): string | null {
  if (!header) return null;
  try {
    const { hostname } = new URL(`http://${header}`);
    return hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return null;
  }
}

/**
 * Whether a request's `Host` names this server: any IP address (rebinding needs a domain name),
 * `localhost` and `*.localhost`, the address it listens on, and the allowed names.
 */
export function allowedHost(header: string | undefined, listenHost: string, allowed: readonly string[] = []): boolean {
  const name = hostName(header);
  if (name === null) return false;
  if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || name === listenHost.toLowerCase())
    return true;
  return allowed.some((entry) => {
    const a = entry.toLowerCase();
    return a.startsWith('.') ? name === a.slice(1) || name.endsWith(a) : name === a;
  });
}

/**
 * The file under `root` that a URL path names, or null when it names none: `..` segments, encoded
 * slashes or NUL bytes, and symbolic links pointing outside `root` are all refused.
 */
export async function resolveStaticPath(root: string, urlPath: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').includes('..')) return null;
  const realRoot = await fs.realpath(root);
  const candidate = path.resolve(realRoot, `.${decoded.endsWith('/') ? `${decoded}index.html` : decoded}`);
  try {
    const real = await fs.realpath(candidate);
    if (!real.startsWith(realRoot + path.sep)) return null;
    return (await fs.stat(real)).isFile() ? real : null;
  } catch {
    return null;
  }
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const webSockets = new WebSocketServer({ noServer: true, maxPayload: MAX_CONTROL_MESSAGE_BYTES });
  const maxViewers = options.maxViewers ?? 64;
  /** Upgrades accepted but not yet handed to the hub: they count against maxViewers too. */
  let upgrading = 0;
  const hostRefusal = (request: IncomingMessage) =>
    `host ${JSON.stringify(request.headers.host ?? '')} is not this server's: open it by its IP address or localhost, or start serve with --allowed-hosts NAME\n`;
  const server = createServer((request, response) => {
    void handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500).end('internal error\n');
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!allowedHost(request.headers.host, options.host, options.allowedHosts)) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end(hostRefusal(request));
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/api/') && options.api) {
      // A page of another origin may send a POST without asking (a "simple" request): refused here, as /ws is.
      if (!sameOrigin(request)) {
        response
          .writeHead(403, { 'content-type': 'application/json' })
          .end(`${JSON.stringify({ error: 'a page of another origin may not use this API' })}\n`);
        return;
      }
      if (!hasToken(request, options.token)) {
        response
          .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' })
          .end(`${JSON.stringify({ error: 'missing or wrong token (?token=T or Authorization: Bearer T)' })}\n`);
        return;
      }
      await options.api(request, response);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end('only GET and HEAD\n');
      return;
    }
    if (url.pathname === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.health()));
      return;
    }
    if (url.pathname === '/metrics') {
      if (!hasToken(request, options.token)) {
        response.writeHead(401, { 'www-authenticate': 'Bearer' }).end('missing or wrong token\n');
        return;
      }
      const { contentType, body } = await options.metrics();
      response.writeHead(200, { 'content-type': contentType }).end(body);
      return;
    }
    const vendor = Object.hasOwn(options.vendorFiles ?? {}, url.pathname)
      ? options.vendorFiles![url.pathname]
      : undefined;
    const file = vendor ?? (await resolveStaticPath(options.viewerDir, url.pathname));
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
    });
    if (request.method === 'HEAD') response.end();
    else createReadStream(file).pipe(response);
  }

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refuse = (status: string, body = '') => {
      socket.end(
        `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    if (!allowedHost(request.headers.host, options.host, options.allowedHosts))
      return refuse('403 Forbidden', hostRefusal(request));
    if (new URL(request.url ?? '/', 'http://localhost').pathname !== '/ws') return refuse('404 Not Found');
    if (!sameOrigin(request)) return refuse('403 Forbidden', 'a page of another origin may not open this WebSocket\n');
    if (!hasToken(request, options.token)) return refuse('401 Unauthorized', 'missing or wrong token\n');
    if (options.hub.viewerCount + upgrading >= maxViewers) {
      return refuse(
        '503 Service Unavailable',
        `too many viewers (${maxViewers}): close one, or start serve with a higher --max-viewers\n`,
      );
    }
    // ws answers a malformed handshake itself and never calls back: the socket's close settles it.
    let counted = true;
    const settle = () => {
      if (counted) upgrading -= 1;
      counted = false;
    };
    upgrading += 1;
    socket.once('close', settle);
    webSockets.handleUpgrade(request, socket, head, (ws) => {
      settle();
      options.hub.add(ws);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${shownHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        options.hub.close();
        webSockets.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
