/* The little the pages need beyond htmx: copy buttons, dismissible messages,
   inserting {{ references }} into templates, the editor's node panel and graph keys,
   keeping <details> open across live updates, and an inline message when a request fails. No eval, no inline code:
   the Content-Security-Policy allows neither. */
(function () {
  "use strict";

  function flash(kind, text) {
    var area = document.getElementById("flash");
    if (!area) return;
    var box = document.createElement("div");
    box.className = "alert alert-" + kind;
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "alert-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    box.appendChild(span);
    box.appendChild(close);
    area.replaceChildren(box);
  }

  function copyText(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied ✓";
      setTimeout(function () { button.textContent = label; }, 1600);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    area.remove();
  }

  // -- clicks ---------------------------------------------------------------------------------
  var lastTemplateField = new WeakMap();

  document.addEventListener("focusin", function (event) {
    var field = event.target;
    if (field.classList && field.classList.contains("takes-refs")) {
      var card = field.closest(".node-card");
      if (card) lastTemplateField.set(card, field);
    }
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var alert = dismiss.closest(".alert");
      if (alert) alert.remove();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source) copyText(source.textContent.trim(), copy);
      return;
    }
    var copyOf = event.target.closest("[data-copy-text-of]");
    if (copyOf) {
      var template = document.getElementById(copyOf.getAttribute("data-copy-text-of"));
      if (template) copyText(template.content.textContent, copyOf);
      return;
    }
    var chip = event.target.closest(".ref-chip");
    if (chip) insertReference(chip);
    if (connectByClick(event)) return;
    var graphAction = event.target.closest("[data-action]");
    if (graphAction) {
      event.preventDefault();
      pressGraphAction(graphAction.getAttribute("data-action"));
      return;
    }
    var close = event.target.closest("[data-close-panel]");
    if (close) {
      event.preventDefault();
      closePanel(close.closest(".node-card"));
      return;
    }
    var jump = event.target.closest('a[href^="#"]');
    if (jump && openInPanel(decodeURIComponent(jump.getAttribute("href").slice(1)))) {
      event.preventDefault();
      return;
    }
    if (jump) openTarget(jump.getAttribute("href").slice(1));
  });

  // A graph node links to its row (#run-<id>): the row opens, not only scrolls into view.
  function openTarget(id) {
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") target.open = true;
  }
  openTarget(decodeURIComponent(location.hash.slice(1)));

  // -- the editor's panel: one node's form at a time ------------------------------------------
  var FIELDS = "input:not([type=hidden]):not(:disabled), select:not(:disabled), textarea:not(:disabled)";

  function firstStop(card) {  // read only, every field is disabled: the panel's Close link then
    return card.querySelector(FIELDS) || card.querySelector("a[href]");
  }
  // Every node's fields are in the form (hidden but posted); opening one shows it, marks it
  // in the graph and tells the server (_selected) so a redraw keeps it open.
  function openNode(card, focusField) {
    var panel = card.closest(".node-panel");
    panel.querySelectorAll(".node-card").forEach(function (other) { other.hidden = other !== card; });
    var pick = document.getElementById("panel-pick");
    if (pick) pick.hidden = true;
    var selected = document.getElementById("editor-selected");
    if (selected) selected.value = card.getAttribute("data-index");
    markInGraph(card.getAttribute("data-node"));
    if (focusField) {
      var field = focusField === true ? firstStop(card) : focusField;
      if (field) field.focus();
    }
  }

  function closePanel(card) {
    var panel = card && card.closest(".node-panel");
    if (!panel) return;
    panel.querySelectorAll(".node-card").forEach(function (other) { other.hidden = true; });
    var pick = document.getElementById("panel-pick");
    if (pick) pick.hidden = false;
    var selected = document.getElementById("editor-selected");
    if (selected) selected.value = "";
    markInGraph(null);
    var link = graphLink(card.getAttribute("data-node"));
    if (link) link.focus();  // back where the keyboard came from
  }

  function graphLink(nodeId) {
    var links = document.querySelectorAll("#editor-graph a.node-link");
    return Array.prototype.find.call(links, function (a) { return a.getAttribute("data-node") === nodeId; });
  }

  function markInGraph(nodeId) {
    document.querySelectorAll("#editor-graph a.node-link").forEach(function (a) {
      var box = a.querySelector("g.node");
      if (box) box.classList.toggle("is-selected", a.getAttribute("data-node") === nodeId);
    });
  }

  // A link to a node (#node-<id>) or to a problem's slot (#pb-<field>, from the summary):
  // open the node in the panel, and the <details> around it, and put the keyboard on the field.
  function openInPanel(id) {
    var target = id && document.getElementById(id);
    if (!target || !target.closest("#editor")) return false;
    var card = target.closest(".node-panel .node-card");
    if (card) openNode(card, null);
    for (var around = target.closest("details"); around; around = around.parentElement.closest("details")) around.open = true;
    var field = id.indexOf("pb-") === 0 ? document.getElementById("f-" + id.slice(3)) : null;
    field = field || (target === card ? firstStop(card) : target);
    if (field && field.focus) {
      field.focus();
      if (field.scrollIntoView) field.scrollIntoView({ block: "nearest" });
    }
    return true;
  }
  openInPanel(decodeURIComponent(location.hash.slice(1)));

  function pressGraphAction(action) {
    var button = document.getElementById("graph-action");
    if (!button) return;
    button.value = action;
    button.click();
    button.value = "";  // htmx has read it; nothing else may send it again
  }

  function activate(element) {  // SVG links have no click() of their own
    element.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
  }

  // Ctrl+S (⌘S) saves the editor; Escape closes an open Remove… menu, else the open node
  // (back to it in the graph). Not while a suggestion list or an input method is open.
  document.addEventListener("keydown", function (event) {
    var save = document.getElementById("save-button");
    if (save && (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save.click();
      return;
    }
    if (event.key !== "Escape" || event.isComposing || !event.target.closest) return;
    if (picked) {
      event.preventDefault();
      var port = picked.port;
      endConnecting();
      if (port.isConnected) port.focus();
      return;
    }
    var menu = event.target.closest(".remove-menu[open]");
    if (menu) {
      event.preventDefault();
      menu.open = false;
      menu.querySelector("summary").focus();
      return;
    }
    var card = event.target.closest(".node-panel .node-card");
    if (card && !event.target.hasAttribute("list")) {
      event.preventDefault();
      closePanel(card);
    }
  });

  // Arrow keys move between the graph's nodes (Tab reaches the graph, Enter opens a node);
  // Space presses a node or a "+" as Enter does.
  document.addEventListener("keydown", function (event) {
    var pressable = event.target.closest && event.target.closest("#editor-graph a");
    if (!pressable) return;
    if (event.key === " ") {
      event.preventDefault();
      activate(pressable);
      return;
    }
    var step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
    if (!step || !pressable.classList.contains("node-link")) return;
    var links = Array.prototype.slice.call(document.querySelectorAll("#editor-graph a.node-link"));
    var next = links[links.indexOf(pressable) + step];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });

  // -- connecting in the graph ------------------------------------------------------------------
  // A node's port (the dot on its far edge, or a condition's true/false exit) dragged onto
  // another node connects the two; pressed (click, Enter or Space), it is picked, and the next
  // node pressed is connected to it ("add a node here" is offered too; Escape lets go). Either
  // way it is one "connect:<from>:<to>[:<branch>]" edit, which Undo takes back.
  var picked = null;  // {port, from, branch}
  var dragged = false;  // the click that ends a drag is not a press

  function connectStatus() {
    return document.getElementById("connect-status");
  }

  function portOf(port) {
    var branch = port.getAttribute("data-branch");
    return { port: port, from: port.getAttribute("data-connect-from"), branch: branch };
  }

  function connect(from, branch, to) {
    endConnecting();
    pressGraphAction("connect:" + from + ":" + to + (branch ? ":" + branch : ""));
  }

  function startConnecting(port, byKeyboard) {
    endConnecting();
    picked = portOf(port);
    port.classList.add("is-picked");
    document.getElementById("editor-graph").classList.add("is-connecting");
    var status = connectStatus();
    if (status) {
      var exit = picked.branch ? "the " + picked.branch + " exit of " + picked.from : picked.from;
      status.querySelector("[data-say]").textContent = "Connecting " + exit + ": choose the node it leads to (Escape: cancel), or";
      status.querySelector("[data-add-here]").setAttribute("data-action", "add_from:" + picked.from + (picked.branch ? ":" + picked.branch : ""));
      status.hidden = false;
    }
    if (byKeyboard) {  // on to the nodes, where the arrows go
      var links = Array.prototype.slice.call(document.querySelectorAll("#editor-graph a.node-link"));
      var next = links.find(function (a) { return a.getAttribute("data-node") !== picked.from; });
      if (next) next.focus();
    }
  }

  function endConnecting() {
    if (picked && picked.port) picked.port.classList.remove("is-picked");
    picked = null;
    var graph = document.getElementById("editor-graph");
    if (graph) graph.classList.remove("is-connecting");
    var status = connectStatus();
    if (status) status.hidden = true;
  }

  function connectByClick(event) {
    var port = event.target.closest("[data-connect-from]");
    if (port) {
      event.preventDefault();
      if (dragged) dragged = false;
      else if (picked && picked.port === port) endConnecting();
      else startConnecting(port, event.detail === 0);
      return true;
    }
    var target = picked && event.target.closest("#editor-graph a.node-link");
    if (target) {
      event.preventDefault();
      connect(picked.from, picked.branch, target.getAttribute("data-node"));
      return true;
    }
    return false;
  }

  document.addEventListener("pointerdown", function (event) {
    var port = event.button === 0 && event.target.closest && event.target.closest("#editor-graph [data-connect-from]");
    if (!port) return;
    dragged = false;
    var svg = port.closest("svg");
    var toSvg = function (e) {
      var point = svg.createSVGPoint();
      point.x = e.clientX;
      point.y = e.clientY;
      return point.matrixTransform(svg.getScreenCTM().inverse());
    };
    var start = toSvg(event);
    var line = null;
    port.setPointerCapture(event.pointerId);
    var move = function (e) {
      var at = toSvg(e);
      if (!line && Math.abs(at.x - start.x) + Math.abs(at.y - start.y) < 6) return;
      if (!line) {
        line = document.createElementNS("http://www.w3.org/2000/svg", "line");
        line.setAttribute("class", "drag-line");
        line.setAttribute("x1", start.x);
        line.setAttribute("y1", start.y);
        svg.appendChild(line);
        svg.classList.add("is-dragging");
      }
      line.setAttribute("x2", at.x);
      line.setAttribute("y2", at.y);
    };
    var up = function (e) {
      port.removeEventListener("pointermove", move);
      port.removeEventListener("pointerup", up);
      port.removeEventListener("pointercancel", up);
      if (!line) return;  // a press, not a drag: the click picks it
      line.remove();
      svg.classList.remove("is-dragging");
      dragged = true;
      var under = e.type === "pointerup" && document.elementFromPoint(e.clientX, e.clientY);
      var target = under && under.closest && under.closest("#editor-graph a.node-link");
      var from = portOf(port);
      if (target && target.getAttribute("data-node") !== from.from) connect(from.from, from.branch, target.getAttribute("data-node"));
    };
    port.addEventListener("pointermove", move);
    port.addEventListener("pointerup", up);
    port.addEventListener("pointercancel", up);
  });

  document.addEventListener("htmx:afterSwap", function () {
    if (picked && !picked.port.isConnected) endConnecting();  // the graph was redrawn under it
  });

  function insertReference(chip) {
    var card = chip.closest(".node-card");
    if (!card) return;
    var field = lastTemplateField.get(card);
    if (!field || !card.contains(field)) field = card.querySelector(".takes-refs");
    if (!field) return;
    var ref = chip.getAttribute("data-insert");
    var text = field.getAttribute("data-ref-style") === "expression" ? ref : "{{ " + ref + " }}";
    var start = field.selectionStart == null ? field.value.length : field.selectionStart;
    var end = field.selectionEnd == null ? start : field.selectionEnd;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.focus();
    field.setSelectionRange(start + text.length, start + text.length);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // -- the editor keeps the draft by itself ---------------------------------------------------
  // Every check the editor sends as one types keeps the draft too (valid or not), so the
  // badge says "Unsaved changes" only until the check's answer redraws it. When the page is
  // left (closed, reloaded, navigated away, hidden on a phone), what the form holds is sent
  // once more, as a beacon: nothing typed is lost, and nothing that runs changes.
  function changedSinceDrawn(form) {
    var fields = document.querySelectorAll("input[name], textarea[name], select[name]");
    return Array.prototype.some.call(fields, function (field) {
      if (field.form !== form || field.type === "hidden" || field.name === "publish_note") return false;
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") {
        var drawn = Array.prototype.find.call(field.options, function (o) { return o.defaultSelected; }) || field.options[0];
        return drawn ? !drawn.selected : false;
      }
      return field.value !== field.defaultValue;
    });
  }

  function showEditorState() {
    var form = document.getElementById("editor-form");
    var state = document.getElementById("editor-state");
    if (form && state && changedSinceDrawn(form) && !state.classList.contains("is-dirty")) {
      state.classList.add("is-dirty");
      state.textContent = "Unsaved changes";
      var revert = document.getElementById("revert-button");
      if (revert) revert.disabled = false;  // typed changes can be reverted too
    }
  }

  ["input", "change"].forEach(function (kind) {
    document.addEventListener(kind, function (event) {
      if (event.target.form && event.target.form.id === "editor-form" && event.target.name !== "publish_note") {
        showEditorState();
      }
    });
  });
  window.addEventListener("pageshow", showEditorState);

  function keepDraftOnLeaving() {
    var form = document.getElementById("editor-form");
    var checker = form && form.querySelector("[hx-post$='/editor/check']");
    var state = document.getElementById("editor-state");
    if (!checker || !state || !state.classList.contains("is-dirty") || !navigator.sendBeacon) return;
    navigator.sendBeacon(checker.getAttribute("hx-post"), new FormData(form));
  }
  window.addEventListener("pagehide", keepDraftOnLeaving);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") keepDraftOnLeaving();
  });

  // Enter in the publishing note publishes (not the form's first button).
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.id === "publish_note" && !event.isComposing) {
      event.preventDefault();
      var publish = document.getElementById("publish-button");
      if (publish) publish.click();
    }
  });

  // -- htmx ----------------------------------------------------------------------------------
  // Open/closed <details> survive a live refresh of the part of the page they are in.
  var detailsState = {};

  // A new run from the run form: the last run's problems no longer apply.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "run-form") {
      form.querySelectorAll(".problem").forEach(function (slot) { slot.textContent = ""; });
      form.querySelectorAll(".alert-error").forEach(function (alert) { alert.remove(); });
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.elt && !detail.elt.isConnected) {
      // The answer to a check sent before the editor was redrawn: its graph and problems are stale.
      detail.shouldSwap = false;
      return;
    }
    if (detail.isError && !detail.xhr.getResponseHeader("HX-Retarget")) {
      // An error page from outside the app (a proxy, a crash): say so, keep the page.
      detail.shouldSwap = false;
      flash("error", "The request failed (" + detail.xhr.status + "). Please try again.");
      return;
    }
    var target = detail.target;
    if (target && target.querySelectorAll) {
      target.querySelectorAll("details[id]").forEach(function (node) {
        detailsState[node.id] = node.open;
      });
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(detailsState).forEach(function (id) {
      var node = document.getElementById(id);
      if (node && node.tagName === "DETAILS") node.open = detailsState[id];
    });
  });

  document.addEventListener("htmx:sendError", function () {
    flash("error", "Could not reach the server. Check your connection and try again.");
  });

  document.addEventListener("htmx:timeout", function () {
    flash("error", "The server took too long to answer. Please try again.");
  });
})();
