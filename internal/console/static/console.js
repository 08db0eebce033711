// agentid console: live status updates. The status feed
// (/v1/status/events) announces every revocation, suspension and
// reinstatement; the page says so and, where it shows status, reloads
// itself unless the user is typing in a form.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  // A page that follows the approvals feed shows no credential status:
  // one stream per tab, for the browser's few connections per host.
  if (document.getElementById("approvals-feed")) { return; }
  var path = location.pathname;
  var reloads = path === "/console/" || path === "/console/agents" || path === "/console/agent";
  var pending = null;
  var es = new EventSource("/v1/status/events");
  es.addEventListener("status", function () {
    live.hidden = false;
    live.textContent = "A credential's status changed at " + new Date().toLocaleTimeString() + ".";
    if (!reloads || pending) { return; }
    pending = setTimeout(function () {
      pending = null;
      var a = document.activeElement;
      if (a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA")) {
        live.textContent += " Reload to see it.";
        return;
      }
      location.reload();
    }, 500);
  });
  es.addEventListener("shutdown", function () { es.close(); });
  es.onerror = function () {
    if (es.readyState === EventSource.CLOSED) {
      live.hidden = false;
      live.textContent = "Live updates stopped; reload to see changes.";
    }
  };
  window.addEventListener("pagehide", function () { es.close(); });
})();

// agentid console: live approval requests. On the approvals pages of
// those who decide, the console's approvals feed
// (/console/approvals/events, the issuer's approval changes under the
// session) announces every new request and decision; the page says so and
// reloads itself unless the user is typing (a reason, say).
(function () {
  "use strict";
  var feed = document.getElementById("approvals-feed");
  var live = document.getElementById("live");
  if (!feed || !live || !window.EventSource) { return; }
  var pending = null;
  var es = new EventSource(feed.getAttribute("data-feed"));
  var said = { pending: "A new approval request arrived", approved: "A request was approved",
    denied: "A request was denied", expired: "A request expired" };
  Object.keys(said).forEach(function (type) {
    es.addEventListener(type, function () {
      live.hidden = false;
      live.textContent = said[type] + " at " + new Date().toLocaleTimeString() + ".";
      if (pending) { return; }
      pending = setTimeout(function () {
        pending = null;
        var a = document.activeElement;
        if (a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA")) {
          live.textContent += " Reload to see it.";
          return;
        }
        location.reload();
      }, 300);
    });
  });
  es.onerror = function () {
    if (es.readyState === EventSource.CLOSED) {
      live.hidden = false;
      live.textContent = "Live updates of approvals stopped; reload to see changes.";
    }
  };
  window.addEventListener("pagehide", function () { es.close(); });
})();
