// The qredge console: plain JavaScript, no build step. Everything a user
// typed reaches the page through textContent or an attribute, never as
// markup; the API key is sent once, to POST /api/v1/session, and is kept
// nowhere in the browser: the session lives in an HttpOnly cookie.

const API = "/api/v1";
let session = null; // {csrf_token, expires_at, key: {id, name, scope}}
let refreshTimer = 0;
let lastActivity = Date.now();
for (const ev of ["keydown", "pointerdown", "scroll"]) addEventListener(ev, () => { lastActivity = Date.now(); }, { passive: true });

// h builds an element: attrs are set as attributes (on* as listeners),
// children are nodes or text.
function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const main = () => document.getElementById("main");

function show(...nodes) {
  clearInterval(refreshTimer);
  const m = main();
  m.replaceChildren(...nodes);
  m.focus();
}

function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  setTimeout(() => { if (t.textContent === msg) t.textContent = ""; }, 4000);
}

class APIError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || ("HTTP " + status));
    this.status = status;
    this.problem = problem;
  }
}

// api calls the REST API with the session cookie; writes carry the CSRF
// token. It returns the decoded JSON (or the Response for raw answers).
async function api(method, path, body, opts = {}) {
  const headers = {};
  if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf_token;
  if (opts.ifMatch !== undefined) headers["If-Match"] = '"' + opts.ifMatch + '"';
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = opts.contentType || "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  let resp = await fetch(API + path, { method, headers, body: payload, credentials: "same-origin" });
  if (resp.status === 403 && method !== "GET" && !opts.retried && path !== "/session" && await refreshCSRF()) {
    return api(method, path, body, { ...opts, retried: true });
  }
  if (!resp.ok) {
    let problem = {};
    try { problem = await resp.json(); } catch (e) { problem = { detail: resp.statusText }; }
    if (resp.status === 401 && !path.startsWith("/session")) {
      session = null;
      location.hash = "#/signin";
    }
    throw new APIError(resp.status, problem);
  }
  if (opts.raw) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}

// refreshCSRF reads the session's CSRF token again (after a sign-in in
// another tab); false when the session has ended.
async function refreshCSRF() {
  try {
    const r = await fetch(API + "/session", { credentials: "same-origin" });
    if (!r.ok) return false;
    const s = await r.json();
    if (!session || s.csrf_token === session.csrf_token) return false;
    session = s;
    return true;
  } catch (e) {
    return false;
  }
}

function errorBox(err) {
  return h("div", { class: "error", role: "alert" }, err instanceof APIError ? err.message : String(err));
}

const isAdmin = () => session && session.key.scope === "admin";
const canWrite = () => session && session.key.scope !== "read";

function linkPath(code, domain) {
  return "/links/" + encodeURIComponent(code) + (domain ? "?domain=" + encodeURIComponent(domain) : "");
}

function linkHash(l) {
  return "#/links/" + encodeURIComponent(l.code) + (l.domain ? "?domain=" + encodeURIComponent(l.domain) : "");
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

// toLocalInput turns a UTC time into a datetime-local value in the
// user's time zone; fromLocalInput the reverse.
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

function fromLocalInput(v) {
  return v ? new Date(v).toISOString() : "";
}

// ---- sign-in --------------------------------------------------------------

function renderSignIn() {
  const key = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const err = h("div");
  const form = h("form", { class: "grid", onsubmit: async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    try {
      session = await api("POST", "/session", { api_key: key.value });
      key.value = "";
      updateHeader();
      location.hash = "#/links";
    } catch (e) {
      err.replaceChildren(errorBox(e));
    }
  } },
  h("div", {}, h("label", { for: "api-key" }, "API key ", h("span", { class: "hint" }, "(qk_…; a read key sees everything and changes nothing)")), key),
  h("div", {}, h("button", { type: "submit" }, "Sign in")), err);
  show(h("h1", {}, "Sign in"), form);
}

async function signOut() {
  try { await api("DELETE", "/session"); } catch (e) { /* ended already */ }
  session = null;
  updateHeader();
  location.hash = "#/signin";
}

