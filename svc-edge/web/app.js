// app.js — the view: one conference, its members, and its controls.
// Protocol work is in the client package (client-js/, the same package a
// customer's app uses), texts in i18n.js.

import { ConfClient, RpcError, eventNotifications, newClientId, newKey, splitNumbers } from "./client-js/index.js";
import { texts, pickLang, errorText, reasonText } from "./i18n.js";

const eventMethods = new Set(eventNotifications);

const KEY_CLIENT = "confapplet.clientId";
const KEY_CONF = "confapplet.confid";
const KEY_LANG = "confapplet.lang";
const LOG_MAX = 200;

// ---------- state ----------

const store = {
  get(k, s = sessionStorage) {
    try { return s.getItem(k); } catch { return null; }
  },
  set(k, v, s = sessionStorage) {
    try { v == null ? s.removeItem(k) : s.setItem(k, v); } catch { /* private mode */ }
  },
};

let lang = pickLang(store.get(KEY_LANG, localStorage), navigator.languages || [navigator.language]);
let t = texts[lang];

/** The one conference on screen. */
const conf = {
  id: null,
  state: "none", // none | waiting | active | ending | ended
  recording: false,
  endedAt: "",
  members: new Map(), // callid -> member
};
let conn = { state: "connecting" };
let busy = 0; // requests in flight that disable the controls

function resetConf(id) {
  conf.id = id;
  conf.state = id ? "waiting" : "none";
  conf.recording = false;
  conf.endedAt = "";
  conf.members = new Map();
  store.set(KEY_CONF, id);
}

// Member states only move forward (svc-conference/conference/member.go):
// invited → ringing → joined → left, or → failed.
const rank = { invited: 0, ringing: 1, joined: 2, left: 3, failed: 3 };
const confRank = { none: 0, waiting: 1, active: 2, ending: 3, ended: 4 };

/** upsert merges m into the member list; a finished call never comes back to life. */
function upsert(m) {
  const old = conf.members.get(m.callid);
  if (!old) {
    conf.members.set(m.callid, { number: "", state: "invited", muted: false, ...m });
    return;
  }
  const next = { ...old };
  for (const [k, v] of Object.entries(m)) if (v !== undefined && v !== "" && k !== "state") next[k] = v;
  // A failure never overrides a join: only a quit ends a member who was in.
  const stale = m.state === "failed" && old.state === "joined";
  if (m.state && !stale && (rank[m.state] || 0) >= (rank[old.state] || 0) && rank[old.state] !== 3) next.state = m.state;
  conf.members.set(m.callid, next);
}

// ---------- events from the server ----------

function apply(method, p) {
  if (p.confid !== conf.id) return;
  switch (method) {
    case "OnConfCreate":
      if (conf.state === "none") conf.state = "waiting";
      break;
    case "OnConfInviteJoin": {
      // Joined only on an explicit result 0; result -1 (outcome "pending")
      // means the platform reported on the call without saying how it went.
      const r = p.result === undefined || p.result === null || p.result === "" ? -1 : Number(p.result);
      const ok = r === 0;
      const state = ok ? "joined" : r < 0 ? "ringing" : "failed";
      upsert({ callid: p.callid, number: p.number, state, jointime: ok ? p.jointime : "", result: r < 0 ? undefined : r });
      if (ok && conf.state === "waiting") conf.state = "active";
      announce(conf.members.get(p.callid));
      break;
    }
    case "OnConfQuit":
      upsert({ callid: p.callid, number: p.number, state: "left", quittime: p.jointime });
      announce(conf.members.get(p.callid));
      break;
    case "OnConfDismiss":
      if (Number(p.status) === 0) end("");
      else {
        if (conf.state === "ending") {
          conf.state = [...conf.members.values()].some((m) => m.state === "joined") ? "active" : "waiting";
        }
        showError(() => t.conf.dismissFailed(p.status));
      }
      break;
    case "OnConfDel":
      end(p.deltime);
      break;
    case "OnConfMedia":
      media(p);
      break;
    case "OnConfEventsLost":
      rebuild(true);
      break;
  }
}

