// The model page's curves: uPlot charts drawn from the metrics so far (embedded in the page), then grown
// live from the model's SSE stream (GET .../events; an `epoch` event appends a point, `end`/`status` update the
// badge; EventSource resumes with Last-Event-ID by itself). Each chart's figure carries data-points (how many
// epochs it shows) so tests and people can see it grow.
import { makeChart, seriesLabel } from "/static/js/charts.js";
import { liveEvents } from "/static/js/live.js";

const box = document.getElementById("charts");
const { rows, charts } = JSON.parse(document.getElementById("model-data").textContent);
const state = charts.map(([title, columns], i) => {
  const figure = box.querySelector(`[data-chart="${i}"]`);
  const data = [rows.map((r) => r.epoch + 1), ...columns.map((c) => rows.map((r) => r[c] ?? null))];
  const chart = makeChart(figure, columns.map(seriesLabel), data);
  figure.dataset.points = String(rows.length);
  return { figure, columns, data, chart };
});

function addEpoch(epoch, metrics) {
  const x = epoch + 1;
  if (state[0].data[0].includes(x)) return; // a replayed event: already drawn
  const xs = state[0].data[0];
  const at = xs.findIndex((v) => v > x) === -1 ? xs.length : xs.findIndex((v) => v > x); // x stays sorted
  for (const s of state) {
    s.data[0].splice(at, 0, x);
    s.columns.forEach((c, i) => s.data[i + 1].splice(at, 0, metrics[c] ?? null));
    s.chart.setData(s.data);
    s.figure.dataset.points = String(s.data[0].length);
  }
  window.yfDrawn = window.yfDrawn || [];
  window.yfDrawn.push({ epoch, at: Date.now() }); // when the point was on the chart (the latency bench reads it)
  const done = document.querySelector("[data-testid=epochs-done]");
  if (done) done.textContent = String(state[0].data[0].length);
  document.querySelector("[data-testid=no-epochs]")?.remove();
}

function setStatus(status) {
  const badge = document.querySelector("[data-testid=model-status]");
  badge.textContent = status;
  badge.className = `status ${status}`;
}

// System use: GPU utilisation and memory when the run has GPUs, else CPU and RAM (percent, by seconds).
const live = JSON.parse(document.getElementById("live-data").textContent);
const sysFigure = document.getElementById("system-chart");
let sys = null;
if (sysFigure) {
  const rows = live.system || [];
  const gpu = rows.length > 0 && rows[0].gpu !== undefined;
  const keys = gpu ? ["gpu", "gpu_mem"] : ["cpu", "ram"];
  const data = [rows.map((r) => r.t), ...keys.map((k) => rows.map((r) => r[k] ?? null))];
  const chart = makeChart(sysFigure, gpu ? ["GPU %", "GPU memory %"] : ["CPU %", "RAM %"], data);
  sysFigure.dataset.points = String(rows.length);
  sys = { chart, data, keys, t0: null };
}

function addSystem(msg) {
  if (!sys) return;
  const d = msg.data || {};
  const gpus = d.gpus || [];
  const row = { cpu: d.cpu, ram: d.ram };
  if (gpus.length) {
    row.gpu = gpus.reduce((a, g) => a + (g.util || 0), 0) / gpus.length;
    const mem = gpus.filter((g) => g.memory_total).map((g) => (100 * g.memory_used) / g.memory_total);
    row.gpu_mem = mem.length ? mem.reduce((a, b) => a + b, 0) / mem.length : null;
  }
  if (sys.t0 === null) sys.t0 = sys.data[0].length ? msg.time - sys.data[0][sys.data[0].length - 1] : msg.time;
  sys.data[0].push(Math.round((msg.time - sys.t0) * 10) / 10);
  sys.keys.forEach((k, i) => sys.data[i + 1].push(row[k] ?? null));
  sys.chart.setData(sys.data);
  sysFigure.dataset.points = String(sys.data[0].length);
}

// Console lines arrive as `console` events; the page already shows those up to live.console_next.
const consoleBox = document.getElementById("console");
function addConsole(msg, ev) {
  if (!consoleBox) return;
  if (Number(ev.lastEventId) <= Number(box.dataset.after || 0)) return; // already on the page
  const stick = consoleBox.scrollTop + consoleBox.clientHeight >= consoleBox.scrollHeight - 4;
  consoleBox.append(document.createTextNode((msg.data.lines || []).join("\n") + "\n"));
  if (stick) consoleBox.scrollTop = consoleBox.scrollHeight;
}
if (consoleBox) consoleBox.scrollTop = consoleBox.scrollHeight;

if (box.dataset.live === "true") {
  liveEvents(`${box.dataset.api}/events?after=${box.dataset.after || 0}`, {
    epoch: (msg) => addEpoch(msg.data.epoch, msg.data.metrics || {}),
    system: (msg) => addSystem(msg),
    console: (msg, ev) => addConsole(msg, ev),
    start: () => setStatus("running"),
    end: (msg) => setStatus(msg.data.status),
    status: (msg) => msg.data.status && setStatus(msg.data.status),
  });
}
window.yfCharts = state; // for the latency bench and the console