function updateHeader() {
  const nav = document.getElementById("nav");
  nav.hidden = !session;
  document.getElementById("signout").hidden = !session;
  document.getElementById("who").textContent = session ? session.key.name + " (" + session.key.scope + ")" : "";
  for (const a of nav.querySelectorAll("[data-admin]")) a.hidden = !isAdmin();
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === location.hash.split("?")[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// ---- links ---------------------------------------------------------------

// linkFilter is the filter of the links page: tag, q (code or
// destination) and domain, as the list API takes them.
function linkFilter(params) {
  const f = new URLSearchParams();
  for (const k of ["tag", "q", "domain"]) if (params.get(k)) f.set(k, params.get(k));
  return f;
}

async function renderLinks(params) {
  const filter = linkFilter(params);
  const cursor = params.get("cursor") || "";
  const inputs = {
    q: h("input", { id: "f-q", type: "search", value: filter.get("q") || "", placeholder: "code or destination" }),
    tag: h("input", { id: "f-tag", type: "text", value: filter.get("tag") || "" }),
    domain: h("input", { id: "f-domain", type: "text", value: filter.get("domain") || "", placeholder: "- for every host" }),
  };
  const body = h("tbody");
  const pager = h("div", { class: "pager" });
  const status = h("div");
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Code"), h("th", {}, "Destination"), h("th", { class: "hide-s" }, "Status"),
      h("th", { class: "hide-s" }, "Tags"), h("th", { class: "num" }, "Scans 24 h"))), body));
  show(h("h1", {}, "Links"),
    h("form", { class: "row", role: "search", onsubmit: (ev) => {
      ev.preventDefault();
      const f = new URLSearchParams();
      for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) f.set(k, el.value.trim());
      location.hash = "#/links" + (f.size ? "?" + f : "");
    } },
    h("div", {}, h("label", { for: "f-q" }, "Search"), inputs.q),
    h("div", { class: "narrow" }, h("label", { for: "f-tag" }, "Tag"), inputs.tag),
    h("div", { class: "narrow" }, h("label", { for: "f-domain" }, "Domain"), inputs.domain),
    h("div", { class: "narrow" }, h("button", { type: "submit" }, "Apply"))),
    h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => exportCSV(filter) }, "Export CSV of this filter")),
    status, table, pager);
  let list;
  const scans = new Map();
  try {
    const q = new URLSearchParams(filter);
    q.set("limit", "50");
    if (cursor) q.set("cursor", cursor);
    list = await api("GET", "/links?" + q);
  } catch (e) {
    status.replaceChildren(errorBox(e));
    return;
  }
  try {
    const from = new Date(Date.now() - 24 * 3600e3).toISOString();
    const top = await api("GET", "/stats/top?" + new URLSearchParams({ from, granularity: "hour", limit: "1000" }));
    for (const t of top.links) scans.set(t.domain + "/" + t.code, t.total);
    if (top.links.length === 1000) {
      // More links were scanned than the top list holds: ask for the
      // others of this page one by one.
      await Promise.all(list.links.filter((l) => !scans.has((l.domain || "") + "/" + l.code)).map(async (l) => {
        const q = new URLSearchParams({ from, granularity: "hour" });
        if (l.domain) q.set("domain", l.domain);
        const st = await api("GET", "/links/" + encodeURIComponent(l.code) + "/stats?" + q);
        scans.set((l.domain || "") + "/" + l.code, st.total);
      }));
    }
  } catch (e) { /* stats off: the column shows 0 */ }
  const rows = list.links.map((l) => h("tr", {},
    h("td", {}, h("a", { href: linkHash(l) }, l.code), l.title ? h("div", {}, l.title) : null, l.domain ? h("div", { class: "hint" }, l.domain) : null),
    h("td", { class: "dest" }, l.destination, l.disabled ? h("div", { class: "hint" }, "disabled") : null),
    h("td", { class: "hide-s" }, l.status),
    h("td", { class: "hide-s tags" }, (l.tags || []).map((t) => h("span", {}, t))),
    h("td", { class: "num" }, scans.get((l.domain || "") + "/" + l.code) ?? 0)));
  body.replaceChildren(...rows);
  if (!rows.length) status.replaceChildren(h("p", {}, filter.size ? "No links match on this page." : "No links yet."));
  if (list.next_cursor) {
    const q = new URLSearchParams(filter);
    q.set("cursor", list.next_cursor);
    pager.append(h("a", { href: "#/links?" + q }, "Next page →"));
  }
}

