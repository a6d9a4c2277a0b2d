// uPlot line charts themed from the page's CSS variables (light or dark), resized with their box. Clicking a
// legend entry hides or shows that series (uPlot's own legend).
const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(name).trim();
export const PALETTE = ["#4f46e5", "#e8590c", "#0ca678", "#d6336c", "#1c7ed6", "#f59f00", "#7048e8", "#2b8a3e"];

export function seriesLabel(column) {
  return column.replace("metrics/", "").replace("(B)", "").replace("/", " ").replaceAll("_", " ");
}

// figure: a .chart figure holding a .chart-plot box; data: [xs, ys1, ys2, ...] (null for a missing point).
export function makeChart(figure, labels, data) {
  const plot = figure.querySelector(".chart-plot");
  const axis = { stroke: color("--muted"), grid: { stroke: color("--border"), width: 1 }, ticks: { show: false } };
  const opts = {
    width: Math.max(plot.clientWidth, 200),
    height: 220,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false } },
    axes: [{ ...axis, label: "epoch", labelSize: 20 }, { ...axis, size: 48 }],
    series: [
      { label: "epoch" },
      ...labels.map((label, i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 2, points: { size: 5 }, spanGaps: true })),
    ],
  };
  const chart = new uPlot(opts, data, plot);
  new ResizeObserver(() => chart.setSize({ width: Math.max(plot.clientWidth, 200), height: 220 })).observe(plot);
  return chart;
}
