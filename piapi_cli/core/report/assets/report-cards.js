// The cards of the report's page: rendering, filters and sorting, marks, the keyboard.
// Part of the page's one script (see page.py): it shares report.js's state and helpers.
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
