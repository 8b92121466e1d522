// A run being watched, from its events (Server-Sent Events): the live execution page and
// the editor's Test panel. The element that carries `data-events` (one per page) is the
// run's part of the page; its graph's nodes take the status the events tell, badges marked
// `data-node-status` too, and the "answer so far" box of each model node fills as the text
// arrives. The live page also polls its fragment (htmx), so all this is drawn again after
// each swap; when the run ends, the element gets an `execution-finished` event (the Test
// panel then asks for the editor with the results). Without JavaScript the polling alone, or
// the Test panel's Run answering once the run has ended, shows the same results.
(function () {
  "use strict";
  var RANK = { pending: 0, queued: 0, running: 1 };  // anything else has ended
  var RETRY_MS = 5000;  // after a refusal (every stream slot taken)
  var texts = {};     // node id -> the text streamed so far
  var statuses = {};  // node id -> the status the events told last
  var opened = {};    // node ids whose details were opened for their text (once: a person may close them)
  var source = null;
  var url = null;     // the events followed (kept across swaps of the same run)
  var refusedAt = 0;
  var ended = false;  // the run's execution_finished came
  var told = 0;       // how often that was announced (a bound: each may draw the run once more)

  function rank(status) {
    return status in RANK ? RANK[status] : 2;
  }

  function showText() {
    document.querySelectorAll("[data-streamed-text]").forEach(function (box) {
      var id = box.getAttribute("data-streamed-text");
      var text = texts[id];
      if (!text) return;
      box.querySelector(".streamed-text").textContent = text;  // text, never markup
      box.hidden = false;
      var details = box.closest("details");
      if (details && !opened[id]) {
        opened[id] = true;
        details.open = true;
      }
    });
  }

  // Never back: a swap drawn from the database may be a moment ahead of the events.
  function showStatuses(watched) {
    watched.querySelectorAll("svg g.node[data-node]").forEach(function (node) {
      var status = statuses[node.getAttribute("data-node")];
      var shown = (node.getAttribute("class").match(/\bs-(\w+)/) || [])[1];
      if (!status || status === shown || rank(status) < rank(shown)) return;
      node.setAttribute("class", node.getAttribute("class").replace(/\bs-\w+/, "s-" + status));
      var title = node.querySelector("title");
      if (title && shown) title.textContent = title.textContent.replace(" — " + shown, " — " + status);
    });
    document.querySelectorAll("[data-node-status]").forEach(function (badge) {
      var status = statuses[badge.getAttribute("data-node-status")];
      if (!status || status === badge.textContent || rank(status) < rank(badge.textContent)) return;
      badge.className = badge.className.replace(/\bstatus-\w+/, "status-" + status);
      badge.textContent = status;
    });
  }

  function show() {
    var watched = document.querySelector("[data-events]");
    if (watched) showStatuses(watched);
    showText();
  }

  // Told to the run's part of the page, and again to a copy drawn meanwhile (a swap may take
  // it away in between): the Test panel asks for the results then.
  function announceEnd() {
    var watched = document.querySelector("[data-events]");
    if (watched && told++ < 3) watched.dispatchEvent(new CustomEvent("execution-finished", { bubbles: true }));
  }

  function stop() {
    if (source) source.close();
    source = null;
  }

  function follow() {
    var watched = document.querySelector("[data-events]");
    var wanted = watched && window.EventSource ? watched.getAttribute("data-events") : null;
    if (wanted !== url) {  // another run, or none any more: start over
      stop();
      url = wanted;
      texts = {};
      statuses = {};
      opened = {};
      refusedAt = 0;
      ended = false;
      told = 0;
    } else if (ended) {
      announceEnd();
      return show();
    }
    if (!url || source || Date.now() - refusedAt < RETRY_MS) return show();
    source = new EventSource(url);
    source.addEventListener("node_started", function (event) {
      statuses[JSON.parse(event.data).node_id] = "running";
      show();
    });
    source.addEventListener("node_finished", function (event) {
      var data = JSON.parse(event.data);
      statuses[data.node_id] = data.status;
      show();
    });
    source.addEventListener("text_chunk", function (event) {
      var data = JSON.parse(event.data);
      texts[data.node_id] = (texts[data.node_id] || "") + data.text;
      show();
    });
    source.addEventListener("text_reset", function (event) {
      texts[JSON.parse(event.data).node_id] = "";
      show();
    });
    source.addEventListener("execution_finished", function () {
      source.close();  // no reconnect: the run has ended
      ended = true;
      announceEnd();
    });
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) {  // refused (503): try again later
        source = null;
        refusedAt = Date.now();
      }
    };
    show();
  }

  document.addEventListener("DOMContentLoaded", follow);
  document.addEventListener("htmx:afterSettle", follow);
})();
