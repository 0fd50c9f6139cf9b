// Ferry workspace: small progressive enhancements. Every page works without this script.
(function () {
  "use strict";

  // Binary units with IEC labels, as the server and `bs` print them.
  function human(bytes) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return unit === 0 ? bytes + " B" : value.toFixed(1) + " " + units[unit];
  }
  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }
  function cell(row, text) { var td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }

  // Tabs on the import page (all panels stay inside one form, so selections survive switching).
  // Without this script every panel shows, one under the other.
  function setupTabs() {
    var tabs = Array.prototype.slice.call(document.querySelectorAll(".tabs .tab"));
    if (!tabs.length) return;
    var select = function (tab, focus) {
      tabs.forEach(function (other) {
        var selected = other === tab;
        other.setAttribute("aria-selected", selected ? "true" : "false");
        other.tabIndex = selected ? 0 : -1;
        var panel = document.getElementById(other.getAttribute("aria-controls"));
        if (panel) panel.hidden = !selected;
      });
      if (focus) tab.focus();
    };
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (event) {
        var next = null;
        if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
        else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
        else if (event.key === "Home") next = tabs[0];
        else if (event.key === "End") next = tabs[tabs.length - 1];
        if (next) { event.preventDefault(); select(next, true); }
      });
    });
    select(tabs.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0] || tabs[0], false);
  }

  // Times: the server writes UTC; show them in the reader's time zone, and "3 minutes ago" for
  // recent ones marked data-relative (the exact time stays in the tooltip).
  function setupTimes() {
    var now = Date.now();
    var relative = function (ms) {
      var seconds = Math.round((now - ms) / 1000), future = seconds < 0, s = Math.abs(seconds), text;
      if (s < 45) return future ? "in a few seconds" : "just now";
      if (s < 3600) text = Math.round(s / 60) + " min";
      else if (s < 86400) { var h = Math.round(s / 3600); text = h + (h === 1 ? " hour" : " hours"); }
      else if (s < 14 * 86400) { var d = Math.round(s / 86400); text = d + (d === 1 ? " day" : " days"); }
      else return null;
      return future ? "in " + text : text + " ago";
    };
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("datetime"));
      if (isNaN(ms)) return;
      var local;
      try {
        local = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(ms));
      } catch (e) { return; }
      el.title = local + " (" + el.textContent + ")";
      var rel = el.hasAttribute("data-relative") ? relative(ms) : null;
      el.textContent = rel || local;
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
    var p = count("project_ids"), b = count("biosample_ids"), r = count("run_ids"), d = count("dataset_ids");
    if (p) parts.push(p + (p === 1 ? " project" : " projects"));
    if (b) parts.push(b + (b === 1 ? " biosample" : " biosamples"));
    if (r) parts.push(r + (r === 1 ? " run" : " runs"));
    if (d) parts.push(d + (d === 1 ? " dataset" : " datasets"));
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
    var input = custom.querySelector("input");
    // A hidden field is also disabled, so a URL left in it is not sent with a region.
    var sync = function () {
      custom.hidden = select.value !== "custom";
      if (input) input.disabled = custom.hidden;
    };
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
          if (s.title) set("import-title", s.title);
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

  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    setupTimes();
    setupTabs();
    setupExpanders();
    setupSelection();
    setupRegion();
    setupConfirm();
    setupCopy();
    setupProgress();
  });
})();
