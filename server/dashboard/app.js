// Locksmith dashboard: the lock tree, charts and event feed, kept live by
// the server's event stream (no page reloads).
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("locksmith-token") || "";
let stream = null;
let refreshTimer = null;
const WINDOW = 120; // seconds shown in the charts
const perSecond = new Map(); // second -> {n, waits: []}

function headers() {
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path) {
  const res = await fetch(path, { headers: headers() });
  if (res.status === 401) {
    $("auth").hidden = false;
    throw new Error("unauthorized");
  }
  return res.json();
}

function fmtDuration(ns) {
  const ms = ns / 1e6;
  if (ms < 1) return (ms * 1000).toFixed(0) + " µs";
  if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + "m " + Math.floor(s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

function fmtMs(ms) {
  return fmtDuration(ms * 1e6);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function requestChip(r) {
  const chip = el("span", "req " + (r.granted ? "holder" : "waiter"));
  chip.dataset.token = r.fencing_token;
  chip.append(el("span", "mode", r.mode));
  chip.append(el("span", "", "#" + r.fencing_token));
  chip.append(el("span", "", (r.pid ? "pid " + r.pid : "") + (r.host ? " @" + r.host : "")));
  chip.append(el("span", "", fmtDuration(r.age_ns)));
  if (r.meta && Object.keys(r.meta).length) {
    chip.append(el("span", "", Object.entries(r.meta).map(([k, v]) => k + "=" + v).join(" ")));
  }
  chip.title = (r.granted ? "holder" : "waiter at position " + r.position) + ", session " + r.session;
  return chip;
}

function renderNode(n) {
  const li = el("li", "node");
  li.dataset.path = n.path;
  li.append(el("span", "name" + (n.status ? "" : " dir"), n.name || "/"));
  if (n.status) {
    const reqs = el("div");
    for (const r of n.status.holders.concat(n.status.waiters)) reqs.append(requestChip(r));
    li.append(reqs);
  }
  if (n.children && n.children.length) {
    const ul = el("ul");
    for (const c of n.children) ul.append(renderNode(c));
    li.append(ul);
  }
  return li;
}

async function refreshTree() {
  const tree = await api("/api/v1/tree");
  const box = $("tree");
  box.replaceChildren();
  let held = 0, waiting = 0;
  const count = (n) => {
    if (n.status) { held += n.status.holders.length; waiting += n.status.waiters.length; }
    (n.children || []).forEach(count);
  };
  count(tree);
  $("s-held").textContent = held;
  $("s-waiting").textContent = waiting;
  if (!tree.children || !tree.children.length) {
    box.append(el("p", "empty", "No lock is held or waited for."));
    return;
  }
  const ul = el("ul");
  for (const c of tree.children) ul.append(renderNode(c));
  box.append(ul);
}

function scheduleTree() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshTree().catch(() => {});
  }, 100);
}

async function refreshHealth() {
  const h = await api("/api/v1/health");
  const b = h.host.backend;
  $("backend").textContent = "backend " + b.name + (b.version ? " " + b.version : "") + (h.status === "ok" ? " · healthy" : " · " + h.status);
  $("backend").className = "pill " + (h.status === "ok" ? "on" : "off");
  $("s-rtt").textContent = b.alive ? fmtDuration(b.rtt_ns) : "down";
  const box = $("plugins");
  box.replaceChildren();
  const row = el("div", "plugin");
  row.append(el("span", "", b.name + " (backend)"));
  row.append(el("span", b.healthy ? "k-acquired" : "k-lost",
    (b.alive ? "pid " + b.pid + " · " : "") + (b.healthy ? "healthy" : (b.error || "unhealthy"))));
  box.append(row);
  if (h.host.problems && h.host.problems.length) {
    box.append(el("p", "k-lost", h.host.problems.length + " problem(s) in stored state: run `locksmith repair`"));
  }
}

