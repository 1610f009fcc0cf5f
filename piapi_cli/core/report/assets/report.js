// The report's page: renders the JSON data block with textContent and checked links only.
// No server, no network: filters, sorting, marks and the keyboard all work from disk.
(function () {
  "use strict";
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

  // --- the cards -------------------------------------------------------------------
  function still(task) {
    for (var i = 0; i < task.outputs.length; i++) {
      var o = task.outputs[i];
      if (o.kind === "image" && (o.thumbnail || o.file)) return fileHref(o.thumbnail || o.file);
    }
    return null;
  }
  function missingNote(media, output, task) {
    var note = el("div", "note");
    if (!output) {
      note.textContent = task.error ? "No output: " + task.status : "No output (" + task.status + ")";
      media.appendChild(note);
      return;
    }
    note.appendChild(el("div", null, output.missing === "not downloaded" ? "Not downloaded. Remote file:" :
      "File " + (output.missing || "not downloaded") + ". Remote file:"));
    var remote = webHref(output.url);
    if (remote) note.appendChild(link(remote, remote, "remote")); else note.appendChild(el("div", null, output.url || "(no URL)"));
    media.appendChild(note);
  }
  function renderMedia(media, output, task) {
    var file = output && fileHref(output.file);
    if (!file) return missingNote(media, output, task);
    var open = link(file, "", "open");
    if (output.kind === "image") {
      var img = el("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.alt = task.prompt || output.name || "image";
      img.src = fileHref(output.thumbnail) || file;
      open.appendChild(img);
      media.appendChild(open);
      return;
    }
    if (output.kind === "video" || output.kind === "audio") {
      var player = el(output.kind);
      player.controls = true;
      player.preload = "none";
      player.src = file;
      if (output.kind === "video" && still(task)) player.poster = still(task);
      media.classList.add("kind-" + output.kind);
      media.appendChild(player);
      open.textContent = "open " + (output.name || "file");
      open.classList.add("note");
      media.appendChild(open);
      return;
    }
    media.classList.add("kind-model");
    var picture = output.kind === "model" ? still(task) : null;
    if (picture) {
      var preview = el("img");
      preview.loading = "lazy";
      preview.alt = "still of the 3D model";
      preview.src = picture;
      media.appendChild(preview);
    }
    open.textContent = (output.kind === "model" ? "3D model: " : "file: ") + (output.name || "open");
    open.classList.add("note");
    media.appendChild(open);
  }
  function facts(task) {
    var parts = [];
    if (task.credits !== null && task.credits !== undefined) parts.push(number(task.credits) + " credits");
    if (task.queued_seconds !== null && task.queued_seconds !== undefined) parts.push("queued " + seconds(task.queued_seconds));
    if (task.running_seconds !== null && task.running_seconds !== undefined) parts.push("ran " + seconds(task.running_seconds));
    parts.push(when(task.created_at));
    if (task.row) parts.push("row " + task.row);
    return parts.join(" · ");
  }
  function renderCard(template, task, index, output) {
    var card = template.content.firstElementChild.cloneNode(true);
    renderMedia(card.querySelector(".media"), output, task);
    var prompt = card.querySelector(".prompt");
    prompt.textContent = task.prompt || "(no prompt)";
    if (!task.prompt) prompt.classList.add("none");
    prompt.title = task.prompt || "";
    var status = card.querySelector(".status");
    status.textContent = task.status;
    status.classList.add(String(task.status).replace(/[^a-z_]/g, ""));
    card.querySelector(".model-name").textContent = task.model + " · " + task.task_type;
    if (task.error) {
      var error = card.querySelector(".error");
      error.textContent = task.error;
      error.hidden = false;
    }
    card.querySelector(".facts").textContent = facts(task);
    var inputs = card.querySelector(".inputs");
    Object.keys(task.input || {}).forEach(function (key) {
      inputs.appendChild(el("dt", null, key));
      inputs.appendChild(el("dd", null, shown(task.input[key])));
    });
    card.querySelector(".task-id").textContent = task.task_id || "#" + task.journal_id + " (no task ID)";
    card.querySelector(".recreate").textContent = task.recreate;
    var box = card.querySelector(".mark-box");
    box.addEventListener("change", function () { setMark(index, box.checked); });
    var text = [task.prompt, task.task_id, task.model, task.task_type, task.error, JSON.stringify(task.input)]
      .join(" ").toLowerCase();
    cards.push({ node: card, task: task, index: index, text: text, box: box });
    return card;
  }
  // the first screenful at once, the rest in slices between paints: the page shows something
  // at once however many cards it holds
  var FIRST_CARDS = 24, SLICE = 250;
  function renderCards(done) {
    var grid = document.getElementById("cards");
    var template = document.getElementById("card-template");
    var pending = [];
    tasks.forEach(function (task, index) {
      (task.outputs.length ? task.outputs : [null]).forEach(function (output) {
        pending.push({ task: task, index: index, output: output });
      });
    });
    pending.sort(ordering());
    var at = 0;
    function slice(size) {
      var fragment = document.createDocumentFragment();
      for (var end = Math.min(pending.length, at + size); at < end; at++) {
        fragment.appendChild(renderCard(template, pending[at].task, pending[at].index, pending[at].output));
      }
      grid.appendChild(fragment);
    }
    function more() {
      slice(SLICE);
      if (at < pending.length) setTimeout(more, 0); else done();
    }
    slice(FIRST_CARDS);
    if (at < pending.length) setTimeout(more, 0); else done();
  }

  // --- filters and sorting ---------------------------------------------------------
  function fillSelect(id, values) {
    var select = document.getElementById(id);
    values.forEach(function (value) {
      var option = el("option", null, value);
      option.value = value;
      select.appendChild(option);
    });
  }
  var sorters = {
    time: function (t) { return t.created_at || 0; },
    cost: function (t) { return t.credits === null || t.credits === undefined ? null : t.credits; },
    duration: function (t) { return t.running_seconds === null || t.running_seconds === undefined ? null : t.running_seconds; }
  };
  function applyFilters() {
    var status = document.getElementById("f-status").value;
    var model = document.getElementById("f-model").value;
    var words = document.getElementById("f-text").value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    cards.forEach(function (c) {
      var show = (!status || c.task.status === status) && (!model || c.task.model === model) &&
        words.every(function (w) { return c.text.indexOf(w) >= 0; });
      c.node.hidden = !show;
      if (show) count++;
    });
    document.getElementById("shown").textContent = count + " of " + cards.length + " outputs shown";
    document.getElementById("empty").hidden = count > 0;
  }
  // the chosen order, over anything with a task and its index (ties keep the task's outputs in order)
  function ordering() {
    var parts = document.getElementById("f-sort").value.split("-");
    var key = sorters[parts[0]];
    var sign = parts[1] === "asc" ? 1 : -1;
    return function (a, b) {
      var x = key(a.task), y = key(b.task);
      if (x === null || y === null) return x === y ? a.index - b.index : (x === null ? 1 : -1);
      return x === y ? a.index - b.index : (x < y ? -sign : sign);
    };
  }
  function applySort() {
    var grid = document.getElementById("cards");
    var fragment = document.createDocumentFragment();
    cards.slice().sort(ordering()).forEach(function (c) { fragment.appendChild(c.node); });
    grid.appendChild(fragment);
  }

  // --- marks -----------------------------------------------------------------------
  function setMark(index, on) {
    if (on) marked.add(index); else marked.delete(index);
    cards.forEach(function (c) {
      if (c.index === index) { c.box.checked = on; c.node.classList.toggle("marked", on); }
    });
    document.getElementById("marked-count").textContent = marked.size + " marked";
    document.getElementById("export-marks").disabled = marked.size === 0;
    document.getElementById("clear-marks").disabled = marked.size === 0;
  }
  function marksText() {
    return Array.from(marked).sort(function (a, b) { return a - b; }).map(function (i) {
      var t = tasks[i];
      return JSON.stringify({ task_id: t.task_id, run_id: t.run_id, row: t.row, model: t.model }) + "\n";
    }).join("");
  }
  function exportMarks() {
    var text = marksText();
    var area = document.getElementById("marks-text");
    area.value = text;
    area.hidden = false;
    var url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    var a = el("a");
    a.href = url;
    a.download = "marks.jsonl";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  // --- the keyboard: arrows between cards, Enter opens the full-size file ---------------
  function visibleCards() {
    return Array.prototype.filter.call(document.getElementById("cards").children, function (n) { return !n.hidden; });
  }
  function focusCard(node) {
    cards.forEach(function (c) { c.node.tabIndex = -1; });
    node.tabIndex = 0;
    node.focus();
  }
  function onKey(event) {
    var target = event.target;
    var card = target.closest && target.closest(".card");
    if (!card) return;
    // a player, a text field: their own keys
    if (/^(VIDEO|AUDIO|TEXTAREA|SELECT)$/.test(target.tagName) || (target.tagName === "INPUT" && target.type !== "checkbox")) return;
    var list = visibleCards();
    var at = list.indexOf(card);
    if (event.key === "Enter" && target === card) {
      var open = card.querySelector("a.open, a.remote");
      if (open) open.click();
      event.preventDefault();
      return;
    }
    var top = list.length ? list[0].offsetTop : 0;
    var columns = Math.max(1, list.filter(function (n) { return n.offsetTop === top; }).length);
    var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns }[event.key];
    if (step === undefined || at < 0) return;
    var next = list[Math.min(list.length - 1, Math.max(0, at + step))];
    if (next) focusCard(next);
    event.preventDefault();
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
  start();
})();
