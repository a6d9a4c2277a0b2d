// Forms that call the JSON API: <form data-api="/api/v1/..." data-method="POST|PATCH|DELETE"> sends its
// fields as JSON with the session cookie. On success: data-next="/path/{field}" goes there (fields of the
// answer fill the braces), data-event="name" tells htmx listeners (e.g. a table reloads), data-reload reloads.
// data-show="field:#box" reveals a one-time secret of the answer. On failure: each error of a 422 is shown at its field (aria-invalid + a message tied with
// aria-describedby), anything else in the form's [data-role=alert]. data-confirm asks first.
// Also: buttons with data-copy="#selector" copy that element's text.

export function fieldValues(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "file") continue;
    if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
    if (el.type === "checkbox") body[el.name] = el.value === "on" ? true : el.value;
    else if (el.type === "number" || el.dataset.type === "number") {
      if (el.value !== "") body[el.name] = Number(el.value);
    } else if (el.dataset.type === "nullable") {
      body[el.name] = el.value.trim() === "" ? null : el.value.trim();
    } else if (el.dataset.type === "json") {
      if (el.value.trim() !== "") body[el.name] = JSON.parse(el.value);
    } else body[el.name] = el.value;
  }
  return body;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  const alert = form.querySelector("[data-role=alert]") || document.querySelector("main [data-role=alert]");
  if (alert) alert.textContent = "";
}

function alertOf(form) {
  return form.querySelector("[data-role=alert]") || document.querySelector("main [data-role=alert]");
}

// Shows the API's error answer: per-field messages of a 422, else its one-line detail.
export function showErrors(form, status, answer) {
  const errors = (answer && answer.errors) || [];
  let placed = 0;
  for (const e of errors) {
    const full = String(e.field || "");
    const name = full.split(".").pop();
    const input = full && [full, name, `args.${name}`].map((n) => form.querySelector(`[name="${CSS.escape(n)}"]`)).find(Boolean);
    if (!input) continue;
    const msg = document.createElement("p");
    msg.className = "field-error";
    msg.id = `${input.id || name}-error`;
    msg.textContent = e.msg;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), msg.id].filter(Boolean).join(" "));
    (input.closest(".field") || input.parentElement).append(msg);
    if (placed++ === 0) input.focus();
  }
  if (placed < errors.length || errors.length === 0) {
    const alert = alertOf(form);
    const detail = (answer && answer.detail) || `the server answered ${status}`;
    if (alert) alert.textContent = detail;
  }
}

function fill(template, answer, body) {
  return template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent((answer && answer[k]) ?? body[k] ?? ""));
}

async function submit(form) {
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  clearErrors(form);
  const method = (form.dataset.method || "POST").toUpperCase();
  let body;
  try {
    body = fieldValues(form);
  } catch (err) {
    alertOf(form).textContent = `A field holds invalid JSON: ${err.message}`;
    return;
  }
  const button = form.querySelector("[type=submit]");
  if (button) button.disabled = true;
  try {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET" && method !== "DELETE") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(form.dataset.api, init);
    const answer = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) return showErrors(form, r.status, answer);
    form.dispatchEvent(new CustomEvent("api:done", { bubbles: true, detail: answer }));
    if (form.dataset.show && answer) reveal(form.dataset.show, answer);
    if (form.dataset.event && window.htmx) window.htmx.trigger(document.body, form.dataset.event);
    if (form.dataset.next) window.location.assign(fill(form.dataset.next, answer, body));
    else if (form.dataset.reload !== undefined) window.location.reload();
    else if (method === "POST") form.reset();
  } catch (err) {
    const alert = alertOf(form);
    if (alert) alert.textContent = `Could not reach the server (${err.message}): check your connection and try again.`;
  } finally {
    if (button) button.disabled = false;
  }
}

// data-show="field:#box": a secret of the answer (an API key, a webhook's signing secret), shown this once.
function reveal(spec, answer) {
  const [field, selector] = spec.split(":");
  const box = document.querySelector(selector);
  if (!box || answer[field] === undefined) return;
  box.querySelector("[data-value]").textContent = answer[field];
  box.hidden = false;
  box.querySelector("[data-copy]").focus();
}

async function copy(button) {
  const target = document.querySelector(button.dataset.copy);
  const text = target ? target.textContent.trim() : "";
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const range = document.createRange(); // no clipboard permission: select it for Ctrl+C
    range.selectNodeContents(target);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = label), 1500);
}

document.addEventListener("submit", (ev) => {
  const form = ev.target.closest("form[data-api]");
  if (!form) return;
  ev.preventDefault();
  submit(form);
});
document.addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-copy]");
  if (button) copy(button);
});
