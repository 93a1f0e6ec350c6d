// sessiond admin UI: small progressive enhancement only. Every page works
// without this file: confirmations are <details> disclosures, forms post
// normally, times are rendered on the server.
(function () {
  "use strict";

  // One confirmation open at a time; Escape closes it.
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (!(d instanceof HTMLDetailsElement) || !d.classList.contains("confirm") || !d.open) return;
    document.querySelectorAll("details.confirm[open]").forEach(function (o) {
      if (o !== d) o.open = false;
    });
    var btn = d.querySelector(".confirm-box button");
    if (btn) btn.focus();
  }, true);
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.confirm[open]").forEach(function (o) { o.open = false; });
  });

  // Copy buttons for secrets shown once.
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var el = document.getElementById(btn.getAttribute("data-copy"));
      if (!el || !navigator.clipboard) return;
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        btn.textContent = "Copied";
      });
    });
  });

  // Flash messages can be dismissed.
  document.querySelectorAll(".flash").forEach(function (f) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "flash-close";
    b.setAttribute("aria-label", "Dismiss");
    b.textContent = "×";
    b.addEventListener("click", function () { f.remove(); });
    f.appendChild(b);
  });
})();
