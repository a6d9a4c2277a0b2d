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
  for (const s of state) {
    const x = epoch + 1;
    const at = s.data[0].indexOf(x);
    if (at >= 0) continue; // a replayed event: already drawn
    s.data[0].push(x);
    s.columns.forEach((c, i) => s.data[i + 1].push(metrics[c] ?? null));
    s.chart.setData(s.data);
    s.figure.dataset.points = String(s.data[0].length);
  }
  const done = document.querySelector("[data-testid=epochs-done]");
  if (done) done.textContent = String(state[0].data[0].length);
  document.querySelector("[data-testid=no-epochs]")?.remove();
}

function setStatus(status) {
  const badge = document.querySelector("[data-testid=model-status]");
  badge.textContent = status;
  badge.className = `status ${status}`;
}

if (box.dataset.live === "true") {
  liveEvents(box.dataset.api + "/events", {
    epoch: (msg) => addEpoch(msg.data.epoch, msg.data.metrics || {}),
    start: () => setStatus("running"),
    end: (msg) => setStatus(msg.data.status),
    status: (msg) => msg.data.status && setStatus(msg.data.status),
  });
}
window.yfCharts = state; // for the latency bench and the console
