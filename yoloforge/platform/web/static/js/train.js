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

// Step 3: the submission's dry run (POST .../models?dry_run=true) checks every setting and answers whether the
// account may start on the chosen GPU, the jobs waiting for it and the cost estimate; nothing is created.
let asked = 0;
async function estimate() {
  const box = form.querySelector("[data-testid=estimate]");
  if (!box) return;
  let payload;
  try {
    payload = body();
  } catch {
    return; // a setting that does not parse: the review step and Start Training name it
  }
  if (!payload.dataset || !payload.gpu || !payload.name) return;
  const mine = ++asked;
  let answer = null;
  let ok = false;
  try {
    const r = await fetch(`${attr("submit")}?dry_run=true`, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    });
    ok = r.ok;
    answer = await r.json().catch(() => null);
  } catch {}
  if (mine !== asked) return; // a newer choice was made meanwhile
  box.replaceChildren(...(ok ? previewLines(answer) : [line(answer?.detail ?? "The estimate is not available right now.", "form-error")]));
}

function line(text, cls) {
  const p = document.createElement("p");
  if (cls) p.className = cls;
  p.textContent = text;
  return p;
}

export function duration(seconds) {
  const s = Number(seconds);
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function previewLines(p) {
  const out = [];
  const e = p.estimate;
  const usd = (x) => `$${Number(x).toFixed(2)}`;
  if (e) {
    const strong = document.createElement("p");
    strong.append(Object.assign(document.createElement("strong"), { textContent: "Estimate: " }),
      `${usd(e.cost.low)} – ${usd(e.cost.high)} and ${duration(e.seconds.low)} – ${duration(e.seconds.high)} for ${e.epochs} epochs on ${e.gpu} ($${p.hourly_usd}/h).`);
    strong.title = e.basis;
    out.push(strong);
  } else {
    out.push(line(`No estimate: ${p.estimate_note}`));
  }
  if (p.waiting > 0) out.push(line(`${p.waiting} job${p.waiting === 1 ? "" : "s"} waiting for ${p.gpu} now.`));
  if (!p.can_start) {
    const warn = line(`${p.reason}. `, "form-error");
    warn.append(Object.assign(document.createElement("a"), { href: "/billing", textContent: "Billing" }));
    out.push(warn);
  }
  return out;
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
  if (current === 2) estimate();
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
