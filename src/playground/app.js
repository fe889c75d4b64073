// The playground page: every edit runs the route through /playground/api/transform and
// /playground/api/check and shows what comes back. No framework, no network but its own API.
"use strict";

const $ = (id) => document.getElementById(id);
let routes = [];
let timer = null;
let checkTimer = null;
let sequence = 0;

function current() {
  return routes.find((r) => r.name === $("route").value);
}

function direction() {
  return document.querySelector('input[name="direction"]:checked').value;
}

async function api(path, body) {
  const resp = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await resp.json();
  if (!resp.ok) throw new Error(json.error || resp.statusText);
  return json;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

// The line backdrop behind the document: one row per line, error lines marked.
function paintLines(errorLines) {
  const text = $("document").value;
  const count = text.split("\n").length;
  const box = $("doc-lines");
  box.replaceChildren();
  for (let i = 1; i <= count; i++) {
    const row = el("div", { class: errorLines.has(i) ? "line err" : "line", "data-line": String(i) });
    row.textContent = "\u200b";
    box.append(row);
  }
  box.scrollTop = $("document").scrollTop;
}

function showErrors(out) {
  const list = $("errors");
  list.replaceChildren();
  const lines = new Set();
  const p = out.problem;
  if (p) {
    const head = el("li", { class: "problem" });
    head.textContent = `${p.status} ${p.title}: ${p.detail}`;
    if (p.cause) head.append(el("div", { class: "cause" }, `cause: ${p.cause}`));
    list.append(head);
    for (const e of p.errors) {
      const item = el("li", { class: "field-error" });
      if (e.line) {
        lines.add(e.line);
        item.setAttribute("data-line", String(e.line));
        item.addEventListener("click", () => goToLine(e.line));
        item.append(el("span", { class: "where" }, `line ${e.line}, column ${e.column}: `));
      }
      item.append(el("code", { class: "pointer" }, e.pointer || "/"), " ", e.message);
      list.append(item);
    }
  }
  for (const d of out.diagnostics || []) {
    const item = el("li", { class: "diagnostic" });
    item.textContent = `${d.severity}: ${d.location ? d.location + ": " : ""}${d.message}${d.line ? ` (route file line ${d.line})` : ""}`;
    list.append(item);
  }
  if (out.ok) list.append(el("li", { class: "none" }, "no errors"));
  paintLines(lines);
}

// Scrolls the document to a line and puts the cursor at its start.
function goToLine(line) {
  const doc = $("document");
  const lines = doc.value.split("\n");
  const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  doc.focus();
  doc.setSelectionRange(offset, offset);
  doc.scrollTop = Math.max(0, (line - 3) * 20);
}

async function run() {
  const route = current();
  if (!route) return;
  const body = { route: route.name, direction: direction(), document: $("document").value };
  if (direction() === "response" && $("original").value.trim()) body.request = $("original").value;
  if ($("use-edited").checked) body.route_file = $("route-file").value;
  const mine = ++sequence;
  $("status").textContent = "running…";
  try {
    const out = await api("/playground/api/transform", body);
    if (mine !== sequence) return;
    $("output").textContent = out.output || "";
    $("decoded").textContent = out.decoded === null ? "" : JSON.stringify(out.decoded, null, 2);
    showErrors(out);
    $("status").textContent = out.ok ? "mapped" : "not mapped";
  } catch (e) {
    if (mine !== sequence) return;
    $("output").textContent = "";
    $("errors").replaceChildren(el("li", { class: "refused" }, e.message));
    paintLines(new Set());
    $("status").textContent = "refused";
  }
}

async function check() {
  const route = current();
  if (!route) return;
  const body = { route: route.name };
  if ($("use-edited").checked) body.route_file = $("route-file").value;
  try {
    const out = await api("/playground/api/check", body);
    const diags = $("diagnostics");
    diags.replaceChildren();
    for (const d of out.diagnostics) {
      diags.append(el("li", {}, `${d.severity}: ${d.line ? "line " + d.line + ": " : ""}${d.location ? d.location + ": " : ""}${d.message}`));
    }
    const list = $("fixtures");
    list.replaceChildren();
    for (const f of out.fixtures) {
      const item = el("li", { class: f.passed ? "pass" : "fail", "data-case": f.case }, f.case);
      if (f.message) item.append(el("span", { class: "message" }, f.message));
      list.append(item);
    }
    if (!out.fixtures.length) list.append(el("li", {}, out.diagnostics.length ? "the route file does not compile" : "no golden cases"));
  } catch (e) {
    $("fixtures").replaceChildren(el("li", { class: "fail" }, e.message));
  }
}

function soon() {
  clearTimeout(timer);
  timer = setTimeout(run, 150);
}

function checkSoon() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 300);
}

function pickRoute() {
  const route = current();
  if (!route) return;
  $("route-info").textContent = `${route.method} ${route.path} (${route.format})`;
  $("route-file-name").textContent = route.file;
  $("route-file").value = route.source;
  for (const input of document.querySelectorAll('input[name="direction"]')) {
    input.disabled = !route[input.value];
  }
  if (!route[direction()]) {
    const other = direction() === "request" ? "response" : "request";
    document.querySelector(`input[name="direction"][value="${other}"]`).checked = true;
  }
  directionChanged();
  check();
}

function directionChanged() {
  const response = direction() === "response";
  $("original-pane").hidden = !response;
  $("doc-title").textContent = response ? "Upstream answer (internal JSON)" : "Partner document";
  soon();
}

async function start() {
  try {
    routes = (await api("/playground/api/routes")).routes;
  } catch (e) {
    $("status").textContent = `cannot list routes: ${e.message}`;
    return;
  }
  for (const r of routes) $("route").append(el("option", { value: r.name }, r.name));
  $("route").addEventListener("change", pickRoute);
  for (const input of document.querySelectorAll('input[name="direction"]')) {
    input.addEventListener("change", directionChanged);
  }
  $("document").addEventListener("input", soon);
  $("document").addEventListener("scroll", () => {
    $("doc-lines").scrollTop = $("document").scrollTop;
    $("doc-lines").scrollLeft = $("document").scrollLeft;
  });
  $("original").addEventListener("input", soon);
  $("route-file").addEventListener("input", () => { if ($("use-edited").checked) { soon(); checkSoon(); } });
  $("use-edited").addEventListener("change", () => { soon(); check(); });
  $("upload").addEventListener("change", async () => {
    const file = $("upload").files[0];
    if (file) { $("document").value = await file.text(); run(); }
  });
  paintLines(new Set());
  pickRoute();
  document.body.setAttribute("data-ready", "true");
}

document.addEventListener("DOMContentLoaded", start);
