// newswatch web interface: small progressive enhancements. Every page works without them.
// Everything shown comes from the server as escaped HTML; this script only moves it.
"use strict";

(function () {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  };

  // Buttons that ask before doing something that cannot be undone.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  const form = document.getElementById("rule-form");
  if (!form) {
    return;
  }
  const check = () => document.getElementById("check");
  const preview = document.getElementById("preview");
  const tried = document.getElementById("tried");
  const draftFields = ["query", "exclude", "languages", "sources", "min_hits", "period"];

  function draftQuery() {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const [key, value] of data.entries()) {
      if (draftFields.includes(key)) {
        params.append(key, value);
      }
    }
    return params.toString();
  }

  async function fetchHtml(url, options) {
    const headers = Object.assign({ "X-Requested-With": "fetch" }, (options || {}).headers || {});
    const response = await fetch(url, Object.assign({}, options, { headers, credentials: "same-origin" }));
    return response.text();
  }

  let checkTimer = null;
  let previewTimer = null;
  let previewRun = 0;

  async function refreshCheck() {
    const html = await fetchHtml("/rules/check?" + draftQuery());
    const box = check();
    if (box) {
      box.outerHTML = html;
    }
  }

  async function refreshPreview() {
    const run = ++previewRun;
    preview.classList.add("busy");
    preview.setAttribute("aria-busy", "true");
    try {
      const html = await fetchHtml("/rules/preview?" + draftQuery());
      if (run === previewRun) {
        preview.innerHTML = html;
      }
    } finally {
      if (run === previewRun) {
        preview.classList.remove("busy");
        preview.removeAttribute("aria-busy");
      }
    }
  }

  function changed(event) {
    if (!draftFields.includes(event.target.name)) {
      return;
    }
    clearTimeout(checkTimer);
    clearTimeout(previewTimer);
    checkTimer = setTimeout(refreshCheck, 250);
    previewTimer = setTimeout(refreshPreview, 700);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  if (form.querySelector("#query").value.trim()) {
    refreshPreview();
  }

  // The test box answers in place.
  const tryButton = document.getElementById("try-button");
  tryButton.addEventListener("click", async (event) => {
    event.preventDefault();
    tried.classList.add("busy");
    try {
      tried.innerHTML = await fetchHtml("/rules/try", {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { "X-CSRF-Token": csrf() },
      });
    } finally {
      tried.classList.remove("busy");
    }
  });
})();
