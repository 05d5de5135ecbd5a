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
// - Pick mode, switched on by the devflow panel around the page ({"type":"devflow:pick",
//   "on":true}, accepted only from the parent window at the panel's origin): hover outlines
//   the element under the pointer, a click selects it (Shift+click: several), Esc leaves. Each
//   pick goes back to that origin only, as {"type":"devflow:picked", selector, label, pageUrl,
//   matches, index, add}: a selector that names exactly this element (#id when unique, else a
//   tag:nth-of-type path), and which of the page's alike elements (same tag and classes) it is.
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

  // ---- pick mode ----
  // The panel's origin: the page that embeds this preview (Chrome tells it in
  // ancestorOrigins; elsewhere the referrer says it). Messages from any other origin or
  // window are ignored, and picks are posted to this origin only.
  function panelOrigin() {
    try {
      if (window.location.ancestorOrigins && window.location.ancestorOrigins.length > 0) {
        return window.location.ancestorOrigins[0];
      }
      if (document.referrer) return new URL(document.referrer).origin;
    } catch (e) {
      /* no usable origin: pick mode stays off */
    }
    return null;
  }

  var pick = { on: false, origin: null, box: null, hovered: null };

  function escapeIdent(text) {
    if (window.CSS && typeof window.CSS.escape === "function") return window.CSS.escape(text);
    return String(text).replace(/[^a-zA-Z0-9_\u00a0-\uffff-]/g, "\\$&");
  }

  function classesOf(element) {
    var names = [];
    for (var i = 0; i < element.classList.length; i++) names.push(element.classList[i]);
    return names;
  }

  // `tag.class1.class2`: what the chip shows and how alike elements are counted.
  function labelOf(element) {
    var label = element.localName;
    classesOf(element).forEach(function (name) {
      label += "." + escapeIdent(name);
    });
    return label;
  }

  function uniqueId(element) {
    if (!element.id) return null;
    var selector = "#" + escapeIdent(element.id);
    try {
      return document.querySelectorAll(selector).length === 1 ? selector : null;
    } catch (e) {
      return null;
    }
  }

  // A selector for exactly this element: its #id when unique, else a child path from the
  // nearest ancestor with a unique id (or from body) with :nth-of-type where the tag repeats.
  function preciseSelector(element) {
    var own = uniqueId(element);
    if (own) return own;
    var parts = [];
    var node = element;
    while (node && node.nodeType === 1 && node !== document.documentElement) {
      var anchor = node !== element ? uniqueId(node) : null;
      if (anchor) {
        parts.unshift(anchor);
        break;
      }
      var part = node.localName;
      var parent = node.parentElement;
      if (parent && node.localName !== "body") {
        var same = 0;
        var position = 0;
        for (var i = 0; i < parent.children.length; i++) {
          var sibling = parent.children[i];
          if (sibling.localName === node.localName) {
            same += 1;
            if (sibling === node) position = same;
          }
        }
        if (same > 1) part += ":nth-of-type(" + position + ")";
      }
      parts.unshift(part);
      if (node.localName === "body") break;
      node = parent;
    }
    return parts.join(" > ");
  }

  function outline(element) {
    if (!pick.box) {
      var box = document.createElement("div");
      box.setAttribute("data-devflow-pick", "");
      var style = box.style;
      style.position = "fixed";
      style.pointerEvents = "none";
      style.zIndex = "2147483647";
      style.outline = "2px solid #4f46e5";
      style.background = "rgba(79, 70, 229, 0.12)";
      style.transition = "all 40ms linear";
      // Outside <body>, so the path selectors of the page's own elements do not count it.
      document.documentElement.appendChild(box);
      pick.box = box;
    }
    var rect = element.getBoundingClientRect();
    pick.box.style.display = "block";
    pick.box.style.left = rect.left + "px";
    pick.box.style.top = rect.top + "px";
    pick.box.style.width = rect.width + "px";
    pick.box.style.height = rect.height + "px";
  }

  function pickable(target) {
    return target && target.nodeType === 1 && target !== pick.box && target !== document.documentElement;
  }

  function onPickMove(event) {
    if (!pickable(event.target)) return;
    pick.hovered = event.target;
    outline(event.target);
  }

  function onPickClick(event) {
    if (!pickable(event.target)) return;
    // The page's own handlers (links, buttons) must not run while picking.
    event.preventDefault();
    event.stopPropagation();
    var element = event.target;
    var label = labelOf(element);
    var alike = [];
    try {
      alike = Array.prototype.slice.call(document.querySelectorAll(label));
    } catch (e) {
      alike = [element];
    }
    var index = alike.indexOf(element);
    window.parent.postMessage(
      {
        type: "devflow:picked",
        selector: preciseSelector(element),
        label: label,
        pageUrl: window.location.href,
        matches: Math.max(alike.length, 1),
        index: index < 0 ? 1 : index + 1,
        add: !!event.shiftKey,
      },
      pick.origin
    );
    if (!event.shiftKey) setPick(false);
  }

  function swallow(event) {
    if (pickable(event.target)) {
      event.preventDefault();
      event.stopPropagation();
    }
  }

  function onPickKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      setPick(false);
    }
  }

  function setPick(on) {
    if (pick.on === on) return;
    pick.on = on;
    var method = on ? "addEventListener" : "removeEventListener";
    document[method]("mouseover", onPickMove, true);
    document[method]("click", onPickClick, true);
    document[method]("mousedown", swallow, true);
    document[method]("mouseup", swallow, true);
    document[method]("keydown", onPickKey, true);
    if (document.documentElement) document.documentElement.style.cursor = on ? "crosshair" : "";
    if (!on) {
      if (pick.box) pick.box.style.display = "none";
      pick.hovered = null;
      window.parent.postMessage({ type: "devflow:pick-ended" }, pick.origin);
    }
  }

  if (window.parent !== window) {
    window.addEventListener("message", function (event) {
      var data = event.data;
      if (!data || typeof data !== "object" || data.type !== "devflow:pick") return;
      var origin = panelOrigin();
      if (event.source !== window.parent || !origin || event.origin !== origin) return;
      pick.origin = origin;
      setPick(!!data.on);
    });
  }

  connect();
})();