async function exportCSV(filter) {
  const rows = [["code", "domain", "destination", "status", "tags", "disabled", "created_at"]];
  let cursor = "";
  try {
    do {
      const q = new URLSearchParams(filter);
      q.set("limit", "1000");
      if (cursor) q.set("cursor", cursor);
      const page = await api("GET", "/links?" + q);
      for (const l of page.links) rows.push([l.code, l.domain || "", l.destination, l.status, (l.tags || []).join(" "), l.disabled, l.created_at]);
      cursor = page.next_cursor || "";
    } while (cursor);
  } catch (e) {
    toast("Export failed: " + e.message);
    return;
  }
  const cell = (v) => {
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s; // no formulas when opened in a spreadsheet
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const blob = new Blob([rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n"], { type: "text/csv" });
  const a = h("a", { href: URL.createObjectURL(blob), download: "qredge-links.csv" });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- create and edit -------------------------------------------------------

// field wraps an input with its label and the slot of its errors; path is
// the API's name of the field (destination, variants[0].weight, ...).
function field(path, label, input, hint) {
  return h("div", { "data-field": path }, h("label", { for: input.id }, label, hint ? h("span", { class: "hint" }, " " + hint) : null), input,
    h("div", { class: "field-error", id: input.id + "-err" }));
}

function showFieldErrors(form, top, err) {
  for (const e of form.querySelectorAll(".field-error")) e.textContent = "";
  for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
  top.replaceChildren();
  const fes = (err.problem && err.problem.errors) || [];
  const unplaced = [];
  for (const fe of fes) {
    let path = fe.field || "";
    let slot = null;
    while (path) {
      slot = form.querySelector('[data-field="' + CSS.escape(path) + '"]');
      if (slot) break;
      path = path.replace(/(\[\d+\]|\.[^.[\]]+)$/, "");
      if (!/[.[]/.test(path) && !form.querySelector('[data-field="' + CSS.escape(path) + '"]')) break;
    }
    if (!slot && path) slot = form.querySelector('[data-field="' + CSS.escape(path) + '"]');
    if (slot) {
      const msg = slot.querySelector(":scope > .field-error");
      msg.textContent = (msg.textContent ? msg.textContent + " " : "") + (fe.field !== path ? fe.field + ": " : "") + (fe.detail || fe.message);
      const input = slot.querySelector("input, select, textarea");
      if (input) input.setAttribute("aria-invalid", "true");
    } else {
      unplaced.push((fe.field ? fe.field + ": " : "") + (fe.detail || fe.message));
    }
  }
  if (!fes.length || unplaced.length) top.replaceChildren(h("div", { class: "error", role: "alert" }, fes.length ? unplaced.join("; ") : err.message));
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
}

let uid = 0;
const nextId = (p) => p + "-" + (++uid);

function variantRow(list, v) {
  const i = list.children.length;
  const name = h("input", { id: nextId("vname"), type: "text", value: v.name || "" });
  const dest = h("input", { id: nextId("vdest"), type: "url", value: v.destination || "" });
  const weight = h("input", { id: nextId("vweight"), type: "number", min: 1, max: 10000, value: v.weight || 50, class: "weight" });
  const pct = h("span", { class: "hint pct" });
  const row = h("div", { class: "row variant", "data-field": "variants[" + i + "]" },
    h("div", { class: "narrow", "data-field": "variants[" + i + "].name" }, h("label", { for: name.id }, "Name"), name, h("div", { class: "field-error" })),
    h("div", { "data-field": "variants[" + i + "].destination" }, h("label", { for: dest.id }, "Destination"), dest, h("div", { class: "field-error" })),
    h("div", { class: "narrow", "data-field": "variants[" + i + "].weight" }, h("label", { for: weight.id }, "Weight ", pct), weight, h("div", { class: "field-error" })),
    h("div", { class: "narrow" }, h("button", { type: "button", class: "danger", onclick: () => { row.remove(); updatePercent(list); } }, "Remove")),
    h("div", { class: "field-error" }));
  weight.addEventListener("input", () => updatePercent(list));
  list.append(row);
  updatePercent(list);
}

function updatePercent(list) {
  const ws = [...list.querySelectorAll("input.weight")].map((w) => Math.max(0, Number(w.value) || 0));
  const sum = ws.reduce((a, b) => a + b, 0);
  list.querySelectorAll(".pct").forEach((p, i) => { p.textContent = sum ? "(" + Math.round(ws[i] * 1000 / sum) / 10 + "%)" : ""; });
}

const DEVICES = ["ios", "android", "desktop", "other"];

function pairsToText(obj) {
  return Object.entries(obj || {}).map(([k, v]) => k + "=" + v).join(", ");
}

function textToPairs(s) {
  const out = {};
  for (const part of s.split(",")) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf("=");
    out[i < 0 ? p : p.slice(0, i).trim()] = i < 0 ? "" : p.slice(i + 1).trim();
  }
  return Object.keys(out).length ? out : undefined;
}

const listOf = (s) => { const l = s.split(",").map((x) => x.trim()).filter(Boolean); return l.length ? l : undefined; };

function ruleRow(list, r) {
  const i = list.children.length;
  const w = r.when || {};
  const p = "rules[" + i + "]";
  const boxes = DEVICES.map((d) => {
    const id = nextId("rdev");
    return h("span", {}, h("input", { id, type: "checkbox", value: d, checked: (w.device || []).includes(d) }), " ", h("label", { for: id, class: "inline" }, d), " ");
  });
  const inputs = {
    country: h("input", { id: nextId("rcountry"), type: "text", value: (w.country || []).join(", "), placeholder: "US, CA" }),
    lang: h("input", { id: nextId("rlang"), type: "text", value: (w.lang || []).join(", "), placeholder: "en, fr" }),
    query: h("input", { id: nextId("rquery"), type: "text", value: pairsToText(w.query), placeholder: "utm_source=tv" }),
    header: h("input", { id: nextId("rheader"), type: "text", value: pairsToText(w.header) }),
    cookie: h("input", { id: nextId("rcookie"), type: "text", value: pairsToText(w.cookie) }),
    destination: h("input", { id: nextId("rdest"), type: "url", value: r.destination || "" }),
    name: h("input", { id: nextId("rname"), type: "text", value: r.name || "", placeholder: "ios" }),
  };
  const sub = (k, label) => h("div", { "data-field": p + ".when." + k }, h("label", { for: inputs[k].id }, label), inputs[k], h("div", { class: "field-error" }));
  const row = h("fieldset", { class: "rule", "data-field": p }, h("legend", {}, "Rule " + (i + 1)),
    h("div", { "data-field": p + ".when.device" }, h("span", { class: "label" }, "Device: "), boxes, h("div", { class: "field-error" })),
    h("div", { class: "row" }, sub("country", "Countries"), sub("lang", "Languages")),
    h("div", { class: "row" }, sub("query", "Query key=value"), sub("header", "Header name=value"), sub("cookie", "Cookie name=value")),
    h("div", { "data-field": p + ".destination" }, h("label", { for: inputs.destination.id }, "Then send to"), inputs.destination, h("div", { class: "field-error" })),
    h("div", { "data-field": p + ".name" }, h("label", { for: inputs.name.id }, "Name ", h("span", { class: "hint" }, "(optional: stats show it)")), inputs.name, h("div", { class: "field-error" })),
    h("button", { type: "button", class: "danger", onclick: () => row.remove() }, "Remove rule"),
    h("div", { class: "field-error" }));
  row._read = () => ({
    when: {
      device: (() => { const d = [...row.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value); return d.length ? d : undefined; })(),
      country: listOf(inputs.country.value), lang: listOf(inputs.lang.value),
      query: textToPairs(inputs.query.value), header: textToPairs(inputs.header.value), cookie: textToPairs(inputs.cookie.value),
    },
    destination: inputs.destination.value.trim(),
    name: inputs.name.value.trim() || undefined,
  });
  list.append(row);
}

// linkForm renders the form of a new link (l null) or of l.
function linkForm(l) {
  const editing = !!l;
  l = l || { status: 302 };
  const s = l.schedule || {};
  const el = {
    code: h("input", { id: "code", type: "text", value: l.code || "", disabled: editing, placeholder: "random when empty" }),
    domain: h("input", { id: "domain", type: "text", value: l.domain || "", disabled: editing }),
    destination: h("input", { id: "destination", type: "url", value: l.destination || "", required: true }),
    status: h("select", { id: "status" }, [301, 302, 307, 308].map((c) => h("option", { value: c, selected: l.status === c }, String(c)))),
    tags: h("input", { id: "tags", type: "text", value: (l.tags || []).join(", ") }),
    forward: h("input", { id: "forward_query", type: "checkbox", checked: !!l.forward_query }),
    precedence: h("select", { id: "query_precedence" }, [["destination", "the destination's value wins"], ["scan", "the scan's value wins"]]
      .map(([v, t]) => h("option", { value: v, selected: (l.query_precedence || "destination") === v }, t))),
    disabled: h("input", { id: "disabled", type: "checkbox", checked: !!l.disabled }),
    notBefore: h("input", { id: "not_before", type: "datetime-local", value: toLocalInput(s.not_before) }),
    beforeURL: h("input", { id: "before_url", type: "url", value: s.before_url || "" }),
    notAfter: h("input", { id: "not_after", type: "datetime-local", value: toLocalInput(s.not_after) }),
    afterURL: h("input", { id: "after_url", type: "url", value: s.after_url || "" }),
    title: h("input", { id: "title", type: "text", value: l.title || "", maxlength: 200 }),
    notes: h("textarea", { id: "notes", rows: 2, maxlength: 4000 }, l.notes || ""),
    password: h("input", { id: "password", type: "password", value: "", autocomplete: "new-password",
      placeholder: l.password_protected ? "protected: leave empty to keep" : "none" }),
    removePassword: h("input", { id: "remove_password", type: "checkbox" }),
    maxScans: h("input", { id: "max_scans", type: "number", min: 0, value: l.max_scans || "" }),
    limitBots: h("input", { id: "max_scans_include_bots", type: "checkbox", checked: !!l.max_scans_include_bots }),
    goneURL: h("input", { id: "gone_url", type: "url", value: l.gone_url || "" }),
  };
  const variants = h("div", { class: "variants" });
  (l.variants || []).forEach((v) => variantRow(variants, v));
  const rules = h("div", { class: "rules" });
  (l.rules || []).forEach((r) => ruleRow(rules, r));
  const top = h("div");
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const form = h("form", { class: "grid", novalidate: true },
    top,
    h("div", { class: "row" }, field("code", "Code", el.code), field("domain", "Domain", el.domain, "(empty: every host)")),
    field("destination", "Destination", el.destination),
    h("div", { class: "row" }, field("title", "Title", el.title, "(for you, not visitors)"), field("tags", "Tags", el.tags, "(comma-separated)")),
    field("notes", "Notes", el.notes),
    h("div", { class: "row" }, field("status", "Redirect status", el.status), field("password", "Password", el.password, "(visitors must enter it)")),
    l.password_protected ? h("div", { "data-field": "remove_password" }, el.removePassword, " ", h("label", { for: "remove_password", class: "inline" }, "Remove the password")) : null,
    h("div", { class: "row" }, field("max_scans", "Stop after this many scans", el.maxScans, "(empty: never)"),
      field("gone_url", "When disabled or past the limit, send to", el.goneURL)),
    h("div", { "data-field": "max_scans_include_bots" }, el.limitBots, " ", h("label", { for: "max_scans_include_bots", class: "inline" }, "Count bots toward the limit")),
    l.scan_limit_reached_at ? h("p", { class: "hint" }, "The scan limit was reached on " + new Date(l.scan_limit_reached_at).toLocaleString() + ".") : null,
    h("div", { "data-field": "forward_query" }, el.forward, " ", h("label", { for: "forward_query", class: "inline" }, "Forward the scan's query string")),
    field("query_precedence", "When both have a query key", el.precedence),
    h("div", { "data-field": "disabled" }, el.disabled, " ", h("label", { for: "disabled", class: "inline" }, "Disabled (answers 410)")),
    h("fieldset", { "data-field": "variants" }, h("legend", {}, "A/B variants"), h("p", { class: "hint" }, "Visitors are split by weight and keep their variant (a cookie)."),
      variants, h("button", { type: "button", class: "secondary", onclick: () => variantRow(variants, {}) }, "Add variant"), h("div", { class: "field-error" })),
    h("fieldset", { "data-field": "rules" }, h("legend", {}, "Rules"), h("p", { class: "hint" }, "The first rule whose conditions all hold picks the destination."),
      rules, h("button", { type: "button", class: "secondary", onclick: () => ruleRow(rules, {}) }, "Add rule"), h("div", { class: "field-error" })),
    h("fieldset", { "data-field": "schedule" }, h("legend", {}, "Schedule ", h("span", { class: "hint" }, "(times in " + tz + ", stored in UTC)")),
      h("div", { class: "row" }, field("schedule.not_before", "Not before", el.notBefore), field("schedule.before_url", "Before that, send to", el.beforeURL)),
      h("div", { class: "row" }, field("schedule.not_after", "Not after", el.notAfter), field("schedule.after_url", "After that, send to", el.afterURL)),
      h("div", { class: "field-error" })),
    h("div", {}, h("button", { type: "submit", disabled: !canWrite() }, editing ? "Save" : "Create link"),
      canWrite() ? null : h("span", { class: "hint" }, " Your key can read only.")));
  form._read = () => {
    const out = {
      destination: el.destination.value.trim(),
      status: Number(el.status.value),
      tags: listOf(el.tags.value) || [],
      forward_query: el.forward.checked,
      query_precedence: el.precedence.value,
      disabled: el.disabled.checked,
      title: el.title.value.trim(),
      notes: el.notes.value,
      max_scans: el.maxScans.value ? Number(el.maxScans.value) : 0,
      max_scans_include_bots: el.limitBots.checked,
      gone_url: el.goneURL.value.trim(),
      variants: [...variants.children].map((row) => {
        const [name, dest, weight] = row.querySelectorAll("input");
        const v = { destination: dest.value.trim(), weight: Number(weight.value) };
        if (name.value.trim()) v.name = name.value.trim();
        return v;
      }),
      rules: [...rules.children].map((row) => row._read()),
    };
    const sch = {};
    if (el.notBefore.value) sch.not_before = fromLocalInput(el.notBefore.value);
    if (el.beforeURL.value.trim()) sch.before_url = el.beforeURL.value.trim();
    if (el.notAfter.value) sch.not_after = fromLocalInput(el.notAfter.value);
    if (el.afterURL.value.trim()) sch.after_url = el.afterURL.value.trim();
    out.schedule = Object.keys(sch).length ? sch : (editing ? null : undefined);
    if (el.password.value) out.password = el.password.value;
    else if (el.removePassword.checked) out.password = null;
    if (!out.max_scans) out.max_scans_include_bots = editing ? false : undefined;
    if (!editing) {
      if (el.code.value.trim()) out.code = el.code.value.trim();
      if (el.domain.value.trim()) out.domain = el.domain.value.trim();
      if (!out.variants.length) delete out.variants;
      if (!out.rules.length) delete out.rules;
    }
    return out;
  };
  form._top = top;
  return form;
}

function renderNew() {
  const form = linkForm(null);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const l = await api("POST", "/links", form._read());
      toast("Created " + l.code);
      location.hash = linkHash(l);
    } catch (e) {
      showFieldErrors(form, form._top, e);
    }
  });
  show(h("h1", {}, "New link"), form);
}

// ---- one link: edit, QR, resolve, stats ----------------------------------

async function renderLink(code, params) {
  const domain = params.get("domain") || "";
  let l;
  try {
    l = await api("GET", linkPath(code, domain));
  } catch (e) {
    show(h("h1", {}, code), errorBox(e));
    return;
  }
  const form = linkForm(l);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      l = await api("PATCH", linkPath(code, domain), form._read(), { ifMatch: l.version });
      toast("Saved");
      form._top.replaceChildren(h("div", { class: "ok", role: "status" }, "Saved (version " + l.version + ")."));
    } catch (e) {
      if (e.status === 412) {
        form._top.replaceChildren(h("div", { class: "error", role: "alert" },
          "Someone changed this link since you opened it; your changes were not saved. ",
          h("button", { type: "button", class: "secondary", onclick: () => renderLink(code, params) }, "Reload their version")));
        form._top.querySelector("button").focus();
        return;
      }
      showFieldErrors(form, form._top, e);
    }
  });
  const del = h("button", { type: "button", class: "danger", disabled: !canWrite(), onclick: async () => {
    if (!confirm("Delete " + code + "? Scans of it will get 404.")) return;
    try {
      await api("DELETE", linkPath(code, domain));
      toast("Deleted " + code);
      location.hash = "#/links";
    } catch (e) { toast(e.message); }
  } }, "Delete link");
  show(h("h1", {}, l.code, l.domain ? h("span", { class: "hint" }, " on " + l.domain) : null),
    h("p", {}, "Short URL: ", h("a", { href: l.short_url }, l.short_url), " · QR URL: ", h("span", { class: "qr-url" }, l.qr_url)),
    qrPanel(l, domain),
    h("h2", {}, "Stats"), statsPanel(l, domain),
    h("h2", {}, "Where does this send me?"), resolvePanel(l, domain),
    h("h2", {}, "Edit"), form, h("p", {}, del));
}

function relativeLuminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

function qrPanel(l, domain) {
  const img = h("img", { alt: "QR code of " + l.qr_url, id: "qr-img" });
  const fg = h("input", { id: "qr-fg", type: "color", value: "#000000" });
  const bg = h("input", { id: "qr-bg", type: "color", value: "#ffffff" });
  const note = h("div", { class: "field-error", id: "qr-note", role: "status" });
  const png = h("a", { id: "qr-png", download: l.code + ".png" }, "Download PNG");
  const svg = h("a", { id: "qr-svg", download: l.code + ".svg" }, "Download SVG");
  const params = (format) => {
    const q = new URLSearchParams({ format, fg: fg.value.slice(1), bg: bg.value.slice(1) });
    if (format === "png") q.set("size", "1024");
    if (domain) q.set("domain", domain);
    return q;
  };
  async function update() {
    const a = relativeLuminance(fg.value), b = relativeLuminance(bg.value);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    note.textContent = "";
    try {
      const resp = await api("GET", "/links/" + encodeURIComponent(l.code) + "/qr?" + params("svg"), undefined, { raw: true });
      img.src = URL.createObjectURL(await resp.blob());
      png.href = API + "/links/" + encodeURIComponent(l.code) + "/qr?" + params("png") + "&download=1";
      svg.href = API + "/links/" + encodeURIComponent(l.code) + "/qr?" + params("svg") + "&download=1";
      if (ratio < 7) note.textContent = "Contrast " + ratio.toFixed(1) + ":1: some phones may struggle; dark on light scans best.";
    } catch (e) {
      note.textContent = e.message;
    }
  }
  fg.addEventListener("change", update);
  bg.addEventListener("change", update);
  update();
  return h("div", { class: "qr row" }, h("div", { class: "narrow" }, img),
    h("div", {}, h("div", { class: "row" }, h("div", { class: "narrow" }, h("label", { for: "qr-fg" }, "Dark"), fg),
      h("div", { class: "narrow" }, h("label", { for: "qr-bg" }, "Light"), bg)), note, h("p", {}, png, " · ", svg)));
}

