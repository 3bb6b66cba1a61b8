// The live viewer: connects to /ws, lists the streams, draws the selected one with its label
// overlay composed here (so opacity and hidden classes need nothing from the server), and shows
// fps and end-to-end latency (captured on the server → drawn here). Plain ES module, no build step.
import { inflateLabels, splitFrameMessage } from './wireFormat.js';

const $ = (id) => document.getElementById(id);
const canvas = $('view');
const context = canvas.getContext('2d');
const overlayCanvas = document.createElement('canvas');
const overlayContext = overlayCanvas.getContext('2d');

const state = {
  socket: null,
  classes: [],
  hidden: new Set(),
  opacity: Number($('opacity').value),
  streams: [],
  selected: null,
  crfAvailable: false,
  paused: false,
  /** Server clock minus ours (ms), from ping/pong. */
  clockOffset: 0,
  /** The newest undrawn frame message: older ones are skipped when drawing falls behind. */
  pending: null,
  drawing: false,
  last: null,
  drawnTimes: [],
  latencies: [],
  reconnectMs: 500,
};

/** What the tests and the benchmark (and a curious user in the console) can read. */
window.viewerStats = { framesDrawn: 0, fps: 0, latencyMs: null, lastIndex: null, connected: false, recentLatencies: [] };

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
    setConnection('down', event.code === 1006 ? 'disconnected (refused or lost) — retrying' : `closed (${event.code}) — retrying`);
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
  if (!streams.some((s) => s.id === state.selected)) select(streams[0]?.id ?? null);
  renderStreams();
}

function select(id) {
  state.selected = id;
  state.last = null;
  state.drawnTimes = [];
  state.latencies = [];
  if (id !== null) send({ type: 'subscribe', streams: [id] });
  renderStreams();
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
      detail.textContent = `${stream.status}${stream.message ? ` — ${stream.message}` : ''}${stream.width ? ` · ${stream.width}×${stream.height}` : ''}`;
      item.append(detail);
      item.onclick = () => select(stream.id);
      return item;
    }),
  );
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
        redraw();
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
  state.pending = data;
  if (!state.drawing) void drawPending();
}

async function drawPending() {
  state.drawing = true;
  try {
    while (state.pending) {
      const data = state.pending;
      state.pending = null;
      const { header, jpeg, packedLabels } = splitFrameMessage(data);
      if (header.streamId !== state.selected) continue;
      const [image, labels] = await Promise.all([createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' })), inflateLabels(packedLabels, header.width, header.height)]);
      state.last?.image.close();
      state.last = { header, image, labels };
      redraw();
      noteDrawn(header);
    }
  } catch (error) {
    console.error('could not draw a frame:', error);
  } finally {
    state.drawing = false;
  }
}

/** Draws the last frame with the overlay as the controls say now (also after a control changes). */
function redraw() {
  const last = state.last;
  if (!last) return;
  const { header, image, labels } = last;
  if (canvas.width !== header.width || canvas.height !== header.height) {
    canvas.width = header.width;
    canvas.height = header.height;
  }
  if (overlayCanvas.width !== header.width || overlayCanvas.height !== header.height) {
    overlayCanvas.width = header.width;
    overlayCanvas.height = header.height;
  }
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
  const present = new Set(header.classesPresent);
  for (const item of $('legend').children) item.className = present.has(Number(item.dataset.classIndex)) ? 'present' : 'absent';
}

$('opacity').addEventListener('input', (event) => {
  state.opacity = Number(event.target.value);
  $('opacity-value').textContent = state.opacity.toFixed(2);
  redraw();
});
$('crf').addEventListener('change', (event) => {
  if (state.selected) send({ type: 'crf', streamId: state.selected, on: event.target.checked });
});
$('pause').addEventListener('click', () => {
  state.paused = !state.paused;
  state.pending = null;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  send({ type: 'pause', paused: state.paused });
});

connect();
