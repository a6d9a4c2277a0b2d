// The project page: "Compare selected" opens the compare page for the ticked models.
document.addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-compare]");
  if (!button) return;
  const names = [...document.querySelectorAll("input[name=compare]:checked")].map((c) => c.value);
  const alert = document.getElementById("compare-alert");
  if (names.length < 2) {
    alert.textContent = "Tick at least two models to compare.";
    return;
  }
  window.location.assign(`${button.dataset.compare}?models=${names.map(encodeURIComponent).join(",")}`);
});
