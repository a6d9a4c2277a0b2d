// Train Model: four steps of one form, then POST .../models (the jobs API). Only advanced settings that differ
// from the schema's default are sent, in `args`. A 422 is shown at its field, on the step that holds it.
import { clearErrors, showErrors } from "/static/js/forms.js";

const form = document.getElementById("train-form");
const steps = [...form.querySelectorAll("[data-step]")];
const tabs = [...document.querySelectorAll("[data-step-tab]")];
const back = form.querySelector("[data-back]");
const next = form.querySelector("[data-next]");
const start = form.querySelector("[data-start]");
let current = 0;
// not form.dataset: the radio buttons named "dataset" shadow that property on a <form>
const attr = (name) => form.getAttribute(`data-${name}`);

function show(i) {
  current = i;
  steps.forEach((s, k) => (s.hidden = k !== i));
  tabs.forEach((t, k) => (k === i ? t.setAttribute("aria-current", "step") : t.removeAttribute("aria-current")));
  back.hidden = i === 0;
  next.hidden = i === steps.length - 1;
  start.hidden = i !== steps.length - 1;
  if (i === 2) estimate();
  if (i === 3) review();
  steps[i].querySelector("legend").scrollIntoView({ block: "nearest" });
}

function value(el) {
  const t = el.dataset.type;
  if (el.value === "" && t !== "text") return null;
  if (t === "number") return Number(el.value);
  if (t === "bool") return el.value === "true";
  if (t === "json") return JSON.parse(el.value);
  return el.value;
}

export function body() {
  const checked = (name) => form.querySelector(`input[name=${name}]:checked`)?.value;
  const out = { dataset: checked("dataset"), model: checked("model"), gpu: checked("gpu") ?? "cpu", args: {} };
  for (const name of ["name", "epochs", "imgsz", "batch"]) {
    const v = value(form.elements[name]);
    if (v !== null) out[name] = v;
  }
  if (out.batch === undefined) out.batch = -1;
  if (out.model && !document.getElementById("t-pretrained").checked) out.model += ".yaml"; // from scratch
  for (const el of form.querySelectorAll("[name^='args.']")) {
    let v;
    try {
      v = value(el);
    } catch {
      throw { field: el.name, msg: "not valid JSON: write e.g. [0, 2]" };
    }
    const fallback = JSON.parse(el.dataset.default);
    if (JSON.stringify(v) !== JSON.stringify(fallback) && !(v === null && el.dataset.type === "number" && fallback === null)) {
      out.args[el.name.slice(5)] = v;
    }
  }
  return out;
}

async function estimate() {
  const box = form.querySelector("[data-testid=estimate]");
  if (!box || attr("billing") !== "true") return;
  const gpu = form.querySelector("input[name=gpu]:checked");
  const data = form.querySelector("input[name=dataset]:checked");
  if (!gpu || !data) return;
  const rate = Number(gpu.dataset.rate);
  const lines = [];
  if (rate > 0 && attr("can-start-paid") !== "true") {
    lines.push(`<p class="form-error">Your balance ($${attr("balance")}) is below the $${attr("min-balance")} needed to start on a paid GPU: <a href="/billing">add credit</a> or pick a free GPU.</p>`);
  }
  try {
    const r = await fetch("/api/v1/billing/estimate", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ gpu: gpu.value, model: form.querySelector("input[name=model]:checked").value,
        epochs: Number(form.elements.epochs.value) || 100, imgsz: Number(form.elements.imgsz.value) || 640,
        images: Math.max(1, Number(data.dataset.images)) }),
    });
    if (r.ok) {
      const e = await r.json();
      const usd = (x) => `$${Number(x).toFixed(2)}`;
      const mins = (x) => `${Math.max(1, Math.round(Number(x) / 60))} min`;
      if (e.cost) lines.unshift(`<p><strong>Estimate:</strong> ${usd(e.cost.low)} – ${usd(e.cost.high)} and ${mins(e.seconds.low)} – ${mins(e.seconds.high)} for ${e.epochs} epochs on ${e.gpu}.</p>`);
    }
  } catch {}
  box.innerHTML = lines.join("");
}

function review() {
  const dl = form.querySelector("[data-testid=review]");
  dl.replaceChildren();
  let b;
  try {
    b = body();
  } catch (e) {
    return showErrors(form, 422, { errors: [e] });
  }
  const rows = [["Dataset", b.dataset ?? "— choose one in step 1"], ["Model", b.model], ["Name", b.name], ["Epochs", b.epochs],
    ["Image size", b.imgsz], ["Batch", b.batch === -1 ? "Auto" : b.batch], ["GPU", b.gpu],
    ["Changed settings", Object.entries(b.args).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ") || "none"]];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

function stepOf(field) {
  const name = String(field || "").replace(/^body\./, "");
  const el = form.querySelector(`[name="${CSS.escape(name)}"]`) || form.querySelector(`[name="args.${CSS.escape(name.split(".").pop())}"]`)
    || form.querySelector(`[name="${CSS.escape(name.split(".").pop())}"]`);
  if (el) el.closest("details")?.setAttribute("open", "");
  return el ? steps.indexOf(el.closest("[data-step]")) : -1;
}

back.addEventListener("click", () => show(Math.max(0, current - 1)));
next.addEventListener("click", () => show(Math.min(steps.length - 1, current + 1)));
tabs.forEach((t, k) => t.addEventListener("click", () => show(k)));
form.addEventListener("change", (ev) => {
  if (ev.target.name === "gpu" || ev.target.name === "dataset") estimate();
});
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  let payload;
  try {
    payload = body();
  } catch (e) {
    show(Math.max(0, stepOf(e.field)));
    return showErrors(form, 422, { errors: [e] });
  }
  start.disabled = true;
  try {
    const r = await fetch(attr("submit"), {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    });
    const answer = await r.json().catch(() => null);
    if (r.ok) return window.location.assign(`${attr("project")}/models/${encodeURIComponent(answer.name)}`);
    const errors = ((answer && answer.errors) || []).map((e) => ({ ...e, field: mapField(e.field) }));
    const first = errors.map((e) => stepOf(e.field)).find((i) => i >= 0);
    if (first !== undefined) show(first);
    showErrors(form, r.status, { ...answer, errors });
  } finally {
    start.disabled = false;
  }
});

// "args.lr0" and "lr0" both land on the input named args.lr0; "name", "epochs"... on theirs.
function mapField(field) {
  const name = String(field || "").replace(/^body\./, "");
  if (form.querySelector(`[name="${CSS.escape(name)}"]`)) return name;
  const last = name.split(".").pop();
  if (form.querySelector(`[name="args.${CSS.escape(last)}"]`)) return `args.${last}`;
  return name;
}
show(0);
