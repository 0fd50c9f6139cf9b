// Ferry workspace: small progressive enhancements. Every page works without this script.
(function () {
  "use strict";

  function human(bytes) {
    var units = ["B", "KB", "MB", "GB", "TB"], value = bytes, unit = 0;
    while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
    return unit === 0 ? bytes + " B" : value.toFixed(1) + " " + units[unit];
  }
  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }
  function cell(row, text) { var td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }

  // Tabs on the import page (both panels stay inside one form, so selections survive switching).
  function setupTabs() {
    var tabs = document.querySelectorAll(".tabs .tab");
    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () {
        tabs.forEach(function (other) {
          var selected = other === tab;
          other.setAttribute("aria-selected", selected ? "true" : "false");
          var panel = document.getElementById("tab-" + other.dataset.tab);
          if (panel) panel.hidden = !selected;
        });
      });
    });
  }

  // Rows that open to their biosamples or datasets, fetched once from the server as HTML.
  function setupExpanders() {
    document.querySelectorAll("tbody.expandable").forEach(function (group) {
      var button = group.querySelector("button.expand");
      var detail = group.querySelector("tr.detail");
      var loaded = false;
      if (!button || !detail) return;
      button.addEventListener("click", function () {
        var open = detail.hidden;
        detail.hidden = !open;
        button.setAttribute("aria-expanded", open ? "true" : "false");
        button.textContent = open ? "−" : "+";
        if (open && !loaded) {
          loaded = true;
          var target = detail.querySelector(".fragment");
          fetch(group.dataset.fragment, { credentials: "same-origin" })
            .then(function (response) { return response.text(); })
            .then(function (text) { target.innerHTML = text; updateSelection(); })
            .catch(function (error) { target.textContent = "Could not load: " + error; loaded = false; });
        }
      });
    });
  }

  function updateSelection() {
    var form = document.getElementById("import-form");
    var summary = document.getElementById("selection-summary");
    if (!form || !summary) return;
    var count = function (name) { return form.querySelectorAll('input[name="' + name + '"]:checked').length; };
    var parts = [];
    var p = count("project_ids"), b = count("biosample_ids"), r = count("run_ids");
    if (p) parts.push(p + (p === 1 ? " project" : " projects"));
    if (b) parts.push(b + (b === 1 ? " biosample" : " biosamples"));
    if (r) parts.push(r + (r === 1 ? " run" : " runs"));
    summary.textContent = parts.length ? "Selected: " + parts.join(", ") + "." : "Nothing selected yet.";
  }

  function setupSelection() {
    var form = document.getElementById("import-form");
    if (!form) return;
    form.addEventListener("change", updateSelection);
    updateSelection();
  }

  // Custom API server field only when that region is chosen.
  function setupRegion() {
    var select = document.getElementById("region");
    var custom = document.getElementById("custom-server");
    if (!select || !custom) return;
    var sync = function () { custom.hidden = select.value !== "custom"; };
    select.addEventListener("change", sync);
    sync();
  }

  function setupConfirm() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  // "Copy" next to a value shown once (the new API key).
  function setupCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.dataset.copy);
      if (!source || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent.trim()).then(
          function () { button.textContent = "Copied"; },
          function () { button.textContent = "Select and copy by hand"; });
      });
    });
  }

  // Live progress of an import: poll the JSON API every second until it ends.
  function setupProgress() {
    var section = document.getElementById("progress");
    if (!section || section.dataset.finished === "true") return;
    var id = section.dataset.importId;
    var set = function (elementId, text) { var el = document.getElementById(elementId); if (el) el.textContent = text; };
    var tick = function () {
      fetch("/api/v1/imports/" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { if (!response.ok) throw new Error("HTTP " + response.status); return response.json(); })
        .then(function (s) {
          var status = document.getElementById("import-status");
          if (status) { status.textContent = s.status; status.className = "status status-" + s.status; }
          var finished = ["completed", "failed", "cancelled"].indexOf(s.status) >= 0;
          set("progress-files", s.files_total === 0 && !finished ? "finding the files…" : s.files_done + " of " + s.files_total + " files");
          set("progress-bytes", human(s.bytes_done) + " of " + human(s.bytes_total));
          set("progress-rate", human(Math.round(s.rate_bytes_per_sec || 0)) + "/s");
          set("progress-eta", s.eta_seconds == null ? "—" : duration(s.eta_seconds));
          var bar = document.getElementById("progress-bar");
          if (bar) bar.value = s.bytes_total ? Math.min(100, Math.floor(100 * s.bytes_done / s.bytes_total)) : 0;
          var body = document.querySelector("#report tbody");
          if (body) {
            body.textContent = "";
            (s.report || []).forEach(function (r) {
              var row = document.createElement("tr");
              cell(row, r.biosample_id ? r.biosample_name + " (" + r.biosample_id + ")" : r.biosample_name);
              var sampleCell = document.createElement("td");
              if (r.sample_id) {
                var link = document.createElement("a");
                link.href = "/samples/" + encodeURIComponent(r.sample_id);
                link.textContent = r.sample_name || r.sample_id;
                sampleCell.appendChild(link);
              } else { sampleCell.textContent = r.sample_name || ""; }
              row.appendChild(sampleCell);
              var statusCell = document.createElement("td");
              var badge = document.createElement("span");
              badge.className = "status status-" + r.status;
              badge.textContent = r.status;
              statusCell.appendChild(badge);
              row.appendChild(statusCell);
              cell(row, r.reason || "");
              body.appendChild(row);
            });
          }
          var errors = document.getElementById("errors");
          if (errors) {
            errors.textContent = "";
            (s.errors || []).forEach(function (e) { var li = document.createElement("li"); li.textContent = e; errors.appendChild(li); });
            document.getElementById("errors-section").hidden = !(s.errors || []).length;
          }
          var done = ["completed", "failed", "cancelled"].indexOf(s.status) >= 0;
          if (done) {
            section.dataset.finished = "true";
            var cancel = document.getElementById("cancel-form");
            if (cancel) cancel.remove();
          } else {
            window.setTimeout(tick, 1000);
          }
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    };
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupTabs();
    setupExpanders();
    setupSelection();
    setupRegion();
    setupConfirm();
    setupCopy();
    setupProgress();
  });
})();