function media(p) {
  if (Number(p.result) !== 0) return;
  const type = Number(p.notifytype);
  const m = p.callid && conf.members.get(p.callid);
  if (type === 4 && m) m.muted = true;
  if (type === 14 && m) m.muted = false;
  if (type === 2) conf.recording = true;
  if (type === 12) conf.recording = false;
}

function end(when) {
  conf.state = "ended";
  conf.recording = false;
  if (when) conf.endedAt = when;
  // The platform's time when it gave one (OnConfDel's deltime), never the
  // browser's clock, which may be in another time zone.
  notice(() => (conf.endedAt ? t.conf.endedAt(fmtTime(conf.endedAt)) : t.conf.endedNow));
  for (const m of conf.members.values()) {
    if (m.state === "invited" || m.state === "ringing" || m.state === "joined") m.state = "left";
  }
}

/** rebuild replaces the view of the conference with the service's (GetConf). */
async function rebuild(lost) {
  const id = conf.id;
  if (!id) return;
  let c;
  try {
    c = await client.call("GetConf", { confid: id });
  } catch (e) {
    if (e instanceof RpcError && (e.code === 1001 || e.code === 1007)) {
      if (conf.id === id) end("");
      render();
      return;
    }
    if (lost) showError(() => errorText(t, e));
    return;
  }
  if (conf.id !== id || !c) return;
  // Merge, never step back: the service's view may lag the events shown.
  const st = ["waiting", "active", "ending"][c.state];
  if (st && confRank[st] > confRank[conf.state]) conf.state = st;
  conf.recording = !!c.recording;
  for (const m of c.members || []) {
    upsert({
      callid: m.callid,
      number: m.number,
      state: m.state,
      result: m.result || 0,
      muted: !!m.muted,
      invitetime: m.invitetime,
      jointime: m.jointime,
      quittime: m.quittime,
    });
  }
  if (typeof c.seq === "number") client.seen(id, c.seq);
  if (lost) notice(() => t.conf.rebuilt);
  render();
}

// ---------- actions ----------

async function act(fn) {
  busy++;
  clearError();
  render();
  try {
    await fn();
  } catch (e) {
    showError(() => errorText(t, e));
    if (e instanceof RpcError && (e.code === 1007 || e.code === 1001) && conf.id) end("");
  } finally {
    busy--;
    render();
  }
}

function createConf() {
  return act(async () => {
    const id = await client.call("CreateConf", { idempotency_key: newKey() }, { resend: true });
    client.seen(id, 0);
    resetConf(String(id));
    notice(() => t.conf.created(id));
  });
}

async function invite(text) {
  const numbers = splitNumbers(text);
  if (numbers.length === 0) {
    showError(() => t.invite.empty);
    return;
  }
  const id = conf.id;
  const failures = [];
  let sent = 0;
  await act(async () => {
    // One InviteJoinConf per number, one after the other: the edge runs a
    // connection's requests in order anyway, and the callid of each reply
    // then belongs to exactly one number.
    for (const number of numbers) {
      try {
        const callid = await client.call(
          "InviteJoinConf",
          { confid: id, number, idempotency_key: newKey() },
          { resend: true },
        );
        sent++;
        if (conf.id === id) upsert({ callid, number, state: "invited", invitetime: nowStamp() });
        render();
      } catch (e) {
        failures.push(() => t.invite.failedFor(number, errorText(t, e)));
        if (e instanceof RpcError && (e.code === 1007 || e.code === 1001)) {
          if (conf.id === id) end("");
          break;
        }
      }
    }
  });
  if (sent) notice(() => t.invite.sent(sent));
  if (failures.length) showError(() => failures.map((f) => f()).join("\n"));
  else $("invite-input").value = "";
}

function hangup(m) {
  return act(() => client.call("QuitConf", { confid: conf.id, callid: m.callid }));
}

function toggleMute(m) {
  const muting = !m.muted;
  return act(async () => {
    await client.call(muting ? "ConfMute" : "ConfUnMute", { confid: conf.id, callid: m.callid });
    const cur = conf.members.get(m.callid);
    if (cur) cur.muted = muting;
  });
}

function muteAll() {
  return act(async () => {
    for (const m of [...conf.members.values()]) {
      if (m.state !== "joined" || m.muted) continue;
      await client.call("ConfMute", { confid: conf.id, callid: m.callid });
      m.muted = true;
      render();
    }
  });
}