const UAS = {
  ios: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
  android: "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
  desktop: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
};

function resolvePanel(l, domain) {
  const device = h("select", { id: "rs-device" }, Object.keys(UAS).map((d) => h("option", { value: d }, d)));
  const country = h("input", { id: "rs-country", type: "text", placeholder: "US" });
  const lang = h("input", { id: "rs-lang", type: "text", placeholder: "en" });
  const at = h("input", { id: "rs-at", type: "datetime-local" });
  const out = h("div", { id: "rs-out", role: "status" });
  const form = h("form", { class: "row", onsubmit: async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ ua: UAS[device.value] });
    if (country.value.trim()) q.set("country", country.value.trim());
    if (lang.value.trim()) q.set("lang", lang.value.trim());
    if (at.value) q.set("at", fromLocalInput(at.value));
    if (domain) q.set("domain", domain);
    try {
      const r = await api("GET", "/links/" + encodeURIComponent(l.code) + "/resolve?" + q);
      out.replaceChildren(h("p", {}, r.status + " → ", h("strong", {}, r.location || "(no location)"), " · reason: " + r.reason +
        (r.rule !== undefined ? " " + (r.rule + 1) : "") + (r.variant ? " " + r.variant : "")));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } },
  h("div", { class: "narrow" }, h("label", { for: "rs-device" }, "Device"), device),
  h("div", { class: "narrow" }, h("label", { for: "rs-country" }, "Country"), country),
  h("div", { class: "narrow" }, h("label", { for: "rs-lang" }, "Language"), lang),
  h("div", {}, h("label", { for: "rs-at" }, "At"), at),
  h("div", { class: "narrow" }, h("button", { type: "submit", id: "rs-go" }, "Resolve")));
  return h("div", {}, form, out);
}

