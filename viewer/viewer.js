// The live viewer: connects to /ws, lists the streams, draws the selected one — or all of them in a
// grid — with its label overlay composed here (so opacity and hidden classes need nothing from the
// server), and shows fps and end-to-end latency (captured on the server → drawn here) of the
// selected stream. Plain ES module, no build step.
import * as dashboard from './dashboard.js';
import { inflateLabels, splitFrameMessage } from './wireFormat.js';

const $ = (id) => document.getElementById(id);
const overlayCanvas = document.createElement('canvas');
const overlayContext = overlayCanvas.getContext('2d');

const state = {
  socket: null,
  classes: [],
  hidden: new Set(),
  opacity: Number($('opacity').value),
  streams: [],
  selected: null,
  /** Show every stream at once (each in its own tile) instead of the selected one. */
  grid: false,
  /** streamId → { canvas, pending, drawing, last }: `pending` is the newest undrawn frame message
   *  (older ones are skipped when drawing falls behind), `last` the frame drawn. */
  tiles: new Map(),
  crfAvailable: false,
  paused: false,
  /** Server clock minus ours (ms), from ping/pong. */
  clockOffset: 0,
  drawnTimes: [],
  latencies: [],
  reconnectMs: 500,
};

/** What the tests and the benchmark (and a curious user in the console) can read. */
window.viewerStats = {
  framesDrawn: 0,
  fps: 0,
  latencyMs: null,
  lastIndex: null,
  connected: false,
  recentLatencies: [],
  /** Tiles at the camera's rate: the last frame's oldest window scores (ms); null without. */
  scoresAgeMs: null,
};

