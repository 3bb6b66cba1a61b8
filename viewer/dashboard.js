// The dashboard half of the viewer: streams added and removed from the page (POST/DELETE
// /api/streams), zones drawn on the picture by clicking their corners (PUT …/zones) and drawn back
// with their live share and state, a chart of the class shares of the last minutes (uPlot, served
// by the server from its package), and the zone events (Server-Sent Events) with their clips.
// Plain ES module, no build step; viewer.js calls the hooks below.

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token');
/** A path of this server's API with the page's token, if it has one. */
const withToken = (path) =>
  token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;

/** Calls the API; resolves with the JSON answer, rejects with its one-line error. */
async function api(method, path, body) {
  const response = await fetch(withToken(path), {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(json?.error ?? `${method} ${path}: ${response.status}`);
  return json;
}

/** Five minutes of class shares at one sample a second, per stream. */
const HISTORY_SECONDS = 300;

const board = {
  classes: [],
  selected: null,
  /** streamId → the zones as the server has them (specs), and their latest states. */
  zones: new Map(),
  states: new Map(),
  /** The zone being drawn on the selected stream: its corners in shares of the frame. */
  drawing: null,
  /** streamId → [{ t, shares: Float64Array per class }] */
  history: new Map(),
  chart: null,
  chartClasses: '',
  events: [],
};
/** What the tests read. */
window.dashboardState = board;

function showError(error) {
  $('api-error').textContent = error ? String(error.message ?? error) : '';
}

export function onHello(classes) {
  board.classes = classes;
  const select = $('zone-classes');
  select.replaceChildren(
    ...classes
      .filter((c) => c.name !== 'background')
      .map((c) => {
        const option = document.createElement('option');
        option.value = option.textContent = c.name;
        return option;
      }),
  );
}

export function onStreams(streams) {
  for (const stream of streams) board.states.set(stream.id, stream.zones ?? []);
  // Zones changed elsewhere (another page, curl): the list of names tells.
  const names = (id) => (board.states.get(id) ?? []).map((s) => s.name).join('\n');
  const known = (id) => (board.zones.get(id) ?? []).map((z) => z.name).join('\n');
  if (board.selected !== null && board.zones.has(board.selected) && names(board.selected) !== known(board.selected))
    void loadZones(board.selected);
  for (const id of board.zones.keys()) if (!streams.some((s) => s.id === id)) board.zones.delete(id);
  renderZones();
}

export function onSelect(id) {
  board.selected = id;
  board.drawing = null;
  $('zone-form').hidden = true;
  if (id !== null && !board.zones.has(id)) void loadZones(id);
  renderZones();
  renderChart();
}

async function loadZones(id) {
  try {
    const { zones } = await api('GET', `api/streams/${encodeURIComponent(id)}/zones`);
    board.zones.set(id, zones);
    renderZones();
  } catch (error) {
    showError(error);
  }
}

/** Each stream in the list gets a remove button. */
export function decorateStreams(list) {
  for (const item of list.children) {
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'remove';
    remove.textContent = '×';
    remove.title = `remove stream ${item.dataset.streamId}`;
    remove.onclick = async (event) => {
      event.stopPropagation();
      try {
        await api('DELETE', `api/streams/${encodeURIComponent(item.dataset.streamId)}`);
        showError(null);
      } catch (error) {
        showError(error);
      }
    };
    item.append(remove);
  }
}

/** A frame of the selected stream was drawn: its class shares, one sample a second for the chart. */
export function onLabels(streamId, labels) {
  const samples = board.history.get(streamId) ?? [];
  const now = Date.now() / 1000;
  if (samples.length > 0 && now - samples.at(-1).t < 1) return;
  const counts = new Float64Array(board.classes.length);
  for (let i = 0; i < labels.length; i++) counts[labels[i]] += 1;
  for (let c = 0; c < counts.length; c++) counts[c] /= labels.length;
  samples.push({ t: now, shares: counts });
  while (samples.length > 0 && now - samples[0].t > HISTORY_SECONDS) samples.shift();
  board.history.set(streamId, samples);
  if (streamId === board.selected) renderChart();
}

/** Draws the selected stream's zones (and the one being drawn) over its picture. */
export function drawZones(canvas, streamId) {
  const context = canvas.getContext('2d');
  const { width, height } = canvas;
  const states = new Map((board.states.get(streamId) ?? []).map((s) => [s.name, s]));
  context.lineWidth = Math.max(2, width / 320);
  context.font = `${Math.max(12, Math.round(width / 45))}px system-ui, sans-serif`;
  for (const zone of board.zones.get(streamId) ?? []) {
    const state = states.get(zone.name);
    const colour = state?.occupied ? '#ff453a' : '#ffd60a';
    context.strokeStyle = colour;
    context.beginPath();
    zone.polygon.forEach(([x, y], i) =>
      i ? context.lineTo(x * width, y * height) : context.moveTo(x * width, y * height),
    );
    context.closePath();
    context.stroke();
    const [x, y] = zone.polygon[0];
    const text = `${zone.name} ${((state?.share ?? 0) * 100).toFixed(1)}%${state?.occupied ? ' occupied' : ''}`;
    context.fillStyle = 'rgba(0,0,0,0.6)';
    context.fillRect(x * width, y * height, context.measureText(text).width + 8, parseInt(context.font, 10) + 6);
    context.fillStyle = colour;
    context.fillText(text, x * width + 4, y * height + parseInt(context.font, 10));
  }
  if (board.drawing && streamId === board.selected) {
    context.strokeStyle = context.fillStyle = '#0af';
    context.beginPath();
    board.drawing.forEach(([x, y], i) =>
      i ? context.lineTo(x * width, y * height) : context.moveTo(x * width, y * height),
    );
    context.stroke();
    for (const [x, y] of board.drawing) context.fillRect(x * width - 4, y * height - 4, 8, 8);
  }
}

/** A click on the selected stream's picture while drawing: one more corner. True when it was taken. */
export function onCanvasClick(canvas, event) {
  if (!board.drawing) return false;
  const box = canvas.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
  board.drawing.push([Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000]);
  $('zone-save').disabled = board.drawing.length < 3;
  $('zone-hint').textContent = `${board.drawing.length} corner${board.drawing.length === 1 ? '' : 's'}`;
  return true;
}

function renderZones() {
  const list = $('zones');
  const zones = board.selected === null ? [] : (board.zones.get(board.selected) ?? []);
  const states = new Map((board.states.get(board.selected) ?? []).map((s) => [s.name, s]));
  list.replaceChildren(
    ...zones.map((zone) => {
      const state = states.get(zone.name);
      const item = document.createElement('li');
      item.dataset.zone = zone.name;
      item.dataset.occupied = String(Boolean(state?.occupied));
      const name = document.createElement('span');
      name.textContent = `${zone.name} — ${zone.classes.join(', ')}: ${((state?.share ?? 0) * 100).toFixed(1)}% ${state?.occupied ? 'occupied' : 'free'}`;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'remove';
      remove.textContent = '×';
      remove.title = `remove zone ${zone.name}`;
      remove.onclick = () => void putZones(zones.filter((z) => z !== zone));
      item.append(name, remove);
      return item;
    }),
  );
  $('new-zone').disabled = board.selected === null;
}

async function putZones(zones) {
  const id = board.selected;
  if (id === null) return;
  try {
    const answer = await api('PUT', `api/streams/${encodeURIComponent(id)}/zones`, zones);
    board.zones.set(id, answer.zones);
    showError(null);
  } catch (error) {
    showError(error);
  }
  renderZones();
}

function renderChart() {
  const target = $('chart');
  const samples = board.history.get(board.selected) ?? [];
  if (typeof uPlot === 'undefined' || samples.length === 0) return;
  // The classes seen in the window, background aside.
  const seen = board.classes
    .map((c, index) => ({ ...c, index }))
    .filter((c) => c.name !== 'background' && samples.some((s) => s.shares[c.index] > 0));
  const key = `${board.selected}:${seen.map((c) => c.index).join(',')}`;
  const data = [samples.map((s) => s.t), ...seen.map((c) => samples.map((s) => s.shares[c.index] * 100))];
  if (board.chart && board.chartClasses === key) {
    board.chart.setData(data);
    return;
  }
  board.chart?.destroy();
  board.chartClasses = key;
  board.chart = new uPlot(
    {
      width: target.clientWidth || 600,
      height: 160,
      scales: { y: { range: [0, 100] } },
      axes: [{ stroke: '#aaa' }, { stroke: '#aaa', label: '% of the frame' }],
      series: [{}, ...seen.map((c) => ({ label: c.name, stroke: `rgb(${c.color.join(',')})`, width: 2 }))],
    },
    data,
    target,
  );
}

function listenToEvents() {
  const source = new EventSource(withToken('api/events'));
  const onEvent = (message) => {
    const event = JSON.parse(message.data);
    board.events.unshift(event);
    if (board.events.length > 100) board.events.pop();
    const item = document.createElement('li');
    item.dataset.type = event.type;
    item.textContent = `${new Date(event.at).toLocaleTimeString()} ${event.stream} · ${event.zone}: ${event.type === 'zone.occupied' ? 'occupied' : 'free'} (${(event.share * 100).toFixed(1)}%)`;
    if (event.clip) {
      const play = document.createElement('button');
      play.type = 'button';
      play.className = 'play';
      play.textContent = '▶ clip';
      play.onclick = () => void playClip(event.clip);
      item.append(play);
    }
    $('events').prepend(item);
    while ($('events').children.length > 100) $('events').lastChild.remove();
  };
  source.addEventListener('zone.occupied', onEvent);
  source.addEventListener('zone.free', onEvent);
}

async function playClip(name) {
  const path = withToken(`api/clips/${encodeURIComponent(name)}`);
  const head = await fetch(path, { method: 'HEAD' });
  if (head.status === 503) {
    $('clip-note').textContent = `${name} is still being recorded: try again in a few seconds`;
    return;
  }
  $('clip-note').textContent = head.ok ? name : `${name}: not found (removed to stay under --clips-max-gb?)`;
  if (!head.ok) return;
  const player = $('clip-player');
  player.hidden = false;
  player.src = path;
  void player.play().catch(() => {});
}

$('add-stream').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('add-input').value.trim();
  const id = $('add-id').value.trim();
  if (!input) return;
  try {
    await api('POST', 'api/streams', { input, ...(id ? { id } : {}) });
    $('add-input').value = $('add-id').value = '';
    showError(null);
  } catch (error) {
    showError(error);
  }
});
$('new-zone').addEventListener('click', () => {
  board.drawing = [];
  $('zone-form').hidden = false;
  $('zone-save').disabled = true;
  $('zone-hint').textContent = 'click the corners on the picture';
});
$('zone-cancel').addEventListener('click', () => {
  board.drawing = null;
  $('zone-form').hidden = true;
});
$('zone-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (!board.drawing || board.drawing.length < 3) return;
  const zone = {
    name: $('zone-name').value.trim() || `zone ${(board.zones.get(board.selected)?.length ?? 0) + 1}`,
    polygon: board.drawing,
    classes: [...$('zone-classes').selectedOptions].map((o) => o.value),
    minShare: Number($('zone-min-share').value) / 100,
    minSeconds: Number($('zone-min-seconds').value),
  };
  board.drawing = null;
  $('zone-form').hidden = true;
  void putZones([...(board.zones.get(board.selected) ?? []), zone]);
});

listenToEvents();