const RANGES = { minute: 3600e3, hour: 48 * 3600e3, day: 30 * 86400e3 };

function statsPanel(l, domain) {
  const gran = h("select", { id: "st-gran" }, Object.keys(RANGES).map((g) => h("option", { value: g, selected: g === "hour" }, g)));
  const bots = h("input", { id: "st-bots", type: "checkbox" });
  const out = h("div", { id: "stats" });
  async function load() {
    const q = new URLSearchParams({ granularity: gran.value, from: new Date(Date.now() - RANGES[gran.value]).toISOString() });
    if (bots.checked) q.set("exclude_bots", "true");
    if (domain) q.set("domain", domain);
    if (l.created_at) q.set("created_at", l.created_at);
    try {
      out.replaceChildren(...renderStats(await api("GET", "/links/" + encodeURIComponent(l.code) + "/stats?" + q)));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  }
  gran.addEventListener("change", load);
  bots.addEventListener("change", load);
  load();
  // Refreshed while someone looks: not in a hidden tab, nor after 30
  // minutes without a key or a click (so that an abandoned page lets its
  // session end).
  setTimeout(() => {
    clearInterval(refreshTimer);
    refreshTimer = setInterval(() => { if (!document.hidden && Date.now() - lastActivity < 30 * 60e3) load(); }, 5000);
  }, 0);
  const csv = (table) => {
    const q = new URLSearchParams({ format: "csv", table, granularity: gran.value, from: new Date(Date.now() - RANGES[gran.value]).toISOString() });
    if (domain) q.set("domain", domain);
    return API + "/links/" + encodeURIComponent(l.code) + "/stats?" + q;
  };
  const series = h("a", { id: "st-csv-series", download: l.code + "-series.csv", href: "#" }, "Series as CSV");
  const breakdowns = h("a", { id: "st-csv-breakdowns", download: l.code + "-breakdowns.csv", href: "#" }, "Breakdowns as CSV");
  const links = () => { series.href = csv("series"); breakdowns.href = csv("breakdowns"); };
  gran.addEventListener("change", links);
  links();
  return h("div", {}, h("div", { class: "row" }, h("div", { class: "narrow" }, h("label", { for: "st-gran" }, "Buckets"), gran),
    h("div", {}, bots, " ", h("label", { for: "st-bots", class: "inline" }, "Leave bots out"))), h("p", {}, series, " · ", breakdowns), out);
}

function breakdownTable(title, counts) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  return h("div", { class: "card", "data-breakdown": title.toLowerCase() }, h("h3", {}, title),
    entries.length ? h("table", {}, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, v))))) : h("p", { class: "hint" }, "none yet"));
}

