// devflow reload client, served by the preview proxy at /__devflow/client.js and injected
// into every HTML page it proxies. Plain JS, no build step.
//
// - Connects back to ws(s)://<this origin>/__devflow/ws.
// - "change" with cssOnly: swaps the matching <link rel=stylesheet> in place (new link with a
//   cache-busting query, old one removed once the new one has loaded: no flash, no reload).
//   Any other change reloads the page.
// - Reconnects with back-off; on reconnect, a changed seq (or a new proxy) means changes were
//   missed: reload.
// - Relays console.error, uncaught exceptions and unhandled rejections to the proxy.
// - Says when it has finished with a change ({"type":"settled","seq":N}): after swapping
//   stylesheets, once they have loaded; after a reload, once the new page has loaded (its
//   hello's seq). The daemon's check of a patch waits for that before reading the errors.
(function () {
  "use strict";
  if (window.__devflowClient) return;
  var WS_PATH = "/__devflow/ws";
  var MAX_REPORTS = 50;
  var MAX_TEXT = 2000;

  var state = {
    socket: null,
    attempt: 0,
    epoch: null,
    seq: null,
    reports: 0,
    outbox: [],
    reloading: false,
  };
  window.__devflowClient = { version: 1, state: state };
  // Tell the devflow panel around us that this page reloads itself, so the panel does not
  // reload it a second time. Only a marker, no data: any origin may hear it.
  if (window.parent !== window) {
    window.parent.postMessage({ type: "devflow:reload-client", version: 1 }, "*");
  }

  // A page with its own hot-module replacement (Vite) handles its changes itself; a reload
  // from us on top would throw its state away.
  function ownHmr() {
    return !!document.querySelector('script[src^="/@vite/client"], script[src*="/@vite/client"]');
  }

  function reload() {
    if (state.reloading) return;
    state.reloading = true;
    window.location.reload();
  }

  function sameFile(linkPath, file) {
    var wanted = "/" + String(file).replace(/^\/+/, "");
    // The workspace path may carry a folder the server does not show (public/, src/).
    return linkPath === wanted || wanted.endsWith(linkPath) || linkPath.endsWith(wanted);
  }

  function swapLink(link, seq, swapped) {
    var url;
    try {
      url = new URL(link.href, window.location.href);
    } catch (e) {
      return false;
    }
    url.searchParams.set("__devflow", String(seq));
    var next = link.cloneNode(false);
    next.href = url.href;
    var done = false;
    function finish() {
      if (done) return;
      done = true;
      if (link.parentNode) link.parentNode.removeChild(link);
      swapped();
    }
    next.addEventListener("load", finish);
    next.addEventListener("error", finish);
    setTimeout(finish, 5000);
    link.parentNode.insertBefore(next, link.nextSibling);
    return true;
  }

  function swapStylesheets(files, seq, finished) {
    var links = Array.prototype.slice.call(
      document.querySelectorAll('link[rel~="stylesheet" i][href]')
    );
    var sameOrigin = links.filter(function (link) {
      try {
        return new URL(link.href, window.location.href).origin === window.location.origin;
      } catch (e) {
        return false;
      }
    });
    if (sameOrigin.length === 0) return false;
    var matched = sameOrigin.filter(function (link) {
      var path = new URL(link.href, window.location.href).pathname;
      return files.some(function (file) {
        return sameFile(path, file);
      });
    });
    // A changed file no link names (an @import, say): refresh every same-origin sheet.
    var targets = matched.length > 0 ? matched : sameOrigin;
    var swapped = 0;
    var pending = 1;
    function one() {
      pending -= 1;
      if (pending === 0) finished();
    }
    targets.forEach(function (link) {
      pending += 1;
      if (swapLink(link, seq, one)) swapped += 1;
      else pending -= 1;
    });
    if (swapped === 0) return false;
    one();
    return true;
  }

  function settled(seq) {
    if (typeof seq === "number") send({ type: "settled", seq: seq });
  }

  // After the page has loaded: what went wrong while loading has been reported by then.
  function settledOnLoad(seq) {
    if (document.readyState === "complete") {
      settled(seq);
    } else {
      window.addEventListener("load", function () {
        settled(seq);
      });
    }
  }

  function onMessage(message) {
    if (!message || typeof message.type !== "string") return;
    if (message.type === "hello") {
      var missed =
        state.epoch !== null
          ? message.epoch !== state.epoch || message.seq !== state.seq
          : typeof message.changedAt === "number" &&
            message.changedAt > (performance.timeOrigin || 0);
      state.epoch = message.epoch;
      state.seq = message.seq;
      if (missed && !ownHmr()) reload();
      else settledOnLoad(message.seq);
      return;
    }
    if (typeof message.seq === "number") {
      if (state.seq !== null && message.seq <= state.seq) return;
      state.seq = message.seq;
    }
    if (message.type === "reload") {
      reload();
    } else if (message.type === "change") {
      var seq = message.seq;
      // The page's own HMR applies it; nothing tells us when.
      if (ownHmr()) return settled(seq);
      var files = Array.isArray(message.files) ? message.files : [];
      if (
        message.cssOnly &&
        swapStylesheets(files, seq, function () {
          settled(seq);
        })
      ) {
        return;
      }
      reload();
    }
  }

  function send(payload) {
    var text;
    try {
      text = JSON.stringify(payload);
    } catch (e) {
      return;
    }
    var socket = state.socket;
    if (socket && socket.readyState === 1) {
      socket.send(text);
    } else if (state.outbox.length < 20) {
      state.outbox.push(text);
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + WS_PATH);
    } catch (e) {
      retry();
      return;
    }
    state.socket = socket;
    socket.onopen = function () {
      state.attempt = 0;
      var queued = state.outbox.splice(0);
      queued.forEach(function (text) {
        socket.send(text);
      });
    };
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      onMessage(message);
    };
    socket.onclose = function () {
      if (state.socket === socket) state.socket = null;
      retry();
    };
  }

  function retry() {
    if (state.reloading) return;
    var base = Math.min(10000, 250 * Math.pow(2, state.attempt));
    state.attempt += 1;
    setTimeout(connect, base * (0.75 + Math.random() * 0.5));
  }

  function text(value) {
    if (value instanceof Error) return value.stack || value.name + ": " + value.message;
    if (typeof value === "string") return value;
    try {
      var json = JSON.stringify(value);
      if (json !== undefined) return json;
    } catch (e) {
      /* fall through */
    }
    return String(value);
  }

  function clip(value) {
    var s = value == null ? "" : String(value);
    return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) + "…" : s;
  }

  function report(kind, message, details) {
    if (state.reports >= MAX_REPORTS) return;
    state.reports += 1;
    details = details || {};
    send({
      type: "error",
      kind: kind,
      message: clip(message),
      stack: details.stack ? clip(details.stack) : undefined,
      url: details.url || undefined,
      line: details.line || undefined,
      column: details.column || undefined,
      page: window.location.href,
    });
  }

  var originalError = console.error;
  var inReport = false;
  console.error = function () {
    if (!inReport) {
      inReport = true;
      try {
        report("console.error", Array.prototype.map.call(arguments, text).join(" "));
      } catch (e) {
        /* never break the page's own logging */
      }
      inReport = false;
    }
    return originalError.apply(this, arguments);
  };

  window.addEventListener("error", function (event) {
    if (!event || (!event.error && !event.message)) return; // resource errors: no message
    report("uncaught", event.message || text(event.error), {
      stack: event.error && event.error.stack,
      url: event.filename,
      line: event.lineno,
      column: event.colno,
    });
  });

  window.addEventListener("unhandledrejection", function (event) {
    var reason = event ? event.reason : undefined;
    report("unhandledrejection", "Unhandled rejection: " + text(reason), {
      stack: reason && reason.stack,
    });
  });

  connect();
})();