function toggleRecord() {
  const start = !conf.recording;
  return act(async () => {
    await client.call(start ? "ConfRecord" : "ConfStopRecord", { confid: conf.id });
    conf.recording = start;
  });
}

let confirmTimer = null;

/** dismiss asks for a second click (no modal dialog) before ending the conference. */
function dismiss() {
  const b = $("dismiss-conf");
  if (b.dataset.confirm !== "true") {
    b.dataset.confirm = "true";
    b.textContent = t.conf.dismissConfirm;
    clearTimeout(confirmTimer);
    confirmTimer = setTimeout(() => {
      b.dataset.confirm = "false";
      render();
    }, 5000);
    return;
  }
  clearTimeout(confirmTimer);
  b.dataset.confirm = "false";
  return act(async () => {
    await client.call("DismissConf", { confid: conf.id });
    if (conf.state !== "ended") conf.state = "ending";
  });
}

function newConf() {
  if (conf.id) client.forget(conf.id);
  resetConf(null);
  clearError();
  notice(null);
  render();
}

// ---------- rendering ----------

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

function fmtTime(s) {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s || "");
  return m ? `${m[4]}:${m[5]}:${m[6]}` : "";
}
function nowStamp() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
function fmtNow() {
  return fmtTime(nowStamp());
}

// The notice and the error are kept as functions of the texts, so switching
// the language re-renders them.
let noticeFn = null;
let errorFn = null;

function notice(fn) {
  noticeFn = typeof fn === "function" ? fn : null;
  $("notice").textContent = noticeFn ? noticeFn() : "";
}
function showError(fn) {
  errorFn = typeof fn === "function" ? fn : null;
  const e = $("error");
  e.textContent = errorFn ? errorFn() : "";
  e.hidden = !errorFn;
}
function clearError() {
  showError(null);
}

function label(path) {
  return path.split(".").reduce((o, k) => (o ? o[k] : undefined), t);
}

function renderStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t.title} · confapplet`;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const v = label(el.dataset.i18n);
    if (typeof v === "string") el.textContent = v;
  }
  const inp = $("invite-input");
  inp.placeholder = t.invite.placeholder;
  const lt = $("lang-toggle");
  lt.textContent = t.langToggle;
  lt.setAttribute("aria-label", t.langToggleLabel);
  lt.lang = lang === "zh" ? "en" : "zh-CN";
  $("reconnect-now").textContent = t.conn.retryNow;
}

function renderConn() {
  const el = $("conn-status");
  el.dataset.state = conn.state;
  let text = t.conn[conn.state] || conn.state;
  if (conn.replaced) text = t.conn.replaced;
  else if (conn.state === "reconnecting" && conn.delay > 1500) text = t.conn.reconnectingIn(Math.ceil(conn.delay / 1000));
  $("conn-text").textContent = text;
  $("reconnect-now").hidden = !(conn.state === "reconnecting" || conn.replaced);
}

function button(testid, text, aria, onclick, cls = "small") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.dataset.testid = testid;
  b.textContent = text;
  b.setAttribute("aria-label", aria);
  b.addEventListener("click", onclick);
  return b;
}

function memberRow(m, online) {
  const li = document.createElement("li");
  li.className = "member";
  li.dataset.testid = "member";
  li.dataset.callid = m.callid;
  li.dataset.number = m.number;
  li.dataset.state = m.state;
  li.dataset.muted = String(!!m.muted);

  const num = document.createElement("span");
  num.className = "num";
  num.dataset.testid = "member-number";
  num.textContent = m.number || "—";

  const st = document.createElement("span");
  st.className = "st";
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.dataset.testid = "member-state";
  badge.dataset.state = m.state;
  badge.textContent = t.members[m.state] || m.state;
  st.append(badge);
  if (m.state === "failed") {
    const r = document.createElement("span");
    r.className = "reason";
    r.dataset.testid = "member-reason";
    r.textContent = reasonText(t, m.result);
    st.append(r);
  }
  if (m.muted && m.state === "joined") {
    const mu = document.createElement("span");
    mu.className = "badge";
    mu.dataset.testid = "member-muted";
    mu.textContent = t.members.muted;
    st.append(mu);
  }

  const time = document.createElement("span");
  time.className = "time";
  time.dataset.testid = "member-time";
  const jt = fmtTime(m.jointime);
  const qt = fmtTime(m.quittime);
  time.textContent = jt && qt ? `${jt} – ${qt}` : jt || (qt ? `– ${qt}` : "");

  const acts = document.createElement("span");
  acts.className = "acts";
  const live = conf.state !== "ended";
  if (live && m.state === "joined") {
    const b = button("member-mute", m.muted ? t.members.unmute : t.members.mute,
      m.muted ? t.members.unmuteOf(m.number) : t.members.muteOf(m.number), () => toggleMute(m));
    b.disabled = !online;
    acts.append(b);
  }
  if (live && (m.state === "joined" || m.state === "ringing" || m.state === "invited")) {
    const b = button("member-hangup", t.members.hangup, t.members.hangupOf(m.number), () => hangup(m), "small danger");
    b.disabled = !online;
    acts.append(b);
  }
  li.append(num, st, time, acts);
  return li;
}

/**
 * renderMembers updates the list in place, one row per call, replacing only
 * the rows that changed, so a keyboard user's focus survives the events of
 * other members (and moves to the same button of a row that changed).
 */
function renderMembers(online) {
  const list = $("member-list");
  const ms = [...conf.members.values()];
  const ended = conf.state === "ended";
  ms.forEach((m, i) => {
    const sig = JSON.stringify([m.number, m.state, m.muted, m.result, m.jointime, m.quittime, online, ended, lang]);
    const cur = list.children[i];
    if (cur && cur.dataset.callid === m.callid && cur.dataset.sig === sig) return;
    const li = memberRow(m, online);
    li.dataset.sig = sig;
    if (cur && cur.dataset.callid === m.callid) {
      const focused = cur.contains(document.activeElement) ? document.activeElement.dataset.testid : "";
      cur.replaceWith(li);
      if (focused) {
        const again = li.querySelector(`[data-testid="${focused}"]`);
        if (again && !again.disabled) again.focus();
        else $("invite-input").focus();
      }
    } else if (cur) {
      list.insertBefore(li, cur);
    } else {
      list.append(li);
    }
  });
  while (list.children.length > ms.length) list.lastElementChild.remove();
}

/** announce tells screen readers what happened to a member. */
function announce(m) {
  if (!m) return;
  let text = `${m.number}: ${t.members[m.state] || m.state}`;
  if (m.state === "failed") text += ` (${reasonText(t, m.result)})`;
  $("announcer").textContent = text;
}

function render() {
  renderConn();
  const online = conn.state === "open";
  const has = conf.id !== null;
  const ended = conf.state === "ended";
  $("conf-none").hidden = has;
  $("conf-panel").hidden = !has;
  $("create-conf").disabled = !online || busy > 0;

  $("conf-id").textContent = conf.id || "";
  const cs = $("conf-state");
  cs.dataset.state = conf.state;
  cs.textContent = t.conf[conf.state] || "";
  const rec = $("conf-recording");
  rec.hidden = !conf.recording || ended;
  rec.textContent = t.conf.recording;

  const joined = [...conf.members.values()].filter((m) => m.state === "joined");
  const canAct = online && has && !ended && conf.state !== "ending";
  $("mute-all").disabled = !canAct || busy > 0 || !joined.some((m) => !m.muted);
  const rt = $("record-toggle");
  rt.textContent = conf.recording ? t.conf.stopRecord : t.conf.startRecord;
  rt.setAttribute("aria-pressed", String(conf.recording));
  rt.disabled = !canAct || busy > 0;
  const db = $("dismiss-conf");
  db.disabled = !canAct || busy > 0;
  db.textContent = db.dataset.confirm === "true" ? t.conf.dismissConfirm : t.conf.dismiss;
  $("mute-all").hidden = $("record-toggle").hidden = $("dismiss-conf").hidden = ended;
  $("new-conf").hidden = !ended;
  $("invite-form").hidden = ended;
  $("invite-input").disabled = !canAct;
  $("invite-button").disabled = !canAct || busy > 0;

  renderMembers(online);
  $("members-empty").hidden = conf.members.size > 0;
  $("member-count").textContent = has ? t.members.count(joined.length) : "";
}

function logEvent(method, p) {
  const ol = $("event-log");
  const li = document.createElement("li");
  const isEvent = eventMethods.has(method);
  if (isEvent && typeof p.seq === "number") li.dataset.seq = String(p.seq);
  li.dataset.confid = p.confid || "";
  li.dataset.method = method;
  const extra = ["number", "result", "status", "notifytype", "from", "to"]
    .filter((k) => p[k] !== undefined && p[k] !== "")
    .map((k) => `${k}=${p[k]}`)
    .join(" ");
  const seq = isEvent ? `#${p.seq}` : `(seq ${p.seq ?? "-"})`;
  li.textContent = `${fmtNow()} ${seq} ${method} ${p.confid || ""} ${extra}`.trim();
  ol.append(li);
  while (ol.children.length > LOG_MAX) ol.firstElementChild.remove();
}