// stackedChart draws one bar a bucket, its parts stacked bottom up:
// parts are [field, class, label] of the series' points.
function stackedChart(series, parts, label, granularity) {
  const max = Math.max(1, ...series.map((p) => parts.reduce((a, [f]) => a + (p[f] || 0), 0)));
  const W = 600, H = 140, bw = series.length ? W / series.length : W;
  const bars = [];
  series.forEach((p, i) => {
    let y = H;
    for (const [f, cls, name] of parts) {
      const bh = (p[f] || 0) / max * (H - 10);
      if (bh <= 0) continue;
      y -= bh;
      bars.push(h("svg:rect", { class: cls, x: i * bw + 1, y, width: Math.max(1, bw - 2), height: bh },
        h("svg:title", {}, fmtTime(p.time) + ": " + p[f] + " " + name)));
    }
  });
  return h("figure", {}, h("svg:svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label + " per " + granularity }, bars),
    h("figcaption", { class: "legend" }, label + ": ", parts.map(([f, cls, name]) => h("span", {}, h("i", { class: cls }), name))));
}

function renderStats(st) {
  const series = st.series || [];
  const b = st.breakdowns || {};
  return [
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "hint" }, "Scans"), h("div", { class: "big", id: "st-total" }, st.total)),
      h("div", { class: "card" }, h("div", { class: "hint" }, "Unique visitors"), h("div", { class: "big" }, st.unique_visitors)),
      h("div", { class: "card" }, h("div", { class: "hint" }, "QR scans / clicks"), h("div", { class: "big", id: "st-source" }, (b.source?.qr || 0) + " / " + (b.source?.link || 0))),
      h("div", { class: "card" }, h("div", { class: "hint" }, "People / bots"), h("div", { class: "big" }, (b.bot?.human || 0) + " / " + (b.bot?.bot || 0)))),
    stackedChart(series, [["qr", "qr-bar", "QR scans"], ["link", "link-bar", "clicks"]], "QR scans and clicks", st.granularity),
    stackedChart(series, [["humans", "link-bar", "people"], ["bots", "bot-bar", "bots"]], "People and bots", st.granularity),
    h("div", { class: "cards" }, breakdownTable("Device", b.device), breakdownTable("Source", b.source), breakdownTable("Country", b.country),
      breakdownTable("Referrer", b.referrer), breakdownTable("Target", b.target), breakdownTable("Bot", b.bot)),
  ];
}

// ---- bulk ------------------------------------------------------------------

function renderBulk() {
  const file = h("input", { id: "bulk-file", type: "file", accept: ".csv,.jsonl,.ndjson,text/csv" });
  const atomic = h("input", { id: "bulk-atomic", type: "checkbox" });
  const progress = h("progress", { hidden: true, id: "bulk-progress", "aria-label": "Upload" });
  const out = h("div", { id: "bulk-out" });
  const form = h("form", { class: "grid", onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const f = file.files[0];
    if (!f) { out.replaceChildren(h("div", { class: "error", role: "alert" }, "Choose a file.")); return; }
    const text = await f.text();
    let body, type = "text/csv", lines = null;
    if (/\.(jsonl|ndjson)$/i.test(f.name)) {
      lines = [];
      const items = [];
      text.split("\n").forEach((line, i) => {
        if (!line.trim()) return;
        try { items.push(JSON.parse(line)); } catch (e) { items.push({ __bad: line }); }
        lines.push(i + 1);
      });
      body = JSON.stringify(items.map((x) => (x && x.__bad !== undefined ? x.__bad : x)));
      type = "application/json";
    } else {
      body = text;
    }
    progress.hidden = false;
    progress.value = 0;
    try {
      const r = await upload("/links/bulk?atomic=" + atomic.checked, body, type, (done, total) => { progress.max = total; progress.value = done; });
      out.replaceChildren(bulkReport(r, lines));
    } catch (e) {
      // An all-or-nothing upload with bad rows answers a problem that
      // lists them.
      out.replaceChildren(e.problem && e.problem.results ? bulkReport(e.problem, lines) : errorBox(e));
    } finally {
      progress.hidden = true;
    }
  } },
  field("file", "CSV or JSON-lines file", file, "(a header row for CSV; one link object a line for JSON lines; up to 10,000 links)"),
  h("div", {}, atomic, " ", h("label", { for: "bulk-atomic", class: "inline" }, "All or nothing (one bad row keeps every row out)")),
  h("div", {}, h("button", { type: "submit", disabled: !canWrite() }, "Upload")), progress);
  show(h("h1", {}, "Bulk create"), form, out);
}

// upload is api's POST with the progress of the upload (fetch has none).
function upload(path, body, contentType, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("POST", API + path);
    x.setRequestHeader("Content-Type", contentType);
    x.setRequestHeader("X-CSRF-Token", session.csrf_token);
    x.upload.onprogress = (ev) => { if (ev.lengthComputable) onProgress(ev.loaded, ev.total); };
    x.onerror = () => reject(new Error("the upload failed: network error"));
    x.onload = () => {
      let data = {};
      try { data = JSON.parse(x.responseText); } catch (e) { data = { detail: x.statusText }; }
      if (x.status >= 200 && x.status < 300) return resolve(data);
      if (x.status === 401) {
        session = null;
        location.hash = "#/signin";
      }
      reject(new APIError(x.status, data));
    };
    x.send(body);
  });
}

function bulkReport(r, lines) {
  const failed = r.results.filter((x) => x.status !== 201);
  return h("div", {}, h("div", { class: failed.length ? "error" : "ok", role: "status" },
    r.created + " created, " + r.failed + " failed" + (r.atomic && r.failed ? " (all or nothing: nothing was created)" : "") + "."),
  failed.length ? h("div", { class: "table-wrap" }, h("table", { id: "bulk-errors" }, h("thead", {}, h("tr", {}, h("th", {}, "Line"), h("th", {}, "Status"), h("th", {}, "Problem"))),
    h("tbody", {}, failed.map((x) => h("tr", {}, h("td", {}, x.line || (lines ? lines[x.index] : x.index + 1)), h("td", {}, x.status),
      h("td", {}, x.detail || x.code || "", (x.errors || []).map((fe) => h("div", { class: "hint" }, (fe.field ? fe.field + ": " : "") + (fe.detail || fe.message))))))))) : null);
}

// ---- campaigns, keys, audit ----------------------------------------------

