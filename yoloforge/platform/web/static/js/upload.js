// The dataset upload: multipart POST /api/v1/datasets with a progress bar (XMLHttpRequest reports upload
// progress; fetch does not), then the new version's report page. Errors are shown at their field.
import { clearErrors, showErrors } from "/static/js/forms.js";

const form = document.getElementById("upload-form");
const row = form.querySelector("[data-role=progress]");
const bar = row.querySelector("progress");
const text = row.querySelector("[data-role=progress-text]");

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  clearErrors(form);
  const data = new FormData(form);
  if (!form.elements.file.files.length) {
    return showErrors(form, 422, { errors: [{ field: "file", msg: "choose a .zip of your dataset" }] });
  }
  if (!data.get("names")) data.delete("names");
  const button = form.querySelector("[type=submit]");
  button.disabled = true;
  row.hidden = false;
  bar.value = 0;
  text.textContent = "Uploading…";
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (e) => {
    if (!e.lengthComputable) return;
    bar.value = Math.round((100 * e.loaded) / e.total);
    text.textContent = bar.value < 100 ? `Uploading… ${bar.value}%` : "Checking every image and label…";
  });
  xhr.addEventListener("load", () => {
    button.disabled = false;
    let answer = null;
    try {
      answer = JSON.parse(xhr.responseText);
    } catch {}
    if (xhr.status === 201 && answer) {
      text.textContent = "Done.";
      window.location.assign(`/datasets/${answer.owner}/${answer.name}?version=${answer.number}`);
    } else {
      row.hidden = true;
      showErrors(form, xhr.status, answer);
    }
  });
  xhr.addEventListener("error", () => {
    button.disabled = false;
    row.hidden = true;
    showErrors(form, 0, { detail: "The upload was interrupted: check your connection and upload again." });
  });
  xhr.send(data);
});