function connect() {
  const token = new URLSearchParams(location.search).get('token');
  const url = new URL('ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = token ? `?token=${encodeURIComponent(token)}` : '';
  const socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer';
  state.socket = socket;
  socket.onopen = () => {
    state.reconnectMs = 500;
    setConnection('live', 'connected');
    window.viewerStats.connected = true;
    for (let i = 0; i < 3; i++) setTimeout(() => send({ type: 'ping', t0: Date.now() }), i * 200);
  };
  socket.onmessage = (event) => {
    if (typeof event.data === 'string') onControl(JSON.parse(event.data));
    else onFrameMessage(event.data);
  };
  socket.onclose = (event) => {
    window.viewerStats.connected = false;
    setConnection(
      'down',
      event.code === 1006 ? 'disconnected (refused or lost) — retrying' : `closed (${event.code}) — retrying`,
    );
    setTimeout(connect, state.reconnectMs);
    state.reconnectMs = Math.min(10_000, state.reconnectMs * 2);
  };
}

function send(message) {
  if (state.socket?.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
}

function setConnection(kind, text) {
  const badge = $('connection');
  badge.className = `badge ${kind}`;
  badge.textContent = text;
}

function onControl(message) {
  switch (message.type) {
    case 'hello':
      state.classes = message.classes;
      state.crfAvailable = message.crfAvailable;
      dashboard.onHello(message.classes);
      renderLegend();
      onStreams(message.streams);
      break;
    case 'streams':
      onStreams(message.streams);
      break;
    case 'pong': {
      const now = Date.now();
      state.clockOffset = message.serverTime - (message.t0 + now) / 2;
      break;
    }
    case 'error':
      console.warn('server:', message.message);
      break;
  }
}

function onStreams(streams) {
  state.streams = streams;
  dashboard.onStreams(streams);
  for (const id of state.tiles.keys()) if (!streams.some((s) => s.id === id)) state.tiles.delete(id);
  if (!streams.some((s) => s.id === state.selected)) select(streams[0]?.id ?? null);
  renderStreams();
}

function select(id) {
  state.selected = id;
  dashboard.onSelect(id);
  state.drawnTimes = [];
  state.latencies = [];
  subscribe();
  renderStreams();
}

function setGrid(grid) {
  state.grid = grid;
  $('grid').textContent = grid ? 'One stream' : 'All streams';
  subscribe();
  renderStreams();
}

function subscribe() {
  send({ type: 'subscribe', streams: state.grid ? '*' : state.selected === null ? [] : [state.selected] });
}

/** The stream's tile, made on first use. */
function tile(id) {
  let t = state.tiles.get(id);
  if (!t) {
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 360;
    canvas.dataset.streamId = id;
    canvas.setAttribute('aria-label', `segmented video of ${id}`);
    canvas.onclick = (event) => {
      if (id === state.selected && !state.grid && dashboard.onCanvasClick(canvas, event)) {
        redraw(tile(id));
        return;
      }
      select(id);
      if (state.grid) setGrid(false);
    };
    t = { canvas, pending: null, drawing: false, last: null };
    state.tiles.set(id, t);
  }
  return t;
}

function renderStreams() {
  const list = $('streams');
  list.replaceChildren(
    ...state.streams.map((stream) => {
      const item = document.createElement('li');
      item.dataset.status = stream.status;
      item.dataset.streamId = stream.id;
      item.className = stream.id === state.selected ? 'selected' : '';
      item.textContent = stream.id;
      const detail = document.createElement('small');
      detail.textContent = `${stream.status}${stream.message ? ` — ${stream.message}` : ''}${stream.width ? ` · ${stream.width}×${stream.height}` : ''}${stream.fps ? ` · ${stream.fps} fps` : ''}`;
      item.append(detail);
      item.onclick = () => select(stream.id);
      return item;
    }),
  );
  dashboard.decorateStreams(list);
  const shown = state.grid ? state.streams.map((s) => s.id) : state.selected === null ? [] : [state.selected];
  const view = $('view');
  view.className = state.grid ? 'grid' : 'single';
  view.replaceChildren(...shown.map((id) => tile(id).canvas));
  for (const id of shown) {
    const t = tile(id);
    t.canvas.classList.toggle('selected', state.grid && id === state.selected);
    if (!t.last)
      drawStatus(
        t.canvas,
        state.streams.find((s) => s.id === id),
      );
  }
  const current = state.streams.find((s) => s.id === state.selected);
  const crf = $('crf');
  crf.disabled = !state.crfAvailable || !current;
  crf.checked = Boolean(current?.crf);
  $('dropped').textContent = String(current?.dropped ?? 0);
}

function renderLegend() {
  $('legend').replaceChildren(
    ...state.classes.map((cls, index) => {
      const item = document.createElement('li');
      item.className = 'absent';
      item.dataset.classIndex = String(index);
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = !state.hidden.has(index);
      box.title = 'show this class in the overlay';
      box.onchange = () => {
        if (box.checked) state.hidden.delete(index);
        else state.hidden.add(index);
        redrawAll();
      };
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `rgb(${cls.color.join(',')})`;
      const name = document.createElement('span');
      name.textContent = cls.name;
      item.append(box, swatch, name);
      return item;
    }),
  );
}

function onFrameMessage(data) {
  if (state.paused) return;
  const { header } = splitFrameMessage(data);
  if (!state.grid && header.streamId !== state.selected) return; // sent before a subscribe took effect
  const t = tile(header.streamId);
  t.pending = data;
  if (!t.drawing) void drawPending(t);
}

async function drawPending(t) {
  t.drawing = true;
  try {
    while (t.pending) {
      const data = t.pending;
      t.pending = null;
      const { header, jpeg, packedLabels } = splitFrameMessage(data);
      const [image, labels] = await Promise.all([
        createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' })),
        inflateLabels(packedLabels, header.width, header.height),
      ]);
      t.last?.image.close();
      t.last = { header, image, labels };
      redraw(t);
      if (header.streamId === state.selected) {
        noteDrawn(header);
        dashboard.onLabels(header.streamId, labels);
      }
    }
  } catch (error) {
    console.error('could not draw a frame:', error);
  } finally {
    t.drawing = false;
  }
}

/** A stream without a picture yet: its state in words (connecting, outage and why, failed). */
function drawStatus(canvas, stream) {
  const context = canvas.getContext('2d');
  context.fillStyle = '#000';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = '#ccc';
  context.font = '20px system-ui, sans-serif';
  const words = `${stream?.id ?? ''}: ${stream?.status ?? ''}${stream?.message ? ` — ${stream.message}` : ''}`.split(
    ' ',
  );
  let line = '';
  let y = 40;
  for (const word of words) {
    if (context.measureText(`${line} ${word}`).width > canvas.width - 40 && line) {
      context.fillText(line, 20, y);
      line = word;
      y += 28;
    } else line = line ? `${line} ${word}` : word;
  }
  context.fillText(line, 20, y);
}

/** Redraws every tile's last frame with the overlay as the controls say now. */
function redrawAll() {
  for (const t of state.tiles.values()) redraw(t);
}

/** Draws a tile's last frame with the overlay as the controls say now (also after a control changes). */
function redraw(t) {
  const last = t.last;
  if (!last) return;
  const { header, image, labels } = last;
  const { canvas } = t;
  if (canvas.width !== header.width || canvas.height !== header.height) {
    canvas.width = header.width;
    canvas.height = header.height;
  }
  if (overlayCanvas.width !== header.width || overlayCanvas.height !== header.height) {
    overlayCanvas.width = header.width;
    overlayCanvas.height = header.height;
  }
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const overlay = overlayContext.createImageData(header.width, header.height);
  const rgba = new Uint32Array(overlay.data.buffer);
  const colours = new Uint32Array(256);
  const alpha = Math.round(state.opacity * 255);
  state.classes.forEach((cls, index) => {
    const visible = !state.hidden.has(index) && cls.name !== 'background';
    const [r, g, b] = cls.color;
    colours[index] = visible ? ((alpha << 24) | (b << 16) | (g << 8) | r) >>> 0 : 0; // little-endian RGBA
  });
  for (let i = 0; i < labels.length; i++) rgba[i] = colours[labels[i]];
  overlayContext.putImageData(overlay, 0, 0);
  context.drawImage(overlayCanvas, 0, 0);
  dashboard.drawZones(canvas, header.streamId);
}

function noteDrawn(header) {
  const now = performance.now();
  const latency = Date.now() + state.clockOffset - header.capturedAt;
  state.drawnTimes.push(now);
  while (state.drawnTimes.length > 0 && now - state.drawnTimes[0] > 1000) state.drawnTimes.shift();
  state.latencies.push(latency);
  if (state.latencies.length > 30) state.latencies.shift();
  const sorted = [...state.latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const stats = window.viewerStats;
  stats.framesDrawn += 1;
  stats.fps = state.drawnTimes.length;
  stats.latencyMs = Math.round(median);
  stats.lastIndex = header.index;
  stats.recentLatencies.push(latency);
  if (stats.recentLatencies.length > 2000) stats.recentLatencies.shift();
  $('fps').textContent = String(stats.fps);
  $('latency').textContent = String(stats.latencyMs);
  $('frame-index').textContent = String(header.index);
  // Tiles at the camera's rate: how stale the oldest window's scores in this frame are.
  $('scores-age-stat').hidden = header.scoresAgeMs === undefined;
  if (header.scoresAgeMs !== undefined) {
    stats.scoresAgeMs = header.scoresAgeMs;
    $('scores-age').textContent = String(header.scoresAgeMs);
    $('windows-run').textContent = `${header.windowsRun[0]} of ${header.windowsRun[1]}`;
  }
  const present = new Set(header.classesPresent);
  for (const item of $('legend').children)
    item.className = present.has(Number(item.dataset.classIndex)) ? 'present' : 'absent';
}

$('opacity').addEventListener('input', (event) => {
  state.opacity = Number(event.target.value);
  $('opacity-value').textContent = state.opacity.toFixed(2);
  redrawAll();
});
$('crf').addEventListener('change', (event) => {
  if (state.selected) send({ type: 'crf', streamId: state.selected, on: event.target.checked });
});
$('grid').addEventListener('click', () => setGrid(!state.grid));
$('pause').addEventListener('click', () => {
  state.paused = !state.paused;
  for (const t of state.tiles.values()) t.pending = null;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  send({ type: 'pause', paused: state.paused });
});

connect();
