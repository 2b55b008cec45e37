// Offload's live migration page: polls its JSON and writes every value with
// textContent or setAttribute, never as HTML. The function key the page was
// opened with (?code=) is read from the address and sent back as a header;
// it is never written into the page.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  function round1(v) { return (Math.round(v * 10) / 10).toFixed(1); }
  function int(v) {
    var s = String(Math.trunc(Number(v) || 0)), neg = s.charAt(0) === "-";
    if (neg) { s = s.slice(1); }
    for (var i = s.length - 3; i > 0; i -= 3) { s = s.slice(0, i) + "," + s.slice(i); }
    return (neg ? "-" : "") + s;
  }
  function bytes(v) {
    v = Number(v) || 0;
    var u = 0;
    while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return u === 0 ? int(v) + " B" : round1(v) + " " + units[u];
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function dur(v) {
    if (v === null || v === undefined) { return "—"; }
    var s = Math.round(Number(v)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h > 0) { return int(h) + "h " + pad(m) + "m"; }
    if (m > 0) { return m + "m " + pad(s % 60) + "s"; }
    return s + "s";
  }
  function time(v) {
    if (!v) { return "never"; }
    return String(v).replace("T", " ").replace(/(\.\d+)?Z$/, "Z");
  }
  var formats = {
    text: function (v) { return v === null || v === undefined ? "" : String(v); },
    int: int,
    bytes: bytes,
    rate: function (v) { return bytes(v) + "/s"; },
    num: function (v) { return round1(Number(v) || 0); },
    pct: function (v) { return round1(Number(v) || 0) + "%"; },
    dur: dur,
    time: time,
    maybe: function (v) { return v === null || v === undefined ? "unknown" : int(v); }
  };

  function get(obj, path) {
    if (path === ".") { return obj; }
    var parts = path.split(".");
    for (var i = 0; i < parts.length && obj !== null && obj !== undefined; i++) { obj = obj[parts[i]]; }
    return obj;
  }

  // bindOne writes one element's own bindings from data.
  function bindOne(el, data) {
    var d = el.dataset;
    if (d.k !== undefined) {
      var v = get(data, d.k);
      el.textContent = (formats[d.f] || formats.text)(v);
      el.setAttribute("data-v", v === null || v === undefined ? "" : String(v));
    }
    if (d.a !== undefined) {
      d.a.split(",").forEach(function (pair) {
        var kv = pair.split(":"), v = get(data, kv[1]);
        el.setAttribute(kv[0], v === null || v === undefined ? "" : String(v));
      });
    }
    if (d.show !== undefined) {
      var s = get(data, d.show);
      el.hidden = !(Array.isArray(s) ? s.length : s);
    }
  }

  // bind walks el's subtree; a data-list element is filled from its array
  // and its items are bound to their own element.
  function bind(el, data) {
    for (var c = el.firstElementChild; c; c = c.nextElementSibling) {
      if (c.tagName === "TEMPLATE") { continue; }
      bindOne(c, data);
      if (c.dataset.list !== undefined) { fill(c, get(data, c.dataset.list) || []); } else { bind(c, data); }
    }
  }

  function fill(el, items) {
    var tpl = null, old = [];
    for (var c = el.firstElementChild; c; c = c.nextElementSibling) {
      if (c.tagName === "TEMPLATE") { tpl = c; } else { old.push(c); }
    }
    if (!tpl) { return; }
    old.forEach(function (c) { el.removeChild(c); });
    items.forEach(function (item) {
      var frag = document.importNode(tpl.content, true);
      for (var c = frag.firstElementChild; c; c = c.nextElementSibling) { bindOne(c, item); bind(c, item); }
      el.appendChild(frag);
    });
  }

  var body = document.body, live = document.getElementById("live");
  var url = body.getAttribute("data-src");
  var key = new URLSearchParams(window.location.search).get("code");

  function status(ok, text) {
    live.className = "live " + (ok ? "on" : "off");
    live.textContent = text;
  }

  function poll() {
    var headers = { "Accept": "application/json" };
    if (key) { headers["x-functions-key"] = key; }
    fetch(url, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        bind(body, data);
        body.setAttribute("data-live", data.generatedAt);
        status(true, "live, updated " + time(data.generatedAt));
      })
      .catch(function (e) { status(false, "not updating: " + e.message); })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }
  poll();
})();
