import { once } from 'node:events';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startHttpServer, type RunningHttpServer } from '../../server/httpServer.js';
import { ViewerHub } from '../../server/viewerHub.js';
import { tempDir } from '../helpers/fixtures.js';

/** A GET with the path sent exactly as written (no URL normalisation on the client side). */
function rawGet(
  base: string,
  rawPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path: rawPath, method: 'GET', headers }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (c: string) => (body += c))
        .on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject).end();
  });
}

function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      socket.terminate();
    });
    socket.on('open', () => {
      resolve(101);
      socket.close();
    });
    socket.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe('startHttpServer', () => {
  const { dir, cleanup } = tempDir();
  const viewerDir = path.join(dir, 'viewer');
  let server: RunningHttpServer;
  const hub = new ViewerHub({ hello: () => ({ type: 'streams', streams: [] }) });

  beforeAll(async () => {
    mkdirSync(path.join(viewerDir, 'sub'), { recursive: true });
    writeFileSync(path.join(viewerDir, 'index.html'), '<p>viewer</p>');
    writeFileSync(path.join(viewerDir, 'sub', 'a.js'), 'export {}');
    writeFileSync(path.join(dir, 'secret.txt'), 'SECRET');
    symlinkSync(path.join(dir, 'secret.txt'), path.join(viewerDir, 'link.txt'));
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      token: 's3cret',
      viewerDir,
      hub,
      metrics: async () => ({ contentType: 'text/plain', body: 'metric 1\n' }),
      health: () => ({ status: 'ok' }),
    });
  });
  afterAll(async () => {
    await server.close();
    cleanup();
  });

  it('binds where told and serves the viewer with content types', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    expect(await index.text()).toBe('<p>viewer</p>');
    expect((await fetch(`${server.url}/sub/a.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('never serves a file outside the viewer folder', async () => {
    const attempts = [
      '/../secret.txt',
      '/sub/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/sub/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%2e%2e%5csecret.txt',
      '/link.txt',
      '/secret.txt%00.html',
      '//etc/passwd',
      '/%c0%ae%c0%ae/secret.txt',
      `/${'../'.repeat(8)}etc/passwd`,
    ];
    for (const attempt of attempts) {
      const { status, body } = await rawGet(server.url, attempt);
      expect({ attempt, status }).toEqual({ attempt, status: 404 });
      expect(body).not.toContain('SECRET');
      expect(body).not.toContain('root:');
    }
  });

  it('refuses a WebSocket without the token with 401 before the upgrade', async () => {
    expect(await upgradeStatus(`${server.url.replace('http', 'ws')}/ws`)).toBe(401);
    expect(await upgradeStatus(`${server.url.replace('http', 'ws')}/ws?token=wrong`)).toBe(401);
    expect(hub.viewerCount).toBe(0);
    expect(await upgradeStatus(`${server.url.replace('http', 'ws')}/ws?token=s3cret`)).toBe(101);
    expect(await upgradeStatus(`${server.url.replace('http', 'ws')}/elsewhere?token=s3cret`)).toBe(404);
  });

  it('refuses a WebSocket opened by a page of another origin with 403', async () => {
    const ws = `${server.url.replace('http', 'ws')}/ws?token=s3cret`;
    expect(await upgradeStatus(ws, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(ws, { origin: server.url })).toBe(101);
  });

  it('guards /metrics with the token too (query or bearer)', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics?token=s3cret`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
  });

  it('answers other methods with 405', async () => {
    expect((await fetch(`${server.url}/`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses requests whose Host is not this server (DNS rebinding), for pages and WebSockets alike', async () => {
    const { port } = new URL(server.url);
    const rebound = { host: `evil.example:${port}` };
    const page = await rawGet(server.url, '/', rebound);
    expect(page.status).toBe(403);
    expect(page.body).toMatch(/--allowed-hosts/);
    expect((await rawGet(server.url, '/healthz', rebound)).status).toBe(403);
    const ws = `${server.url.replace('http', 'ws')}/ws?token=s3cret`;
    expect(await upgradeStatus(ws, { ...rebound, origin: `http://evil.example:${port}` })).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `app.localhost:${port}`]) {
      expect({ host, status: (await rawGet(server.url, '/', { host })).status }).toEqual({ host, status: 200 });
    }
    expect(await upgradeStatus(ws, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).toBe(101);
  });
});

describe('startHttpServer limits', () => {
  const { dir, cleanup } = tempDir();
  const hub = new ViewerHub({ hello: () => ({ type: 'streams', streams: [] }) });
  let server: RunningHttpServer;
  beforeAll(async () => {
    writeFileSync(path.join(dir, 'index.html'), '<p>viewer</p>');
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      viewerDir: dir,
      hub,
      maxViewers: 2,
      allowedHosts: ['cams.example.org', '.lan.example'],
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      health: () => ({ status: 'ok' }),
    });
  });
  afterAll(async () => {
    await server.close();
    cleanup();
  });

  it('answers host names given in allowedHosts, and their subdomains for a leading dot', async () => {
    const { port } = new URL(server.url);
    for (const [host, status] of [
      ['cams.example.org', 200],
      ['x.cams.example.org', 403],
      ['lan.example', 200],
      ['a.b.lan.example', 200],
      ['evil-lan.example', 403],
    ] as const) {
      expect({ host, status: (await rawGet(server.url, '/', { host: `${host}:${port}` })).status }).toEqual({
        host,
        status,
      });
    }
  });

  it('refuses viewers beyond maxViewers with 503 and a reason, and takes one again when a viewer leaves', async () => {
    const ws = `${server.url.replace('http', 'ws')}/ws`;
    const first = new WebSocket(ws);
    const second = new WebSocket(ws);
    await Promise.all([once(first, 'open'), once(second, 'open')]);
    const refused = await new Promise<{ status: number; body: string }>((resolve) => {
      const third = new WebSocket(ws);
      third.on('unexpected-response', (_req, res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c: string) => (body += c))
          .on('end', () => resolve({ status: res.statusCode!, body }));
      });
      third.on('error', () => {});
    });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/too many viewers \(2\).*--max-viewers/);
    first.close();
    await once(first, 'close');
    await expect.poll(() => hub.viewerCount).toBe(1);
    expect(await upgradeStatus(ws)).toBe(101);
    second.close();
  });
});
