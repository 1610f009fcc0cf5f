// The report's page: renders the JSON data block with textContent and checked links only.
// No server, no network: filters, sorting, marks and the keyboard all work from disk.
// The page's script is this file and report-cards.js, in one function (see page.py):
// shared state, helpers, the summary, the comparison and start().
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var tasks = data.tasks || [];
  var cards = [];
  var marked = new Set();

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  // a file of the report: a relative path, each part percent-encoded (a name such as
  // "javascript:x" or "a#b.png" stays a file name)
  function fileHref(path) {
    if (!path) return null;
    if (/^file:\/\/\//.test(path)) return path;
    return "./" + path.split("/").map(encodeURIComponent).join("/");
  }
  function webHref(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }
  function link(href, text, className) {
    var a = el("a", className, text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }
  function seconds(value) {
    if (value === null || value === undefined) return "";
    if (value < 60) return (Math.round(value * 10) / 10) + " s";
    if (value < 3600) return Math.floor(value / 60) + "m " + String(Math.round(value % 60)).padStart(2, "0") + "s";
    return Math.floor(value / 3600) + "h " + String(Math.floor((value % 3600) / 60)).padStart(2, "0") + "m";
  }
  function number(value) {
    return value === null || value === undefined ? "" : Number(value).toLocaleString("en-US");
  }
  function percent(value) {
    return value === null || value === undefined ? "n/a" : (Math.round(value * 1000) / 10) + "%";
  }
  function when(stamp) {
    return stamp ? new Date(stamp * 1000).toLocaleString() : "";
  }
  function shown(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  // --- the summary -----------------------------------------------------------------
  function totalBox(parent, value, label) {
    var box = el("div", "total");
    box.appendChild(el("b", null, value));
    box.appendChild(el("span", null, label));
    parent.appendChild(box);
  }
  function table(headings, rows, numeric) {
    var wrap = el("div", "scroll");
    var t = el("table");
    var head = t.createTHead().insertRow();
    headings.forEach(function (h) { head.appendChild(el("th", null, h)); });
    var body = t.createTBody();
    rows.forEach(function (row) {
      var tr = body.insertRow();
      row.forEach(function (cell, i) {
        var td = el("td", numeric[i] ? "num" : null);
        if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
        tr.appendChild(td);
      });
    });
    wrap.appendChild(t);
    return wrap;
  }
  function renderSummary() {
    var s = data.summary || { total: {}, models: [] };
    var t = s.total;
    var section = document.getElementById("summary");
    var boxes = el("div", "totals");
    totalBox(boxes, number(t.tasks), "tasks");
    totalBox(boxes, number(t.completed), "completed");
    totalBox(boxes, number(t.failed), "failed");
    totalBox(boxes, percent(t.failure_rate), "failure rate");
    totalBox(boxes, number(t.credits), "credits");
    totalBox(boxes, seconds(t.p50_seconds) || "n/a", "run time p50");
    totalBox(boxes, seconds(t.p95_seconds) || "n/a", "run time p95");
    section.appendChild(boxes);
    var statuses = Object.keys(t.statuses || {}).map(function (k) { return k + " " + t.statuses[k]; });
    section.appendChild(el("p", "dim", "By status: " + (statuses.join(" · ") || "none")));
    if ((s.models || []).length) {
      // folded on a phone's screen, where it would fill the first one
      var fold = el("details", "per-model");
      fold.open = !window.matchMedia("(max-width: 600px)").matches;
      fold.appendChild(el("summary", null, "Per model (" + s.models.length + ")"));
      section.appendChild(fold);
      fold.appendChild(table(
        ["model", "tasks", "completed", "failed", "failure rate", "credits", "p50", "p95"],
        s.models.map(function (m) {
          return [m.model, number(m.tasks), number(m.completed), number(m.failed), percent(m.failure_rate),
            number(m.credits), seconds(m.p50_seconds), seconds(m.p95_seconds)];
        }),
        [false, true, true, true, true, true, true, true]));
    }
  }

  // --- the comparison --------------------------------------------------------------
  function compareCell(indexes) {
    var cell = el("td", "cell");
    if (!indexes.length) cell.appendChild(el("span", "missing-cell", "—"));
    indexes.forEach(function (i) {
      var task = tasks[i];
      var output = task.outputs.filter(function (o) { return o.kind === "image" && o.file; })[0];
      if (output) {
        var a = link(fileHref(output.file), "", "open");
        var img = el("img", "thumb");
        img.loading = "lazy";
        img.alt = task.prompt || "image";
        img.src = fileHref(output.thumbnail) || fileHref(output.file);
        a.appendChild(img);
        cell.appendChild(a);
      } else if (task.outputs.length && fileHref(task.outputs[0].file)) {
        cell.appendChild(link(fileHref(task.outputs[0].file), task.outputs[0].kind + ": " + task.outputs[0].name, "open"));
      }
      var parts = [task.status];
      if (task.credits) parts.push(number(task.credits) + " cr");
      if (task.running_seconds !== null && task.running_seconds !== undefined) parts.push(seconds(task.running_seconds));
      cell.appendChild(el("div", "cellfacts", parts.join(" · ")));
      if (task.error) cell.appendChild(el("div", "error", task.error));
    });
    return cell;
  }
  function renderCompare() {
    var c = data.compare;
    if (!c) return;
    var section = document.getElementById("compare");
    section.hidden = false;
    section.appendChild(el("h2", null, "Compared by " + c.field));
    var wrap = el("div", "scroll");
    var t = el("table");
    t.id = "compare-table";
    var head = t.createTHead().insertRow();
    head.appendChild(el("th", null, "same inputs"));
    c.columns.forEach(function (name) { head.appendChild(el("th", "column", name)); });
    var body = t.createTBody();
    c.rows.forEach(function (row) {
      var tr = body.insertRow();
      var label = el("td", "label");
      Object.keys(row.label).forEach(function (key) { label.appendChild(el("div", null, key + ": " + shown(row.label[key]))); });
      tr.appendChild(label);
      row.cells.forEach(function (indexes) { tr.appendChild(compareCell(indexes)); });
    });
    wrap.appendChild(t);
    section.appendChild(wrap);
  }

  function start() {
    var outputs = tasks.reduce(function (n, t) { return n + Math.max(1, t.outputs.length); }, 0);
    document.getElementById("generated").textContent =
      tasks.length + " tasks, " + outputs + " outputs · made " + when(data.generated_at);
    renderSummary();
    renderCompare();
    fillSelect("f-status", Object.keys((data.summary.total || {}).statuses || {}));
    fillSelect("f-model", (data.summary.models || []).map(function (m) { return m.model; }));
    renderCards(function () {
      applyFilters();
      ["f-status", "f-model", "f-text"].forEach(function (id) {
        document.getElementById(id).addEventListener("input", applyFilters);
      });
      document.getElementById("f-sort").addEventListener("change", applySort);
      document.getElementById("export-marks").addEventListener("click", exportMarks);
      document.getElementById("clear-marks").addEventListener("click", function () {
        Array.from(marked).forEach(function (i) { setMark(i, false); });
      });
      document.getElementById("cards").addEventListener("keydown", onKey);
      var first = visibleCards()[0];
      if (first) first.tabIndex = 0;
      document.body.dataset.readyMs = String(Math.round(performance.now()));
      document.body.dataset.ready = "1";
    });
  }
