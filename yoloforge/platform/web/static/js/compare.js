// The compare page: per metric, one uPlot chart with a curve per model on a shared epoch axis.
import { makeChart } from "/static/js/charts.js";

const { names, metrics, runs } = JSON.parse(document.getElementById("compare-data").textContent);
const box = document.getElementById("compare-charts");
const epochs = [...new Set(runs.flatMap((rows) => rows.map((r) => r.epoch)))].sort((a, b) => a - b);
metrics.forEach(([title, column], i) => {
  const byModel = runs.map((rows) => {
    const at = new Map(rows.map((r) => [r.epoch, r[column] ?? null]));
    return epochs.map((e) => (at.has(e) ? at.get(e) : null));
  });
  const figure = box.querySelector(`[data-chart="${i}"]`);
  makeChart(figure, names, [epochs.map((e) => e + 1), ...byModel]);
  figure.dataset.series = String(names.length);
});