function addEvent(ev) {
  const li = el("li");
  li.append(el("span", "t", new Date(ev.time).toLocaleTimeString()));
  li.append(el("span", "k-" + ev.kind, ev.kind));
  let what = ev.resource || (ev.plugin ? "plugin " + ev.plugin : "");
  if (ev.mode) what += " " + ev.mode;
  if (ev.token) what += " #" + ev.token;
  if (ev.wait_ms) what += " waited " + fmtMs(ev.wait_ms);
  if (ev.held_ms) what += " held " + fmtMs(ev.held_ms);
  if (ev.error) what += " — " + ev.error;
  li.append(el("span", "", what));
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();

  if (ev.kind === "acquired") {
    const sec = Math.floor(new Date(ev.time).getTime() / 1000);
    const b = perSecond.get(sec) || { n: 0, waits: [] };
    b.n++;
    b.waits.push(ev.wait_ms || 0);
    perSecond.set(sec, b);
  }
}

function percentile(xs, p) {
  if (!xs.length) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

function drawBars(canvas, values, color) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, w, h);
  const top = Math.max(1, ...values);
  const bw = w / values.length;
  ctx.fillStyle = color;
  values.forEach((v, i) => {
    const bh = (v / top) * (h - 14);
    ctx.fillRect(i * bw, h - bh, Math.max(1, bw - 1), bh);
  });
  ctx.fillStyle = getComputedStyle(document.body).color;
  ctx.font = "11px system-ui";
  if (values.every((v) => v === 0)) {
    ctx.fillText("no acquisitions in this window", 4, 11);
  } else {
    ctx.fillText("max " + (Math.round(top * 10) / 10), 4, 11);
  }
}

function drawCharts() {
  const now = Math.floor(Date.now() / 1000);
  const rates = [], waits = [], all = [];
  for (let s = now - WINDOW + 1; s <= now; s++) {
    const b = perSecond.get(s);
    rates.push(b ? b.n : 0);
    waits.push(b ? percentile(b.waits, 0.5) : 0);
    if (b) all.push(...b.waits);
  }
  for (const s of perSecond.keys()) if (s <= now - WINDOW) perSecond.delete(s);
  const accent = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim();
  const warn = getComputedStyle(document.documentElement).getPropertyValue("--warn").trim();
  drawBars($("c-rate"), rates, accent);
  drawBars($("c-wait"), waits, warn);
  const last10 = rates.slice(-10);
  $("s-rate").textContent = (last10.reduce((a, b) => a + b, 0) / 10).toFixed(1);
  $("s-wait").textContent = all.length ? fmtMs(percentile(all, 0.5)) + " · " + fmtMs(percentile(all, 0.99)) : "–";
}

let chartTimer = null;
function scheduleCharts() {
  if (chartTimer) return;
  chartTimer = setTimeout(() => { chartTimer = null; drawCharts(); }, 200);
}

function connect() {
  if (stream) stream.close();
  const url = "/api/v1/events?since=0" + (token ? "&access_token=" + encodeURIComponent(token) : "");
  stream = new EventSource(url);
  stream.onopen = () => { $("conn").textContent = "live"; $("conn").className = "pill on"; };
  stream.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "pill off"; };
  for (const kind of ["waiting", "acquired", "failed", "converted", "released", "lost"]) {
    stream.addEventListener(kind, (m) => {
      addEvent(JSON.parse(m.data));
      scheduleTree();
      scheduleCharts();
    });
  }
  for (const kind of ["plugin_exited", "plugin_restarted"]) {
    stream.addEventListener(kind, (m) => {
      addEvent(JSON.parse(m.data));
      refreshHealth().catch(() => {});
    });
  }
}

$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("locksmith-token", token);
  $("auth").hidden = true;
  start();
});

function start() {
  refreshTree().catch(() => {});
  refreshHealth().catch(() => {});
  connect();
}

start();
drawCharts();
setInterval(drawCharts, 1000);
setInterval(() => refreshHealth().catch(() => {}), 10000);
// Ages in the tree move on even when nothing happens.
setInterval(scheduleTree, 5000);