async function renderTop(params) {
  const days = Number(params.get("days") || 7);
  const tag = params.get("tag") || "";
  const sel = h("select", { id: "top-days" }, [1, 7, 30].map((d) => h("option", { value: d, selected: d === days }, d === 1 ? "24 hours" : d + " days")));
  const tagInput = h("input", { id: "top-tag", type: "text", value: tag, placeholder: "every link" });
  const out = h("div");
  show(h("h1", {}, "Campaigns"),
    h("form", { class: "row", onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams({ days: sel.value });
      if (tagInput.value.trim()) q.set("tag", tagInput.value.trim());
      location.hash = "#/top?" + q;
    } },
    h("div", { class: "narrow" }, h("label", { for: "top-days" }, "Period"), sel),
    h("div", {}, h("label", { for: "top-tag" }, "Tag"), tagInput),
    h("div", { class: "narrow" }, h("button", { type: "submit" }, "Show"))), out);
  try {
    const q = new URLSearchParams({ from: new Date(Date.now() - days * 86400e3).toISOString(), granularity: days > 2 ? "day" : "hour", limit: "50" });
    if (tag) q.set("tag", tag);
    const t = await api("GET", "/stats/top?" + q);
    const sum = t.links.reduce((a, x) => a + x.total, 0);
    const tagCSV = tag ? h("p", {}, h("a", { id: "top-csv", download: "campaign-" + tag + ".csv",
      href: API + "/stats/tags/" + encodeURIComponent(tag) + "?" + new URLSearchParams({ format: "csv", from: q.get("from"), granularity: q.get("granularity") }) }, "The campaign's series as CSV")) : null;
    out.replaceChildren(t.links.length ? h("div", {}, h("p", { id: "top-sum" }, sum + " scans of the top " + t.links.length + " links" + (tag ? " tagged " + tag : "") + "."), tagCSV,
      h("table", { id: "top" }, h("thead", {}, h("tr", {}, h("th", {}, "Link"), h("th", { class: "num" }, "Scans"))),
        h("tbody", {}, t.links.map((x) => h("tr", {}, h("td", {}, h("a", { href: linkHash(x) }, x.code), x.deleted ? " (deleted)" : ""), h("td", { class: "num" }, x.total)))))) :
      h("p", {}, "No scans in this period."));
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

async function renderKeys() {
  const name = h("input", { id: "key-name", type: "text", required: true });
  const scope = h("select", { id: "key-scope" }, ["read", "write", "admin"].map((s) => h("option", { value: s, selected: s === "write" }, s)));
  const out = h("div");
  const list = h("tbody");
  const form = h("form", { class: "row", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const k = await api("POST", "/keys", { name: name.value, scope: scope.value });
      out.replaceChildren(h("div", { class: "ok", role: "status" }, "Key " + k.name + " created. Copy it now: it is shown once."), h("div", { class: "secret", id: "new-key" }, k.key));
      name.value = "";
      load();
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } },
  h("div", {}, h("label", { for: "key-name" }, "Name"), name), h("div", { class: "narrow" }, h("label", { for: "key-scope" }, "Scope"), scope),
  h("div", { class: "narrow" }, h("button", { type: "submit" }, "Create key")));
  async function load() {
    try {
      const r = await api("GET", "/keys");
      list.replaceChildren(...r.keys.map((k) => h("tr", {}, h("td", {}, k.name), h("td", {}, k.scope), h("td", {}, k.prefix + "…"), h("td", { class: "hide-s" }, fmtTime(k.created_at)),
        h("td", {}, h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm("Revoke " + k.name + "? Programs using it stop working.")) return;
          try { await api("DELETE", "/keys/" + encodeURIComponent(k.id)); load(); } catch (e) { toast(e.message); }
        } }, "Revoke")))));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  }
  show(h("h1", {}, "API keys"), form, out, h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Scope"), h("th", {}, "Prefix"), h("th", { class: "hide-s" }, "Created"), h("th", {}, ""))), list)));
  load();
}

async function renderAudit(params) {
  const out = h("div");
  show(h("h1", {}, "Audit log"), out);
  try {
    const q = new URLSearchParams();
    if (params.get("cursor")) q.set("cursor", params.get("cursor"));
    const r = await api("GET", "/audit?" + q);
    out.replaceChildren(h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Key"), h("th", {}, "Action"), h("th", {}, "Link"))),
      h("tbody", {}, (r.entries || []).map((e) => h("tr", {}, h("td", {}, fmtTime(e.time)), h("td", {}, e.key_name), h("td", {}, e.action), h("td", {}, e.code + (e.domain ? " on " + e.domain : ""))))))),
    r.next_cursor ? h("p", {}, h("a", { href: "#/audit?cursor=" + encodeURIComponent(r.next_cursor) }, "Older →")) : null);
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

// ---- routing -----------------------------------------------------------------

async function route() {
  const [path, query] = (location.hash.slice(1) || "/links").split("?");
  const params = new URLSearchParams(query || "");
  if (!session && path !== "/signin") {
    try {
      session = await api("GET", "/session");
    } catch (e) {
      session = null;
    }
    if (!session) {
      updateHeader();
      location.hash = "#/signin";
      return;
    }
  }
  updateHeader();
  const m = path.match(/^\/links\/([^/]+)$/);
  if (path === "/signin") renderSignIn();
  else if (m) renderLink(decodeURIComponent(m[1]), params);
  else if (path === "/new") renderNew();
  else if (path === "/bulk") renderBulk();
  else if (path === "/top") renderTop(params);
  else if (path === "/keys") renderKeys();
  else if (path === "/audit") renderAudit(params);
  else renderLinks(params);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  route();
});
