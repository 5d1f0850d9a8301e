// Berrys dashboard: chat replies streamed over Server-Sent Events (fetch + text/event-stream,
// so the message goes in a POST with its CSRF token). Without JavaScript the form posts and
// the page reloads with the reply.
(function () {
  "use strict";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function actionCard(action) {
    var card = el("div", "action-card a-" + action.status.toLowerCase());
    card.dataset.type = action.type;
    card.dataset.status = action.status;
    card.appendChild(el("strong", "", action.type.replace(/_/g, " ").toLowerCase()
      .replace(/\b\w/g, function (c) { return c.toUpperCase(); })));
    card.appendChild(document.createTextNode(" "));
    card.appendChild(el("span", "badge", action.status.replace(/_/g, " ").toLowerCase()));
    var result = action.result || {};
    if (result.url && result.url.charAt(0) === "/") {
      card.appendChild(document.createTextNode(" "));
      var link = el("a", "", result.name || "Open the project");
      link.href = result.url;
      card.appendChild(link);
    }
    if (action.detail && action.status !== "NEEDS_CONFIRMATION") {
      card.appendChild(document.createTextNode(" "));
      card.appendChild(el("span", "detail", action.detail));
    }
    return card;
  }

  function parseEvents(buffer, onEvent) {
    var parts = buffer.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (block) {
      var name = "message", data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) name = line.slice(7);
        else if (line.indexOf("data: ") === 0) data += line.slice(6);
      });
      if (data) onEvent(name, JSON.parse(data));
    });
    return rest;
  }

  function setup(form) {
    var list = document.getElementById("messages");
    var input = form.querySelector("input[name=content]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.ReadableStream) return;  // plain POST instead
      event.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      var body = new URLSearchParams(new FormData(form));
      var mine = el("li", "msg user");
      mine.appendChild(el("p", "", text));
      list.appendChild(mine);
      var reply = el("li", "msg assistant streaming");
      reply.setAttribute("aria-busy", "true");
      var paragraph = el("p", "", "");
      reply.appendChild(paragraph);
      list.appendChild(reply);
      reply.scrollIntoView({block: "end"});
      input.value = "";
      button.disabled = true;

      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: {"Accept": "text/event-stream"}
      }).then(function (response) {
        if (!response.ok) {
          return response.text().then(function (detail) {
            throw new Error(response.status + " " + detail.slice(0, 200));
          });
        }
        var type = response.headers.get("content-type") || "";
        if (type.indexOf("text/event-stream") !== 0) {
          // A redirect to the login page: the session ended.
          throw new Error("your session has ended; reload the page and log in again");
        }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) {
              if (!reply.dataset.done) throw new Error("the reply was cut off; reload the page");
              return;
            }
            buffer = parseEvents(buffer + decoder.decode(chunk.value, {stream: true}),
              function (name, data) {
                if (name === "delta") paragraph.textContent += data.text;
                else if (name === "action") reply.appendChild(actionCard(data));
                else if (name === "done") {
                  paragraph.textContent = data.reply;
                  reply.classList.remove("streaming");
                  reply.removeAttribute("aria-busy");
                  reply.dataset.done = "true";
                }
              });
            return pump();
          });
        }
        return pump();
      }).catch(function (error) {
        reply.classList.remove("streaming");
        reply.classList.add("failed");
        paragraph.textContent = "Sorry, that did not go through: " + error.message;
      }).then(function () {
        button.disabled = false;
        input.focus();
        reply.scrollIntoView({block: "end"});
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("chat-form");
    if (form) setup(form);
  });
})();
