// Admin page: collects edited fields, asks the API to validate/preview/apply, shows errors next to fields.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function api(method, path, body) {
    return fetch("/admin/api" + path, {
      method: method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return {status: response.status, data: data}; });
    });
  }

  function valueOf(input) {
    var kind = input.dataset.kind;
    if (kind === "bool") { return input.checked; }
    var text = input.value.trim();
    if (kind === "list") { return text === "" ? [] : text.split(",").map(function (s) { return s.trim(); }); }
    if (kind === "number" && text !== "" && !isNaN(Number(text))) { return Number(text); }
    return text;  // a non-number stays text so the server names the field in its error
  }

  function originalOf(input) {
    return input.dataset.kind === "bool" ? input.dataset.original === "true" : input.dataset.original;
  }

  function body(extra) {
    var payload = {changes: changes()};
    var toml = document.getElementById("toml");
    if (toml && toml.value.trim()) { payload.toml = toml.value; }
    Object.keys(extra || {}).forEach(function (k) { payload[k] = extra[k]; });
    return payload;
  }

  function changes() {
    var out = {};
    document.querySelectorAll("[data-key]").forEach(function (input) {
      var now = input.dataset.kind === "bool" ? input.checked : input.value.trim();
      if (String(now) !== String(originalOf(input))) { out[input.dataset.key] = valueOf(input); }
    });
    return out;
  }

  function clearErrors() {
    document.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    document.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
    var general = document.getElementById("general-errors");
    if (general) { general.textContent = ""; }
  }

  function showErrors(outcome) {
    var general = [];
    (outcome.issue || []).forEach(function (issue) {
      var key = (issue.expression || [""])[0];
      var text = (issue.details || {}).text || key;
      var slot = document.querySelector('[data-error-for="' + CSS.escape(key) + '"]');
      var input = document.querySelector('[data-key="' + CSS.escape(key) + '"]');
      if (slot) { slot.textContent = text; } else { general.push(text); }
      if (input) { input.classList.add("invalid"); }
    });
    var box = document.getElementById("general-errors");
    if (box) { box.textContent = general.join("\n"); }
  }

  function renderDiff(diff) {
    if (!diff.length) { return "<p>No changes.</p>"; }
    return "<ul class='diff'>" + diff.map(function (d) {
      var what = ("added" in d) ? "+" + d.added.join(", ") + " -" + d.removed.join(", ")
                                : JSON.stringify(d.old) + " \u2192 " + JSON.stringify(d.new);
      return "<li><code>" + escapeHtml(d.path) + "</code>: " + escapeHtml(what) + "</li>";
    }).join("") + "</ul>";
  }

  function renderImpact(impact) {
    if (!impact) { return ""; }
    if (!impact.available) { return "<p class='muted'>Impact preview unavailable: " + escapeHtml(impact.reason) + "</p>"; }
    var rows = impact.findings.map(function (f) {
      return "<tr><td>" + escapeHtml(f.finding) + "</td><td>" + f.current + "</td><td>" + f.proposed + "</td></tr>";
    }).join("");
    var partial = impact.complete ? "" : " (time budget reached: " + impact.patients + " of " + impact.total +
      " evaluated)";
    var who = impact.changedPatients.map(function (c) {
      return "<li>" + escapeHtml(c.patient) + ": " + escapeHtml(c.removed.concat([]).join(", ")) + " \u2192 " +
        escapeHtml(c.added.join(", ")) + "</li>";
    }).join("");
    return "<p>" + impact.patients + " test patient(s)" + partial + "; " + impact.changedPatients.length +
      " would change.</p>" + (who ? "<ul class='changed'>" + who + "</ul>" : "") +
      "<table class='impact'><thead><tr><th>Finding</th><th>Now</th><th>Proposed</th></tr></thead><tbody>" + rows +
      "</tbody></table>";
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  var form = document.getElementById("config-form");
  if (form) {
    var timer = null;
    // Inline validation: each edit is checked by the same validator that guards the store.
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var payload = body();
        clearErrors();
        if (!Object.keys(payload.changes).length && !payload.toml) { return; }
        api("POST", "/config/proposals", payload).then(function (r) {
          if (r.status !== 200) { showErrors(r.data); }
        });
      }, 300);
    });
    document.getElementById("preview").addEventListener("click", function () {
      clearErrors();
      var out = document.getElementById("preview-result");
      out.textContent = "Evaluating\u2026";
      api("POST", "/config/proposals", body({impact: true})).then(function (r) {
        if (r.status !== 200) { out.textContent = ""; showErrors(r.data); return; }
        out.innerHTML = renderDiff(r.data.diff) + renderImpact(r.data.impact);
      });
    });
    var save = document.getElementById("save");
    if (save) {
      save.addEventListener("click", function () {
        clearErrors();
        var result = document.getElementById("save-result");
        api("POST", "/config/versions", body({
          reason: document.getElementById("reason").value, baseVersion: form.dataset.baseVersion
        })).then(function (r) {
          if (r.status !== 201) { showErrors(r.data); result.textContent = ""; return; }
          result.textContent = "Saved as " + r.data.version + ".";
          setTimeout(function () { window.location.reload(); }, 800);
        });
      });
    }
  }

  document.querySelectorAll("button.rollback").forEach(function (button) {
    button.addEventListener("click", function () {
      var reason = window.prompt("Reason for rolling back to " + button.dataset.version + "?");
      if (!reason) { return; }
      api("POST", "/config/rollback", {
        version: button.dataset.version, reason: reason,
        baseVersion: document.getElementById("history-active").value
      }).then(function (r) {
        if (r.status !== 201) { showErrors(r.data); return; }
        window.location.reload();
      });
    });
  });
})();