// ---------- wiring ----------

// Page URL parameters, for deployments that need them: ?client=<id>&token=<token>
// when the edge requires connection tokens (the operator's back end signs a
// token for a client id and sends the browser here), or
// ?client=<id>&token_url=<url> to fetch a fresh token (JSON {"token": …} or the
// token as text) from the operator's back end before every connect and
// before it expires (docs/protocol.md 1.2a); ?operator=<token>.
const params = new URLSearchParams(location.search);
const validID = (id) => /^[A-Za-z0-9_-]{1,64}$/.test(id || "");
let clientId = store.get(KEY_CLIENT);
if (validID(params.get("client")) && params.get("client") !== clientId) {
  clientId = params.get("client");
  store.set(KEY_CONF, null); // the saved conference belonged to the other id
}
if (!validID(clientId)) clientId = newClientId();
store.set(KEY_CLIENT, clientId);
const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
const client = new ConfClient({
  url: base,
  clientId,
  operator: params.get("operator") || "",
  token: params.get("token") || "",
  tokenSource: params.get("token_url") ? () => fetchToken(params.get("token_url")) : null,
});

// fetchToken asks the operator's back end (same origin or CORS, with its
// cookies) for this client's connection token.
async function fetchToken(url) {
  const r = await fetch(url, { credentials: "include", headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error("token: HTTP " + r.status);
  const text = (await r.text()).trim();
  return text.startsWith("{") ? JSON.parse(text).token : text;
}
window.confapplet = { client, conf }; // for debugging and the browser test

const saved = store.get(KEY_CONF);
if (saved) resetConf(saved);

client.on("status", (d) => {
  conn = d;
  if (d.state === "open") {
    if (d.resumed) notice(() => t.conn.resumed);
    // After a reload the page knows only the conference id: ask for the
    // members (ringing ones have no event yet). After a reconnect the
    // replayed events suffice, but asking costs little and fixes anything.
    if (conf.id && conf.state !== "ended") rebuild(false);
  }
  render();
});
client.on("notify", ({ method, params: p }) => {
  logEvent(method, p);
  apply(method, p);
  render();
});
// Failures no action reports (a token renewal, an answer without an id).
client.on("error", (e) => showError(() => errorText(t, e)));

$("create-conf").addEventListener("click", createConf);
$("new-conf").addEventListener("click", newConf);
$("dismiss-conf").addEventListener("click", dismiss);
$("record-toggle").addEventListener("click", toggleRecord);
$("mute-all").addEventListener("click", muteAll);
$("reconnect-now").addEventListener("click", () => {
  if (conn.replaced) {
    conn = { state: "connecting" };
    client.connect().catch(() => {}); // the status events tell the view
  } else client.reconnectNow();
});
// Back online, or back to the tab: do not wait for the backoff.
window.addEventListener("online", () => client.reconnectNow());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") client.reconnectNow();
});
$("invite-form").addEventListener("submit", (e) => {
  e.preventDefault();
  invite($("invite-input").value);
});
$("lang-toggle").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  t = texts[lang];
  store.set(KEY_LANG, lang, localStorage);
  renderStatic();
  notice(noticeFn);
  showError(errorFn);
  render();
});

renderStatic();
render();
client.connect().catch(() => {}); // the status events tell the view
