// The live execution page: a model node's text as it arrives. The page polls its live
// fragment (htmx) with or without this; here the execution's events (Server-Sent Events)
// fill the "answer so far" box of each running model node between polls, and again after
// each poll has swapped the fragment. Without JavaScript the polling alone shows the text
// when the node ends.
(function () {
  "use strict";
  var texts = {};   // node id -> the text streamed so far
  var opened = {};  // node ids whose details were opened for their text (once: a person may close them)
  var source = null;

  function show() {
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

  function follow() {
    var live = document.getElementById("live");
    if (source || !live || !live.getAttribute("data-events") || !window.EventSource) return;
    source = new EventSource(live.getAttribute("data-events"));
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
      source.close();  // the next poll brings the finished page; no reconnect
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) source = null;  // refused (503): polling goes on
    };
  }

  document.addEventListener("DOMContentLoaded", follow);
  document.addEventListener("htmx:afterSettle", show);
})();
