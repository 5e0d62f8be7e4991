// Operator console: plain JavaScript, no build step, no dependencies.
// The token lives in sessionStorage (this tab only) and travels as an Authorization header, never in a URL.
// Every value from the server is written with textContent: no HTML is ever built from data.
"use strict";

(() => {
  const TOKEN_KEY = "brokerage.console.token";
  const WATCH_KEY = "brokerage.console.watch";
  const POLL_MS = 500;
  const $ = (id) => document.getElementById(id);

  let timer = null;
  let running = false;
  let again = false;
  let canAct = false;
  const seenTables = new Set(); // tables rendered once: later new rows are highlighted

  // ---- HTTP ----------------------------------------------------------------------------------------------
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token(), Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    if ((res.headers.get("content-type") || "").includes("json")) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    return { status: res.status, ok: res.ok, data };
  }

  function problemText(r) {
    const d = r.data || {};
    return (d.detail || d.title || "HTTP " + r.status) + " (" + r.status + ")";
  }

  // ---- formatting ----------------------------------------------------------------------------------------
  const DASH = "—";
  const fmt = (value, min, max) => {
    if (value === null || value === undefined || value === "") return DASH;
    const n = Number(value);
    return Number.isFinite(n)
      ? n.toLocaleString("en-US", { minimumFractionDigits: min, maximumFractionDigits: max }) : String(value);
  };
  const money = (v) => fmt(v, 2, 2);
  const price = (v) => fmt(v, 2, 4);
  const qty = (v) => fmt(v, 0, 4);
  const time = (iso) => {
    if (!iso) return DASH;
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(11, 23);
  };
  const dateTime = (iso) => {
    if (!iso) return DASH;
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(0, 19).replace("T", " ");
  };
  const sign = (v) => (v === null || v === undefined ? "" : Number(v) < 0 ? "num neg" : Number(v) > 0 ? "num pos" : "num");

  // ---- status and notices --------------------------------------------------------------------------------
  function setStatus(text) {
    const el = $("status");
    if (el.textContent !== text) el.textContent = text; // a live region: speak only on change
  }
  function setUpdated(iso) {
    $("updated").textContent = iso ? "updated " + time(iso) + " UTC" : "";
  }
  function notice(text, good) {
    const el = $("notice");
    el.textContent = text;
    el.className = "notice " + (good ? "good" : "bad");
  }

  // ---- keyed tables: rows are updated in place, so a focused button survives a refresh --------------------
  // columns: [{ get(item) -> string, cls?: string | (item) -> string }]; actions: [{ label(item), aria(item),
  // run(item), danger?: bool, disabled?(item) }]
  function syncTable(tableId, items, keyOf, columns, actions) {
    const table = $(tableId);
    const tbody = table.tBodies[0];
    const existing = new Map();
    for (const tr of Array.from(tbody.rows)) existing.set(tr.dataset.key, tr);
    const seen = new Set();
    let prev = null;
    for (const item of items) {
      const key = String(keyOf(item));
      seen.add(key);
      let tr = existing.get(key);
      if (!tr) {
        tr = createRow(key, columns, actions || []);
        if (seenTables.has(tableId)) tr.classList.add("fresh");
      }
      updateRow(tr, item, columns, actions || []);
      const wanted = prev ? prev.nextSibling : tbody.firstChild;
      if (wanted !== tr) tbody.insertBefore(tr, wanted);
      prev = tr;
    }
    for (const [key, tr] of existing) if (!seen.has(key)) tr.remove();
    seenTables.add(tableId);
    const empty = document.querySelector('[data-empty-for="' + tableId + '"]');
    if (empty) {
      empty.hidden = items.length > 0;
      table.hidden = items.length === 0;
    }
  }

  function createRow(key, columns, actions) {
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    columns.forEach((_, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      tr.appendChild(cell);
    });
    if (actions.length) {
      const cell = document.createElement("td");
      for (const action of actions) {
        const button = document.createElement("button");
        button.type = "button";
        if (action.danger) button.className = "danger";
        button.addEventListener("click", () => action.run(tr.item));
        cell.appendChild(button);
      }
      tr.appendChild(cell);
    }
    return tr;
  }

  function updateRow(tr, item, columns, actions) {
    tr.item = item;
    columns.forEach((col, i) => {
      const cell = tr.cells[i];
      const text = String(col.get(item));
      if (cell.textContent !== text) cell.textContent = text;
      const cls = typeof col.cls === "function" ? col.cls(item) : (col.cls || "");
      if (cell.className !== cls) cell.className = cls;
    });
    if (actions.length) {
      const buttons = tr.cells[columns.length].querySelectorAll("button");
      actions.forEach((action, i) => {
        const b = buttons[i];
        const label = action.label(item);
        if (b.textContent !== label) b.textContent = label;
        b.setAttribute("aria-label", action.aria(item));
        b.disabled = !canAct || (action.disabled ? action.disabled(item) : false);
        b.title = canAct ? "" : "Needs an operator or admin token";
      });
    }
  }

  // ---- confirmation dialog -------------------------------------------------------------------------------
  function confirmAction(text) {
    const dialog = $("confirm");
    const reason = $("confirm-reason");
    const back = document.activeElement;
    $("confirm-text").textContent = text;
    reason.value = "";
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        if (back && typeof back.focus === "function") back.focus();
        resolve(dialog.returnValue === "ok" ? reason.value.trim() : null);
      }, { once: true });
      dialog.showModal();
      reason.focus();
    });
  }

  async function act(question, path, body, done) {
    const reason = await confirmAction(question);
    if (reason === null) return;
    let r;
    try {
      r = await api("POST", path, body === null ? undefined : { ...body, reason });
    } catch (e) {
      notice("Request failed: " + e.message, false);
      return;
    }
    if (r.status === 401) { signOut("Your token was refused (expired or revoked). Sign in again."); return; }
    if (r.status === 404 && (!r.data || r.data.type === undefined || /\/not-found$/.test(r.data.type))) {
      notice("Not available on this server: " + path + " answered 404.", false);
    } else if (!r.ok) {
      notice("Refused: " + problemText(r), false);
    } else {
      notice(done(r.data), true);
    }
    refreshNow();
  }

  // ---- rendering -----------------------------------------------------------------------------------------
  function renderControls(c) {
    const ks = c.kill_switch;
    const killState = $("kill-state");
    killState.textContent = ks.engaged ? "ENGAGED" : "released";
    killState.className = "badge " + (ks.engaged ? "on" : "off");
    $("kill-reason").textContent = ks.engaged && ks.reason ? "Reason: " + ks.reason : "";
    const killButton = $("kill-toggle");
    killButton.textContent = ks.engaged ? "Release global kill switch" : "Engage global kill switch";
    killButton.dataset.engaged = ks.engaged ? "true" : "false";
    killButton.disabled = !canAct;

    const haltState = $("halt-state");
    haltState.textContent = c.halted ? "HALTED" : "trading";
    haltState.className = "badge " + (c.halted ? "on" : "off");
    const list = $("halt-list");
    list.replaceChildren(...c.halts.map((h) => {
      const li = document.createElement("li");
      li.textContent = h.kind + (h.level ? " level " + h.level : "") + " since " + dateTime(h.started_at)
        + " UTC by " + h.actor + ": " + h.reason;
      return li;
    }));
    const haltButton = $("halt-toggle");
    haltButton.textContent = c.halted ? "Resume trading" : "Halt trading";
    haltButton.dataset.halted = c.halted ? "true" : "false";
    haltButton.disabled = !canAct;
  }

  function sessionState(s) {
    if ("logged_on" in s) { // published by the gateway serving it (fix_session_state)
      const parts = [s.logged_on === true ? "logged on" : s.logged_on === false ? "logged out" : "unknown"];
      if (s.next_target_seq !== null && s.next_target_seq !== undefined) {
        parts.push("seq in " + s.next_target_seq + " / out " + s.next_sender_seq);
      }
      if (s.last_message_at) parts.push("last message " + time(s.last_message_at));
      return parts.join(", ");
    }
    const skip = new Set(["sender_comp_id", "enabled", "accounts", "target_comp_id", "begin_string", "username",
                          "created_at", "updated_at", "next_sender_seq", "next_target_seq", "last_message_at"]);
    const parts = [];
    for (const [k, v] of Object.entries(s)) {
      if (skip.has(k) || v === null || typeof v === "object") continue;
      parts.push(k.replace(/_/g, " ") + ": " + v);
    }
    return parts.length ? parts.join(", ") : DASH;
  }

  function render(snap) {
    canAct = snap.can_act;
    renderControls(snap.controls);

    syncTable("margin-calls", snap.margin_calls, (m) => m.call_id, [
      { get: (m) => m.call_id }, { get: (m) => m.account_id }, { get: (m) => m.status },
      { get: (m) => dateTime(m.opened_at) }, { get: (m) => money(m.equity), cls: "num" },
      { get: (m) => money(m.requirement), cls: "num" }, { get: (m) => m.valuation },
      { get: (m) => m.liquidation_attempts, cls: "num" },
    ]);

    syncTable("orders", snap.orders, (o) => o.order_id, [
      { get: (o) => time(o.created_at) }, { get: (o) => o.order_id }, { get: (o) => o.account_id },
      { get: (o) => o.session_id },
      { get: (o) => (o.current_cl_ord_id && o.current_cl_ord_id !== o.cl_ord_id
        ? o.cl_ord_id + " → " + o.current_cl_ord_id : o.cl_ord_id) }, { get: (o) => o.symbol },
      { get: (o) => o.side }, { get: (o) => o.ord_type }, { get: (o) => qty(o.qty), cls: "num" },
      { get: (o) => price(o.price), cls: "num" }, { get: (o) => o.status }, { get: (o) => qty(o.cum_qty), cls: "num" },
      { get: (o) => (Number(o.cum_qty) > 0 ? price(o.avg_px) : DASH), cls: "num" }, { get: (o) => o.text || "" },
    ]);

    syncTable("rejections", snap.rejections, (r) => r.occurred_at + "/" + r.actor + "/" + r.cl_ord_id, [
      { get: (r) => time(r.occurred_at) }, { get: (r) => r.cl_ord_id || DASH }, { get: (r) => r.account_id || DASH },
      { get: (r) => r.actor || DASH }, { get: (r) => r.symbol || DASH }, { get: (r) => r.side || DASH },
      { get: (r) => qty(r.qty), cls: "num" }, { get: (r) => price(r.price), cls: "num" },
      { get: (r) => r.rule || DASH }, { get: (r) => r.reason || DASH },
    ]);

    syncTable("fills", snap.fills, (f) => f.exec_id, [
      { get: (f) => time(f.created_at) }, { get: (f) => f.exec_id }, { get: (f) => f.order_id },
      { get: (f) => f.account_id }, { get: (f) => f.symbol }, { get: (f) => f.side },
      { get: (f) => qty(f.last_qty), cls: "num" }, { get: (f) => price(f.last_px), cls: "num" },
      { get: (f) => f.ord_status },
    ]);

    syncTable("accounts", snap.accounts, (a) => a.account_id, [
      { get: (a) => a.account_id }, { get: (a) => a.type }, { get: (a) => a.status },
      { get: (a) => money(a.cash), cls: "num" }, { get: (a) => money(a.blocked), cls: "num" },
      { get: (a) => money(a.buying_power), cls: "num" }, { get: (a) => money(a.equity), cls: "num" },
      { get: (a) => (a.margin_call_since ? "since " + dateTime(a.margin_call_since) : "none") },
      { get: (a) => (a.kill_switch ? "ENGAGED" : "off"), cls: (a) => (a.kill_switch ? "neg" : "") },
    ], [{
      label: (a) => (a.kill_switch ? "Release" : "Kill"),
      aria: (a) => (a.kill_switch ? "Release the kill switch of account " : "Engage the kill switch of account ")
        + a.account_id,
      danger: true,
      run: (a) => act(
        (a.kill_switch ? "Release" : "Engage") + " the kill switch of account " + a.account_id + "?"
          + (a.kill_switch ? "" : " Its new orders are refused and its working orders canceled."),
        "/v1/admin/controls/kill-switch", { state: a.kill_switch ? "off" : "on", account: a.account_id },
        (d) => "Kill switch of " + a.account_id + (a.kill_switch ? " released" : " engaged")
          + (d.changed ? "." : " (already).")),
    }]);

    const positions = snap.accounts.flatMap((a) => a.positions);
    syncTable("positions", positions, (p) => p.account_id + "/" + p.symbol, [
      { get: (p) => p.account_id }, { get: (p) => p.symbol }, { get: (p) => p.side },
      { get: (p) => qty(p.qty), cls: "num" }, { get: (p) => price(p.avg_entry_price), cls: "num" },
      { get: (p) => price(p.current_price), cls: "num" }, { get: (p) => money(p.market_value), cls: "num" },
      { get: (p) => money(p.unrealized_pl), cls: (p) => sign(p.unrealized_pl) },
      { get: (p) => (p.current_price === null ? "no quote" : p.price_stale ? "stale" : "live") },
    ]);

    syncTable("quotes", snap.quotes, (q) => q.symbol, [
      { get: (q) => q.symbol }, { get: (q) => price(q.bid), cls: "num" }, { get: (q) => price(q.ask), cls: "num" },
      { get: (q) => price(q.last), cls: "num" }, { get: (q) => qty(q.bid_size), cls: "num" },
      { get: (q) => qty(q.ask_size), cls: "num" },
      { get: (q) => (q.age_seconds === null ? DASH : q.age_seconds.toFixed(1)), cls: "num" },
      { get: (q) => (q.bid === null && q.ask === null && q.last === null ? "no quote" : q.stale ? "stale" : "live") },
    ]);
    const watch = $("watch");
    if (document.activeElement !== watch && sessionStorage.getItem(WATCH_KEY) === null && !watch.value) {
      watch.value = snap.quotes.map((q) => q.symbol).join(",");
    }

    syncTable("sessions", snap.sessions, (s) => s.sender_comp_id, [
      { get: (s) => s.sender_comp_id }, { get: (s) => (s.enabled === false ? "no" : "yes") },
      { get: (s) => (s.accounts || []).join(", ") || DASH }, { get: sessionState },
    ], [{
      label: (s) => (s.enabled === false ? "Enable" : "Disable"),
      aria: (s) => (s.enabled === false ? "Enable FIX session " : "Disable FIX session ") + s.sender_comp_id,
      danger: true,
      run: (s) => {
        const verb = s.enabled === false ? "enable" : "disable";
        act((s.enabled === false ? "Enable" : "Disable") + " FIX session " + s.sender_comp_id + "?"
              + (verb === "disable" ? " It is logged out and cannot log on until enabled." : ""),
            "/v1/admin/sessions/" + encodeURIComponent(s.sender_comp_id) + "/" + verb, {},
            () => "FIX session " + s.sender_comp_id + " " + verb + "d.");
      },
    }]);
  }

  // ---- polling and sign-in -------------------------------------------------------------------------------
  function refreshNow() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    if (running) { again = true; return; } // the answer in flight may predate the change: read once more
    poll();
  }

  async function poll() {
    timer = null;
    again = false;
    if (!token()) return;
    running = true;
    const watch = sessionStorage.getItem(WATCH_KEY);
    const query = watch !== null ? "?watch=" + encodeURIComponent(watch) : "";
    try {
      const r = await api("GET", "/v1/console/snapshot" + query);
      if (r.status === 401) { signOut("Your token was refused (invalid, expired or revoked)."); return; }
      if (r.status === 403) { signOut(problemText(r)); return; }
      if (r.ok) {
        showApp(r.data.role);
        render(r.data);
        setStatus("Live · " + r.data.role);
        setUpdated(r.data.as_of);
      } else {
        setStatus("Update failed: " + problemText(r) + "; retrying");
      }
    } catch (e) {
      setStatus("Connection lost; retrying");
    } finally {
      running = false;
    }
    if (token()) timer = setTimeout(poll, again ? 0 : POLL_MS);
    again = false;
  }

  function showApp() {
    if (!$("app").hidden) return;
    $("login").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    $("main").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (timer !== null) { clearTimeout(timer); timer = null; }
    $("app").hidden = true;
    $("signout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    setStatus("Signed out");
    setUpdated(null);
    $("token").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("token");
      const value = input.value.trim();
      input.value = "";
      if (!value) { $("login-error").textContent = "Paste a token."; input.focus(); return; }
      sessionStorage.setItem(TOKEN_KEY, value);
      $("login-error").textContent = "";
      setStatus("Signing in…");
      refreshNow();
    });
    $("signout").addEventListener("click", () => signOut(""));
    $("confirm-form").addEventListener("submit", (event) => {
      event.preventDefault();
      $("confirm").close(event.submitter ? event.submitter.value : "cancel");
    });
    $("kill-toggle").addEventListener("click", (event) => {
      const engaged = event.currentTarget.dataset.engaged === "true";
      act(engaged ? "Release the global kill switch? Orders are accepted again."
                  : "Engage the global kill switch? Every new order is refused and working orders are canceled.",
          "/v1/admin/controls/kill-switch", { state: engaged ? "off" : "on" },
          (d) => "Global kill switch " + (engaged ? "released" : "engaged") + (d.changed ? "." : " (already)."));
    });
    $("halt-toggle").addEventListener("click", (event) => {
      const halted = event.currentTarget.dataset.halted === "true";
      act(halted ? "Resume trading? Every active halt ends, a circuit breaker's included."
                 : "Halt trading market-wide? New orders are refused until resumed.",
          "/v1/admin/controls/halt", { state: halted ? "off" : "on" },
          (d) => (halted ? "Trading resumed (" + d.changed + " halt(s) ended)." : "Trading halted."));
    });
    $("watch-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(WATCH_KEY, $("watch").value.replace(/\s+/g, ""));
      refreshNow();
    });
    if (token()) { setStatus("Signing in…"); refreshNow(); } else { $("token").focus(); }
  });
})();
