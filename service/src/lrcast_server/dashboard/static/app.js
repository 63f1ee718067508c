/* lrcast dashboard: schedules, runs and an editor, over the public /v1 API.
 *
 * Plain JavaScript, no build step. Pages are routed by the URL fragment (#/schedules,
 * #/schedules/NAME, #/runs, #/runs/ID, #/editor[/NAME]). Every DOM node is built with
 * textContent, never from HTML strings, so names and descriptions cannot inject markup.
 */
"use strict";

(function () {
  const TOKEN_KEY = "lrcast.token";
  const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
  const POINTS = 800;
  const SPARK_POINTS = 120;
  const DEFAULT_TOTAL_STEPS = 10000;
  const DEFAULT_STEPS_PER_EPOCH = 100;
  const METRICS_PAGE = 10000; // the largest `limit` of GET /v1/runs/{run}/metrics
  const METRICS_MAX = 100000; // reports fetched at most: more would only slow the page down
  const { chart, formatValue, PALETTE } = window.LrPlot;

  // -- small DOM helpers --------------------------------------------------------------------

  function h(tag, props, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }

  const enc = encodeURIComponent;
  const fmtDate = (s) => (s ? new Date(s).toLocaleString() : "–");
  const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

  /** A page's title: focusable from script (see arrive), not by Tab. */
  function heading(...kids) {
    return h("h1", { tabindex: -1 }, ...kids);
  }

  /** A table in a box of its own that scrolls sideways, so a wide table never widens the page. */
  function scrolling(table) {
    return h("div", { class: "table-wrap", role: "region", tabindex: 0,
      "aria-label": table.getAttribute("aria-label") }, table);
  }

  /** The width to draw a chart at in `box`: as wide as it is shown on a narrow screen (so its
   * 11px labels stay 11px), `wide` at most. */
  function plotWidth(box, wide) {
    const room = box.clientWidth - 22; // the figure's border and padding
    return room > 0 ? Math.max(240, Math.min(wide, room)) : wide;
  }

  function notice(kind, ...kids) {
    return h("div", { class: `notice ${kind}`, role: kind === "bad" ? "alert" : "status" }, ...kids);
  }

  function debounce(fn, ms) {
    let timer = null;
    const wrapped = (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
    wrapped.cancel = () => clearTimeout(timer);
    return wrapped;
  }

  // -- the API, with the token kept in this tab's sessionStorage ----------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.detail) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem || {};
      this.errors = (problem && problem.errors) || [];
    }
  }

  /** No answer at all: the server is down, unreachable, or the connection dropped. */
  class Unreachable extends Error {
    constructor() {
      super("the server cannot be reached");
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  let pendingToken = null;

  /** Ask for a token once, however many requests are waiting for it. */
  function askToken(reason) {
    if (pendingToken) return pendingToken;
    const dialog = document.getElementById("token-dialog");
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    document.getElementById("token-reason").textContent = reason;
    input.value = "";
    pendingToken = new Promise((resolve) => {
      const finish = (value) => {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        pendingToken = null;
        resolve(value);
      };
      const onSubmit = (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        showTokenState();
        finish(value);
      };
      const onCancel = (event) => {
        event.preventDefault();
        finish(null);
      };
      const cancel = document.getElementById("token-cancel");
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      input.focus();
    });
    return pendingToken;
  }

  async function api(method, path, body, options) {
    const opts = options || {};
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    const current = token();
    if (current) headers.Authorization = `Bearer ${current}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      // fetch rejects only when no answer came ("Failed to fetch"): never about what was sent.
      throw new Unreachable();
    }
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : null;
    if ((response.status === 401 || response.status === 403) && opts.ask !== false) {
      const detail = (data && data.detail) || "";
      const reason = response.status === 401
        ? `This server asks for a token: ${detail}`
        : `Your token's role is too low for this: ${detail}. Use a token with more rights.`;
      if (await askToken(reason)) return api(method, path, body, opts);
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return { data, headers: response.headers, status: response.status };
  }

  const get = async (path) => (await api("GET", path)).data;

  async function getAll(path, limit) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < 40; page += 1) {
      const sep = path.includes("?") ? "&" : "?";
      const url = `${path}${sep}limit=${limit || 200}${cursor === null ? "" : `&cursor=${enc(cursor)}`}`;
      const data = await get(url);
      items.push(...data.items);
      if (data.next_cursor === null || data.next_cursor === undefined) break;
      cursor = data.next_cursor;
    }
    return items;
  }

  function problemView(err) {
    if (err instanceof Unreachable) {
      return notice("bad", "The server cannot be reached. Check that lrcast-server is running, then reload the page.");
    }
    if (!(err instanceof ApiError)) return notice("bad", `Error: ${err.message || err}`);
    const box = notice("bad", h("strong", { text: `${err.status} ${err.problem.title || ""}` }),
      " ", err.problem.detail || err.message);
    if (err.errors.length > 1) {
      box.append(h("ul", {}, err.errors.map((e) =>
        h("li", {}, h("code", { text: e.path || "(document)" }), " ", e.message))));
    }
    return box;
  }

  function showTokenState() {
    const has = Boolean(token());
    document.getElementById("token-state").textContent = has ? "Token set (this tab only)" : "No token";
    document.getElementById("token-clear").hidden = !has;
  }

  // -- how far a document is worth plotting -------------------------------------------------

  const DURATION_RE = /^\s*([0-9]*\.?[0-9]+)\s*(%|ep)\s*$/;

  /** A duration in steps (SPEC.md): an integer, "5%" of total_steps or "12ep". */
  function duration(value, ctx) {
    if (typeof value === "number") return value;
    if (typeof value !== "string") return null;
    const m = DURATION_RE.exec(value);
    if (!m) return null;
    if (m[2] === "%") return ctx.total ? (ctx.total * Number(m[1])) / 100 : null;
    return ctx.epoch ? ctx.epoch * Number(m[1]) : null;
  }

  /** The step past which a curve is no longer interesting (null: cannot tell). */
  function curveEnd(c, ctx) {
    if (!c || typeof c !== "object") return null;
    const d = (v) => duration(v, ctx);
    const sum = (...xs) => (xs.some((x) => x === null || x === undefined) ? null : xs.reduce((a, b) => a + b, 0));
    const begin = c.begin === undefined ? 0 : d(c.begin);
    switch (c.type) {
      case "constant": return 0;
      case "step": return d(c.every) === null ? null : d(c.every) * 4;
      case "multistep": {
        const ms = (c.milestones || []).map(d).filter((x) => x !== null);
        return ms.length ? Math.max(...ms) * 1.25 : null;
      }
      case "piecewise": {
        const bs = (c.boundaries || []).map(d).filter((x) => x !== null);
        return bs.length ? Math.max(...bs) * 1.25 : null;
      }
      case "exponential": {
        const every = c.every === undefined ? 1 : d(c.every);
        if (every === null || begin === null || !(c.factor > 0) || c.factor === 1) return null;
        const span = c.factor < 1 ? Math.log(0.01) / Math.log(c.factor) : Math.log(100) / Math.log(c.factor);
        return begin + every * Math.min(span, 1e7);
      }
      case "inverse_time": {
        const every = c.every === undefined ? 1 : d(c.every);
        return every === null || !(c.rate > 0) ? null : (every * 99) / c.rate;
      }
      case "polynomial":
      case "linear": return sum(begin, d(c.steps));
      case "cosine": return d(c.steps) === null ? null : d(c.steps) * (c.periodic ? 2 : 1);
      case "cosine_restarts": {
        const p = d(c.period);
        if (p === null) return null;
        const n = c.cycles || 3;
        let total = 0;
        for (let i = 0; i < Math.min(n, 6); i += 1) total += p * (c.period_factor || 1) ** i;
        return total * (c.cycles ? 1.1 : 1);
      }
      case "cyclic": {
        const up = d(c.up);
        const down = c.down === undefined ? up : d(c.down);
        return up === null || down === null ? null : (up + down) * 3;
      }
      case "one_cycle": return d(c.steps);
      case "inverse_sqrt": {
        const w = c.warmup === undefined ? 0 : d(c.warmup);
        const ts = c.timescale === undefined ? (w || 10000) : d(c.timescale);
        return w === null || ts === null ? null : w + ts * 20;
      }
      case "wsd": return sum(d(c.warmup), d(c.stable), d(c.decay));
      case "interpolate": {
        const ps = (c.points || []).map((p) => (Array.isArray(p) ? d(p[0]) : null)).filter((x) => x !== null);
        return ps.length ? Math.max(...ps) : null;
      }
      case "warmup": {
        const rest = curveEnd(c.then, ctx);
        return sum(d(c.steps), rest === null ? 0 : rest);
      }
      case "sequence": {
        const bs = (c.boundaries || []).map(d);
        if (!bs.length || bs.some((x) => x === null)) return null;
        const curves = c.curves || [];
        const last = curveEnd(curves[curves.length - 1], ctx);
        return bs[bs.length - 1] + (last === null ? bs[bs.length - 1] * 0.25 : last);
      }
      case "product": {
        const ends = (c.curves || []).map((x) => curveEnd(x, ctx)).filter((x) => x !== null);
        return ends.length ? Math.max(...ends) : null;
      }
      default: return null;
    }
  }

  /** The step to plot to, when `last` is the last interesting one: 5% past it. */
  function padded(last) {
    return Math.max(10, Math.ceil(last * 1.05));
  }

  /** {last, end} of a document with the run context given: the step where its curves stop
   * changing, and the step to plot to. */
  function documentEnd(doc, context) {
    const ctx = Object.assign({ total: null, epoch: null }, context);
    let last = 0;
    const curves = (doc && doc.curves) || {};
    for (const c of Object.values(curves)) {
      const e = curveEnd(c, ctx);
      if (e !== null && Number.isFinite(e)) last = Math.max(last, e);
    }
    if (ctx.total) last = Math.max(last, ctx.total);
    if (!last) last = 1000;
    return { last, end: padded(last) };
  }

  function stride(start, stop, points) {
    return Math.max(1, Math.ceil((stop - start) / points));
  }

  function contextQuery(ctx) {
    let q = "";
    if (ctx.total) q += `&total_steps=${ctx.total}`;
    if (ctx.epoch) q += `&steps_per_epoch=${ctx.epoch}`;
    return q;
  }

  /** Run context to assume when a document uses "%" or "ep" durations and none is given. */
  function assumedContext(doc) {
    const needs = { total: false, epoch: false };
    const visit = (value) => {
      if (typeof value === "string") {
        const m = DURATION_RE.exec(value);
        if (m) needs[m[2] === "%" ? "total" : "epoch"] = true;
      } else if (value && typeof value === "object") {
        Object.values(value).forEach(visit);
      }
    };
    visit(doc && doc.curves);
    return {
      total: needs.total ? DEFAULT_TOTAL_STEPS : null,
      epoch: needs.epoch ? DEFAULT_STEPS_PER_EPOCH : null,
    };
  }

  function orderedCurves(values) {
    return Object.keys(values).sort((a, b) => (a === "lr" ? -1 : b === "lr" ? 1 : a.localeCompare(b)));
  }

  // -- routing ------------------------------------------------------------------------------

  let cleanup = [];
  let navigated = false; // the address changed: the new page's title takes the focus

  function page(section, title) {
    for (const fn of cleanup) fn();
    cleanup = [];
    document.title = title ? `${title} · lrcast` : "lrcast";
    for (const a of document.querySelectorAll(".top nav a[data-section]")) {
      if (a.dataset.section === section) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const main = document.getElementById("main");
    const view = h("div", { class: `view view-${section}` });
    main.replaceChildren(view);
    return view;
  }

  /** After a navigation, focus the new page's title (or main, if the page failed before it had
   * one): a screen reader announces the page, and Tab goes on from there. */
  function arrive(view) {
    if (!navigated || (view && !view.isConnected)) return; // a page already left keeps nothing
    navigated = false;
    const title = view && view.querySelector("h1");
    (title || document.getElementById("main")).focus();
  }

  function route() {
    const hash = location.hash.replace(/^#/, "") || "/schedules";
    const [path, query] = hash.split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    const params = new URLSearchParams(query || "");
    const [section, name] = parts;
    let done;
    if (section === "runs" && name) done = runPage(name, params);
    else if (section === "runs") done = runsPage(params);
    else if (section === "editor") done = editorPage(name || null);
    else if (section === "schedules" && name) done = schedulePage(name, params);
    else done = schedulesPage();
    Promise.resolve(done).catch((err) => {
      document.getElementById("main").append(problemView(err));
      arrive(null);
    });
  }

  function setQuery(params) {
    const base = location.hash.split("?")[0];
    const q = params.toString();
    history.replaceState(null, "", q ? `${base}?${q}` : base);
  }

  // -- schedules ----------------------------------------------------------------------------

  async function sparkline(name, cell) {
    try {
      const latest = await get(`/v1/schedules/${enc(name)}`);
      const ctx = assumedContext(latest.document);
      const { end } = documentEnd(latest.document, ctx);
      const every = stride(0, end, SPARK_POINTS);
      const range = await get(
        `/v1/schedules/${enc(name)}/lr?start=0&stop=${end}&every=${every}&version=${latest.version}${contextQuery(ctx)}`);
      const fig = chart({ compact: true, width: 180, height: 42, title: `${name} lr`,
        series: [{ label: "lr", xs: range.steps, ys: range.values.lr }] });
      fig.querySelector("svg").setAttribute("aria-label", `lr of ${name}, steps 0 to ${end}`);
      cell.replaceChildren(fig);
    } catch (err) {
      cell.replaceChildren(h("span", { class: "muted small", text: err.message || "no plot" }));
    }
  }

  async function schedulesPage() {
    const view = page("schedules", "Schedules");
    view.append(heading("Schedules"),
      h("p", { class: "muted" }, "Each schedule's latest version. ",
        h("a", { href: "#/editor", text: "Write a new one" }), "."));
    arrive(view);
    const items = await getAll("/v1/schedules");
    if (!items.length) {
      view.append(notice("", "No schedules yet. Publish one from the ",
        h("a", { href: "#/editor", text: "editor" }), "."));
      return;
    }
    const body = h("tbody");
    view.append(scrolling(h("table", { id: "schedules", "aria-label": "Schedules" },
      h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { class: "num", text: "Latest" }),
        h("th", { text: "Description" }), h("th", { text: "Updated" }), h("th", { text: "lr" }))),
      body)));
    for (const s of items) {
      const cell = h("td", { class: "spark" });
      body.append(h("tr", { "data-name": s.name },
        h("td", { class: "wrap" }, h("a", { href: `#/schedules/${enc(s.name)}`, text: s.name })),
        h("td", { class: "num", text: `v${s.latest_version}` }),
        h("td", { class: "wrap", text: s.description || "" }),
        h("td", { class: "small", text: fmtDate(s.updated) }),
        cell));
      sparkline(s.name, cell);
    }
  }

  function numberInput(label, value, attrs) {
    const input = h("input", Object.assign({ type: "number", min: 0, step: 1,
      value: value === null || value === undefined ? "" : value }, attrs || {}));
    return { label: h("label", {}, label, input), input };
  }

  function checkbox(label, checked) {
    const input = h("input", { type: "checkbox", checked });
    return { label: h("label", { class: "check" }, input, label), input };
  }

  function intOrNull(input) {
    const v = input.value.trim();
    if (v === "") return null;
    const n = Math.floor(Number(v));
    return Number.isFinite(n) && n >= 0 ? n : null;
  }

  function versionSelect(versions, selected, label) {
    const select = h("select", {}, versions.map((v) =>
      h("option", { value: v.version, selected: v.version === selected },
        `v${v.version}${v.description ? ` — ${v.description}` : ""}`)));
    return { label: h("label", {}, label, select), select };
  }

  async function schedulePage(name, params) {
    const view = page("schedules", name);
    const [latest, versions] = await Promise.all([
      get(`/v1/schedules/${enc(name)}`),
      getAll(`/v1/schedules/${enc(name)}/versions`),
    ]);
    const newest = latest.version;
    const num = (key, fallback) => (params.has(key) && params.get(key) !== "" ? Number(params.get(key)) : fallback);
    const assumed = assumedContext(latest.document);

    view.append(
      h("p", { class: "small" }, h("a", { href: "#/schedules", text: "← Schedules" })),
      heading(name, " ", h("span", { class: "badge", text: `latest v${newest}` })),
      h("p", { class: "muted", text: latest.document.description || "" }),
      h("div", { class: "actions" },
        h("a", { href: `#/editor/${enc(name)}` }, h("button", { type: "button", text: "Edit → new version" }))));
    arrive(view);

    const shown = versionSelect(versions, num("v", newest), "Version");
    const from = numberInput("From step", num("from", 0));
    const to = numberInput("To step", params.get("to") || "", { placeholder: "auto" });
    const total = numberInput("total_steps", num("total", assumed.total), { min: 1, placeholder: "none" });
    const epoch = numberInput("steps_per_epoch", num("epoch", assumed.epoch), { min: 1, placeholder: "none" });
    const log = checkbox("Log scale", params.get("log") === "1");
    const form = h("form", { class: "controls", "aria-label": "Plot range" },
      shown.label, from.label, to.label, total.label, epoch.label, log.label);
    form.addEventListener("submit", (e) => e.preventDefault());
    const charts = h("div", { class: "charts", id: "curves" });
    const note = h("p", { class: "muted small" });

    const older = versions.length > 1 ? versions[versions.length - 2].version : newest;
    const a = versionSelect(versions, num("a", older), "Version A (dashed)");
    const b = versionSelect(versions, num("b", newest), "Version B (solid)");
    const compareForm = h("form", { class: "controls", "aria-label": "Compare versions" }, a.label, b.label);
    compareForm.addEventListener("submit", (e) => e.preventDefault());
    const compare = h("div", { id: "compare" });

    const history = h("tbody");
    for (const v of [...versions].reverse()) {
      history.append(h("tr", { "data-version": v.version },
        h("td", { class: "num", text: `v${v.version}` }),
        h("td", { class: "wrap", text: v.description || "" }),
        h("td", { class: "small", text: fmtDate(v.created) }),
        h("td", { class: "small", text: v.created_by || "–" }),
        h("td", {}, h("button", { type: "button", text: "Plot",
          "aria-label": `Plot version ${v.version}`,
          onclick: () => { shown.select.value = String(v.version); redraw(); } }))));
    }
    const runsBox = h("div", { id: "schedule-runs" });

    view.append(form, note, charts,
      h("h2", { text: "Versions" }),
      scrolling(h("table", { id: "versions", "aria-label": "Version history" },
        h("thead", {}, h("tr", {}, h("th", { class: "num", text: "Version" }), h("th", { text: "Description" }),
          h("th", { text: "Published" }), h("th", { text: "By" }), h("th", {}))),
        history)),
      h("h2", { text: "Compare two versions" }), compareForm, compare,
      h("h2", { text: "Runs on this schedule" }), runsBox);

    const docs = new Map([[newest, latest.document]]);
    async function doc(v) {
      if (!docs.has(v)) docs.set(v, (await get(`/v1/schedules/${enc(name)}/versions/${v}`)).document);
      return docs.get(v);
    }

    async function range(v, start, stop, every, ctx) {
      return get(`/v1/schedules/${enc(name)}/lr?version=${v}&start=${start}&stop=${stop}&every=${every}${contextQuery(ctx)}`);
    }

    let drawing = 0;
    async function redraw() {
      const ticket = ++drawing;
      const ctx = { total: intOrNull(total.input), epoch: intOrNull(epoch.input) };
      const v = Number(shown.select.value);
      const va = Number(a.select.value);
      const vb = Number(b.select.value);
      const start = intOrNull(from.input) || 0;
      let stop = intOrNull(to.input);
      if (stop === null) {
        const ends = await Promise.all([v, va, vb].map(async (n) => documentEnd(await doc(n), ctx).end));
        stop = Math.max(...ends);
      }
      if (stop <= start) stop = start + 10;
      const every = stride(start, stop, POINTS);
      const p = new URLSearchParams();
      if (v !== newest) p.set("v", String(v));
      if (start) p.set("from", String(start));
      if (intOrNull(to.input) !== null) p.set("to", String(stop));
      if (log.input.checked) p.set("log", "1");
      if (ctx.total && ctx.total !== assumed.total) p.set("total", String(ctx.total));
      if (ctx.epoch && ctx.epoch !== assumed.epoch) p.set("epoch", String(ctx.epoch));
      if (va !== older) p.set("a", String(va));
      if (vb !== newest) p.set("b", String(vb));
      setQuery(p);
      note.textContent = `Steps ${fmtInt(start)} to ${fmtInt(stop - 1)}, every ${fmtInt(every)} step${every > 1 ? "s" : ""}`
        + (ctx.total ? `; total_steps ${fmtInt(ctx.total)}` : "")
        + (ctx.epoch ? `; steps_per_epoch ${fmtInt(ctx.epoch)}` : "")
        + ((assumed.total || assumed.epoch) ? " (this schedule uses % or ep durations: set the run context to see yours)" : "")
        + ".";
      try {
        const data = await range(v, start, stop, every, ctx);
        if (ticket !== drawing) return;
        const width = plotWidth(charts, 720);
        charts.replaceChildren(...orderedCurves(data.values).map((curve, i) => chart({
          id: `curve-${curve}`, title: `${curve} — v${v}`, yLabel: curve, log: log.input.checked, width,
          series: [{ label: `v${v}`, xs: data.steps, ys: data.values[curve], color: PALETTE[i % PALETTE.length] }],
        })));
      } catch (err) {
        if (ticket === drawing) charts.replaceChildren(problemView(err));
      }
      try {
        const [da, db] = await Promise.all([range(va, start, stop, every, ctx), range(vb, start, stop, every, ctx)]);
        if (ticket !== drawing) return;
        compare.replaceChildren(...compareCharts(da, db, va, vb, log.input.checked, plotWidth(compare, 720)));
      } catch (err) {
        if (ticket === drawing) compare.replaceChildren(problemView(err));
      }
    }

    for (const input of [shown.select, a.select, b.select, log.input]) input.addEventListener("change", redraw);
    const later = debounce(redraw, 350);
    for (const input of [from.input, to.input, total.input, epoch.input]) input.addEventListener("input", later);
    cleanup.push(later.cancel);
    await redraw();
    runsTable(name, runsBox);
  }

  function compareCharts(da, db, va, vb, log, width) {
    const names = orderedCurves(Object.assign({}, da.values, db.values));
    const out = [];
    const figures = h("div", { class: "charts" });
    for (const curve of names) {
      const ya = da.values[curve] || [];
      const yb = db.values[curve] || [];
      let first = null;
      let worst = 0;
      for (let i = 0; i < da.steps.length; i += 1) {
        const x = ya[i];
        const y = yb[i];
        const differs = x === undefined || y === undefined || x !== y;
        if (differs && first === null) first = da.steps[i];
        if (x !== undefined && y !== undefined) worst = Math.max(worst, Math.abs(x - y));
      }
      const fig = chart({
        id: `compare-${curve}`, title: `${curve}: v${va} vs v${vb}`, yLabel: curve, log, width,
        series: [
          { label: `v${va}`, xs: da.steps, ys: ya, color: "#8a94a3", dash: true, width: 2.5 },
          { label: `v${vb}`, xs: db.steps, ys: yb, color: PALETTE[0] },
        ],
        vlines: first === null ? [] : [{ x: first, label: `first differs at ${first}`, kind: "edit" }],
      });
      fig.append(h("p", { class: "small muted" }, va === vb
        ? "Same version on both sides."
        : first === null
          ? "Identical at every plotted step."
          : `First differs at step ${fmtInt(first)} (of the steps plotted); largest difference ${formatValue(worst)}.`));
      figures.append(fig);
    }
    out.push(figures);
    return out;
  }

  async function runsTable(schedule, box) {
    try {
      const runs = await getAll(`/v1/runs?schedule=${enc(schedule)}`);
      if (!runs.length) {
        box.replaceChildren(h("p", { class: "muted", text: "No live run uses this schedule." }));
        return;
      }
      box.replaceChildren(h("ul", {}, runs.map((r) => h("li", {},
        h("a", { href: `#/runs/${enc(r.id)}`, text: r.id }),
        ` — follows ${r.version === "latest" ? "latest" : `v${r.version}`}, last step seen ${fmtInt(r.last_step_seen)}`))));
    } catch (err) {
      box.replaceChildren(problemView(err));
    }
  }

  // -- runs ---------------------------------------------------------------------------------

  /** The values at one step without committing it (a one-step range is a preview). */
  async function peek(run, step) {
    return get(`/v1/runs/${enc(run)}/lr?start=${step}&stop=${step + 1}`);
  }

  async function runsPage(params) {
    const view = page("runs", "Runs");
    const archived = params.get("archived") === "1";
    const toggle = checkbox("Show archived runs", archived);
    toggle.input.addEventListener("change", () => {
      location.hash = toggle.input.checked ? "#/runs?archived=1" : "#/runs";
    });
    view.append(heading("Runs"),
      h("p", { class: "muted" }, "Current lr is the value at the last step a trainer asked about (read without committing anything)."),
      h("div", { class: "controls" }, toggle.label));
    arrive(view);
    const items = await getAll(`/v1/runs${archived ? "?archived=true" : ""}`);
    if (!items.length) {
      view.append(notice("", "No runs yet. A trainer binds one with ", h("code", { text: "PUT /v1/runs/{run}" }), "."));
      return;
    }
    const body = h("tbody");
    view.append(scrolling(h("table", { id: "runs", "aria-label": "Runs" },
      h("thead", {}, h("tr", {},
        ["Run", "Schedule", "Follows", "Version", "Last step seen", "Horizon", "Current lr", "Updated"]
          .map((t, i) => h("th", { class: i >= 3 && i <= 6 ? "num" : "", text: t })))),
      body)));
    for (const r of items) {
      const version = h("td", { class: "num", text: "…" });
      const lr = h("td", { class: "num lr", text: "…" });
      body.append(h("tr", { "data-run": r.id },
        h("td", { class: "wrap" }, h("a", { href: `#/runs/${enc(r.id)}`, text: r.id }),
          r.archived ? h("span", { class: "badge archived", text: "archived" }) : null),
        h("td", { class: "wrap" }, h("a", { href: `#/schedules/${enc(r.schedule)}`, text: r.schedule })),
        h("td", { text: r.version === "latest" ? "latest" : `v${r.version}` }),
        version,
        h("td", { class: "num", text: fmtInt(r.last_step_seen) }),
        h("td", { class: "num", text: r.horizon < 0 ? "–" : fmtInt(r.horizon) }),
        lr,
        h("td", { class: "small", text: fmtDate(r.updated) })));
      const step = r.last_step_seen === null ? 0 : r.last_step_seen;
      peek(r.id, step).then((data) => {
        const seg = data.timeline[data.timeline.length - 1];
        version.textContent = seg ? `v${seg.version}` : "–";
        lr.textContent = r.last_step_seen === null ? "–" : formatValue(data.values.lr[0]);
        if (r.last_step_seen === null) lr.title = "No trainer has asked yet";
      }, (err) => {
        version.textContent = "–";
        lr.textContent = "error";
        lr.title = err.message;
      });
    }
  }

  function segmentKey(seg) {
    return `${seg.schedule} v${seg.version}`;
  }

  async function runPage(id, params) {
    const view = page("runs", id);
    const run = await get(`/v1/runs/${enc(id)}`);
    const last = run.timeline[run.timeline.length - 1];
    // Plot past the run's own steps, and past where its current schedule stops changing.
    let until = Math.max(run.horizon + 1, (run.last_step_seen || 0) + 1, last.from_step + run.block,
      run.total_steps || 0);
    let archived = false;
    try {
      const doc = (await get(`/v1/schedules/${enc(last.schedule)}/versions/${last.version}`)).document;
      const ctx = { total: last.total_steps || run.total_steps, epoch: last.steps_per_epoch || run.steps_per_epoch };
      const curveStart = last.clock === "restart" ? last.from_step : -last.offset;
      until = Math.max(until, curveStart + documentEnd(doc, ctx).last);
    } catch (err) {
      // An archived schedule's documents are no longer served; the run's values still are.
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      archived = true;
    }
    const autoStop = padded(until);

    const meta = h("dl", { class: "meta" });
    const add = (k, v) => meta.append(h("dt", { text: k }), h("dd", {}, v));
    add("Schedule", archived && run.schedule === last.schedule
      ? [run.schedule, " ", h("span", { class: "badge archived", text: "archived" })]
      : h("a", { href: `#/schedules/${enc(run.schedule)}`, text: run.schedule }));
    add("Follows", run.version === "latest" ? "latest (switches at its next block on each new version)" : `v${run.version} (pinned)`);
    add("Scale / offset", `× ${run.scale} / + ${run.offset} steps`);
    add("Block", `${fmtInt(run.block)} steps`);
    add("Horizon", run.horizon < 0 ? "nothing committed yet" : `step ${fmtInt(run.horizon)} (committed; edits land after it)`);
    add("Last step seen", run.last_step_seen === null ? "none yet" : fmtInt(run.last_step_seen));
    if (run.total_steps) add("total_steps", fmtInt(run.total_steps));
    if (run.steps_per_epoch) add("steps_per_epoch", fmtInt(run.steps_per_epoch));
    if (Object.keys(run.groups).length) {
      add("Groups", Object.entries(run.groups).map(([g, m]) => `${g} × ${m}`).join(", "));
    }
    add("Updated", fmtDate(run.updated));

    const from = numberInput("From step", params.get("from") || 0);
    const to = numberInput("To step", params.get("to") || "", { placeholder: String(autoStop) });
    const log = checkbox("Log scale", params.get("log") === "1");
    const form = h("form", { class: "controls", "aria-label": "Plot range" }, from.label, to.label, log.label);
    form.addEventListener("submit", (e) => e.preventDefault());
    const plots = h("div", { id: "run-plots" });

    view.append(
      h("p", { class: "small" }, h("a", { href: "#/runs", text: "← Runs" })),
      heading(id, run.archived ? " " : null, run.archived ? h("span", { class: "badge archived", text: "archived" }) : null),
      meta, form, plots,
      h("h2", { text: "Timeline" }), scrolling(timelineTable(run)),
      h("h2", { text: "Metrics" }), h("div", { id: "metrics" }));
    arrive(view);
    const rangeNote = archived
      ? `${last.schedule} is archived, so the range covers the run's own steps (horizon, last step seen, block). `
      : "";

    let drawing = 0;
    async function redraw() {
      const ticket = ++drawing;
      const start = intOrNull(from.input) || 0;
      let stop = intOrNull(to.input);
      if (stop === null) stop = autoStop;
      if (stop <= start) stop = start + 10;
      const every = stride(start, stop, POINTS);
      const p = new URLSearchParams();
      if (start) p.set("from", String(start));
      if (intOrNull(to.input) !== null) p.set("to", String(stop));
      if (log.input.checked) p.set("log", "1");
      setQuery(p);
      try {
        const [data, seen] = await Promise.all([
          get(`/v1/runs/${enc(id)}/lr?start=${start}&stop=${stop}&every=${every}`),
          run.last_step_seen === null ? null : peek(id, run.last_step_seen),
        ]);
        if (ticket !== drawing) return;
        plots.replaceChildren(...runCharts(run, data, seen,
          { start, stop, every, log: log.input.checked, note: rangeNote, width: plotWidth(plots, 1120) }));
      } catch (err) {
        if (ticket === drawing) plots.replaceChildren(problemView(err));
      }
    }
    log.input.addEventListener("change", redraw);
    const later = debounce(redraw, 350);
    for (const input of [from.input, to.input]) input.addEventListener("input", later);
    cleanup.push(later.cancel);
    await redraw();
    metrics(id, document.getElementById("metrics"));
  }

  function runCharts(run, data, seen, r) {
    const steps = data.steps;
    const timeline = run.timeline;
    const colors = new Map();
    for (const seg of timeline) {
      const key = segmentKey(seg);
      if (!colors.has(key)) colors.set(key, PALETTE[colors.size % PALETTE.length]);
    }
    const series = [];
    for (let i = 0; i < timeline.length; i += 1) {
      const seg = timeline[i];
      const end = i + 1 < timeline.length ? timeline[i + 1].from_step : Infinity;
      const xs = [];
      const ys = [];
      for (let j = 0; j < steps.length; j += 1) {
        if (steps[j] >= seg.from_step && steps[j] < end) {
          xs.push(steps[j]);
          ys.push(data.values.lr[j]);
        }
      }
      if (xs.length) series.push({ label: segmentKey(seg), xs, ys, color: colors.get(segmentKey(seg)) });
    }
    const vlines = [];
    timeline.forEach((seg, i) => {
      if (i === 0) return;
      const prev = timeline[i - 1];
      const what = segmentKey(seg) !== segmentKey(prev) ? `v${seg.version}`
        : seg.reduction !== prev.reduction ? `reduction ×${formatValue(seg.reduction)}` : "edit";
      vlines.push({ x: seg.from_step, label: `${what} @ ${fmtInt(seg.from_step)}`, kind: "edit", row: 1 + (i % 2) });
    });
    if (run.horizon >= 0) vlines.push({ x: run.horizon, label: `horizon ${fmtInt(run.horizon)}`, kind: "horizon", row: 0 });
    const markers = [];
    if (seen && run.last_step_seen !== null) {
      markers.push({ x: run.last_step_seen, y: seen.values.lr[0], label: `last seen ${fmtInt(run.last_step_seen)}: ${formatValue(seen.values.lr[0])}` });
    }
    const shades = [{ from: Math.max(data.committed_until + 1, r.start), to: r.stop, label: "provisional (not committed yet)" }];
    const out = [
      h("p", { class: "muted small", text: `Steps ${fmtInt(r.start)} to ${fmtInt(r.stop - 1)}, every ${fmtInt(r.every)}. `
        + r.note
        + "Colour: schedule version. Dashed: edit boundaries and the horizon. Shaded: past the horizon, still editable." }),
      chart({ id: "run-timeline", title: "lr (scaled), by schedule version", yLabel: "lr", log: r.log, series,
        vlines, markers, shades, xmin: r.start, xmax: r.stop - 1, width: r.width, height: r.width < 600 ? 280 : 360 }),
    ];
    const width = Math.min(r.width, 720);
    const more = h("div", { class: "charts" });
    const quiet = shades.map((s) => Object.assign({}, s, { label: null }));
    const groups = Object.keys(data.groups || {});
    if (groups.length) {
      more.append(chart({ id: "run-groups", title: "Groups' lr", yLabel: "lr", log: r.log, width,
        series: groups.map((g, i) => ({ label: g, xs: steps, ys: data.groups[g], color: PALETTE[(i + 1) % PALETTE.length] })),
        vlines: vlines.filter((v) => v.kind === "horizon"), shades: quiet }));
    }
    for (const curve of orderedCurves(data.values)) {
      if (curve === "lr") continue;
      more.append(chart({ id: `run-curve-${curve}`, title: curve, yLabel: curve, log: r.log, width,
        series: [{ label: curve, xs: steps, ys: data.values[curve] }], shades: quiet }));
    }
    if (more.childElementCount) out.push(h("h2", { text: "Groups and other curves" }), more);
    return out;
  }

  /** A segment's plateau reduction: "×0.5", with its floor when it has one. */
  function reductionText(seg) {
    if (seg.reduction === undefined) return "–"; // a server from before reduce-on-plateau
    return `×${formatValue(seg.reduction)}${seg.min_lr ? ` (min_lr ${formatValue(seg.min_lr)})` : ""}`;
  }

  function timelineTable(run) {
    return h("table", { id: "timeline", "aria-label": "Timeline segments" },
      h("thead", {}, h("tr", {}, ["From step", "Schedule", "Version", "Scale", "Offset", "Reduction", "Clock", "Groups"]
        .map((t, i) => h("th", { class: i === 0 || i >= 2 && i <= 5 ? "num" : "", text: t })))),
      h("tbody", {}, run.timeline.map((s) => h("tr", {},
        h("td", { class: "num", text: fmtInt(s.from_step) }),
        h("td", { class: "wrap" }, h("a", { href: `#/schedules/${enc(s.schedule)}`, text: s.schedule })),
        h("td", { class: "num", text: `v${s.version}` }),
        h("td", { class: "num", text: String(s.scale) }),
        h("td", { class: "num", text: String(s.offset) }),
        h("td", { class: "num", text: reductionText(s) }),
        h("td", { text: s.clock }),
        h("td", { class: "small", text: Object.entries(s.groups || {}).map(([g, m]) => `${g} × ${m}`).join(", ") || "–" })))));
  }

  /** Up to METRICS_MAX of a run's metric reports, following `next_cursor` page by page:
   * {items, more} (more: the run has reports past them), or null from a server without the
   * endpoint. */
  async function metricReports(id) {
    const items = [];
    let cursor = null;
    for (;;) {
      const p = new URLSearchParams({ limit: String(Math.min(METRICS_PAGE, METRICS_MAX - items.length)) });
      if (cursor !== null) p.set("cursor", cursor);
      let page;
      try {
        page = (await api("GET", `/v1/runs/${enc(id)}/metrics?${p}`, undefined, { ask: false })).data;
      } catch (err) {
        // The run was just read, so a 404 or 405 on the first page means no such route.
        const missing = err instanceof ApiError && (err.status === 404 || err.status === 405);
        if (cursor === null && missing) return null;
        throw err;
      }
      items.push(...page.items);
      cursor = page.next_cursor === undefined ? null : page.next_cursor;
      // An empty page that still has a cursor would otherwise be asked for forever.
      if (cursor === null || !page.items.length || items.length >= METRICS_MAX) {
        return { items, more: cursor !== null };
      }
    }
  }

  /** The run's metric reports, one chart per name (a server without the endpoint: say so). */
  async function metrics(id, box) {
    let reports;
    try {
      reports = await metricReports(id);
    } catch (err) {
      box.replaceChildren(problemView(err));
      return;
    }
    if (reports === null) {
      box.replaceChildren(h("p", { class: "muted", text: "This server does not report metrics or plateau reductions yet." }));
      return;
    }
    const byName = new Map();
    for (const m of reports.items) {
      if (!byName.has(m.name)) byName.set(m.name, { xs: [], ys: [] });
      byName.get(m.name).xs.push(m.step);
      byName.get(m.name).ys.push(m.value);
    }
    if (!byName.size) {
      box.replaceChildren(h("p", { class: "muted", text: "No metrics reported for this run." }));
      return;
    }
    const n = reports.items.length;
    const names = `${byName.size} metric${byName.size === 1 ? "" : "s"}`;
    const count = reports.more
      ? notice("warn", `Showing the first ${fmtInt(n)} reports (${names}); the run has more.`)
      : h("p", { class: "muted small", text: `${fmtInt(n)} report${n === 1 ? "" : "s"} of ${names}.` });
    count.id = "metrics-count";
    const width = plotWidth(box, 720);
    box.replaceChildren(count, h("div", { class: "charts" }, [...byName].map(([name, s]) =>
      chart({ id: `metric-${name}`, title: name, yLabel: name, width, series: [{ label: name, xs: s.xs, ys: s.ys }] }))));
  }

  // -- the editor ---------------------------------------------------------------------------

  const EXAMPLE = `{
  "description": "warmup, then cosine",
  "curves": {
    "lr": {
      "type": "warmup", "steps": 500, "start": 0.0,
      "then": {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 9500}
    },
    "weight_decay": {"type": "constant", "value": 5e-5}
  }
}
`;

  /** The document in the text: {doc, format} or {error: {message, line}}. */
  function parseDocument(text) {
    const trimmed = text.trim();
    if (!trimmed) return { error: { message: "the document is empty", line: 1 } };
    if (trimmed.startsWith("{")) {
      try {
        return { doc: JSON.parse(text), format: "JSON" };
      } catch (err) {
        const m = /position (\d+)/.exec(err.message);
        const line = m ? text.slice(0, Number(m[1])).split("\n").length : null;
        const lc = /line (\d+)/.exec(err.message);
        return { error: { message: `not valid JSON: ${err.message}`, line: line || (lc ? Number(lc[1]) : null) }, format: "JSON" };
      }
    }
    if (!window.jsyaml) return { error: { message: "YAML support did not load; write JSON", line: null } };
    try {
      const doc = window.jsyaml.load(text);
      if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
        return { error: { message: "the document must be a mapping with `curves`", line: 1 }, format: "YAML" };
      }
      return { doc, format: "YAML" };
    } catch (err) {
      const line = err.mark ? err.mark.line + 1 : null;
      return { error: { message: `not valid YAML: ${err.reason || err.message}`, line }, format: "YAML" };
    }
  }

  function escapeRe(s) {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  /** The 1-based line where a dotted field path lives in the text, or null. */
  function lineOf(text, path) {
    let pos = 0;
    let found = null;
    for (const seg of path.split(".").filter(Boolean)) {
      if (/^\d+$/.test(seg)) continue;
      const re = new RegExp(`(["']?)${escapeRe(seg)}\\1\\s*:`, "g");
      re.lastIndex = pos;
      const m = re.exec(text);
      if (!m) break;
      pos = m.index + m[0].length;
      found = pos;
    }
    return found === null ? null : text.slice(0, found).split("\n").length;
  }

  function gotoLine(textarea, line) {
    const lines = textarea.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    textarea.focus();
    textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }

  async function editorPage(name) {
    const view = page("editor", name ? `Edit ${name}` : "Editor");
    view.append(heading(name ? `New version of ${name}` : "Editor"),
      h("p", { class: "muted" }, "Type or paste a schedule document in JSON or YAML. The preview follows as you type; nothing is stored until you publish."));
    arrive(view);

    const nameInput = h("input", { id: "schedule-name", type: "text", value: name || "", required: true,
      pattern: NAME_RE.source, spellcheck: "false", autocomplete: "off", placeholder: "resnet50" });
    const format = h("span", { class: "badge", id: "doc-format", text: "JSON" });
    const textarea = h("textarea", { id: "document", spellcheck: "false", "aria-describedby": "doc-keys doc-errors doc-status",
      "aria-label": "Schedule document (JSON or YAML)" });
    const keys = h("p", { class: "muted small", id: "doc-keys", text: "Tab indents; press Esc then Tab to leave the text." });
    const errors = h("div", { id: "doc-errors", "aria-live": "polite" });
    const status = h("div", { class: "status", id: "doc-status", "aria-live": "polite" });
    const from = numberInput("From step", 0);
    const to = numberInput("To step", "", { placeholder: "auto" });
    const total = numberInput("total_steps", "", { min: 1, placeholder: "none" });
    const epoch = numberInput("steps_per_epoch", "", { min: 1, placeholder: "none" });
    const log = checkbox("Log scale", false);
    const preview = h("div", { id: "preview", class: "preview" });
    const followers = h("div", { id: "followers" });
    const publishButton = h("button", { type: "button", class: "primary", id: "publish", text: "Publish as a new version" });
    const result = h("div", { id: "publish-result", "aria-live": "polite" });

    view.append(h("div", { class: "editor" },
      h("section", { "aria-label": "Document" },
        h("div", { class: "field-row" },
          h("label", { for: "schedule-name" }, "Schedule name", nameInput),
          h("span", {}, "Format: ", format)),
        textarea, keys, status, errors,
        h("div", { class: "actions" },
          h("button", { type: "button", text: "Example", onclick: () => { textarea.value = EXAMPLE; changed(); } }),
          h("button", { type: "button", text: "Load latest", onclick: () => load(nameInput.value.trim()) }),
          h("button", { type: "button", text: "Format as JSON", onclick: reformat }))),
      h("section", { "aria-label": "Preview and publish" },
        h("div", { class: "controls" }, from.label, to.label, total.label, epoch.label, log.label),
        preview,
        h("h2", { text: "Runs that would switch" }), followers,
        h("div", { class: "actions" }, publishButton), result)));

    let loaded = null;
    let ticket = 0;

    function showErrors(list, text) {
      if (!list.length) {
        errors.replaceChildren();
        textarea.setAttribute("aria-invalid", "false");
        return;
      }
      textarea.setAttribute("aria-invalid", "true");
      errors.replaceChildren(h("ul", { class: "errors", role: "alert" }, list.map((e) => {
        const line = e.line || (e.path ? lineOf(text, e.path) : null);
        return h("li", { "data-path": e.path || "" },
          e.path ? h("code", { class: "path", text: e.path }) : null, e.path ? ": " : null, e.message,
          line ? h("button", { type: "button", class: "goto", text: `line ${line}`,
            "aria-label": `Go to line ${line}`, onclick: () => gotoLine(textarea, line) }) : null);
      })));
    }

    /** Check and preview the text: {doc} when the server takes it, {problem} saying why not
     * otherwise, null when a newer evaluation took over. */
    async function evaluate() {
      const mine = ++ticket;
      const text = textarea.value;
      const parsed = parseDocument(text);
      if (parsed.format) format.textContent = parsed.format;
      if (parsed.error) {
        showErrors([{ path: "", message: parsed.error.message, line: parsed.error.line }], text);
        preview.classList.add("stale");
        status.textContent = "Preview paused: fix the document.";
        return { problem: "Fix the document before publishing." };
      }
      // "%" and "ep" durations preview against the run context typed above, or an assumed one.
      const given = { total: intOrNull(total.input), epoch: intOrNull(epoch.input) };
      const assumed = assumedContext(parsed.doc);
      const ctx = { total: given.total || assumed.total, epoch: given.epoch || assumed.epoch };
      const guesses = [];
      if (ctx.total !== given.total) guesses.push(`total_steps ${fmtInt(ctx.total)}`);
      if (ctx.epoch !== given.epoch) guesses.push(`steps_per_epoch ${fmtInt(ctx.epoch)}`);
      const info = documentEnd(parsed.doc, ctx);
      const start = intOrNull(from.input) || 0;
      let stop = intOrNull(to.input);
      if (stop === null) stop = Math.max(info.end, start + 10);
      if (stop <= start) stop = start + 10;
      const every = stride(start, stop, POINTS);
      const body = { document: parsed.doc, start, stop, every };
      if (ctx.total) body.total_steps = ctx.total;
      if (ctx.epoch) body.steps_per_epoch = ctx.epoch;
      status.textContent = "Evaluating…";
      try {
        const { data } = await api("POST", "/v1/evaluate", body);
        if (mine !== ticket) return null;
        showErrors([], text);
        preview.classList.remove("stale");
        status.textContent = `Valid ${parsed.format}. Steps ${fmtInt(start)} to ${fmtInt(stop - 1)}, every ${fmtInt(every)}`
          + (guesses.length ? `, assuming ${guesses.join(" and ")} (type your run's above).` : ".");
        const width = plotWidth(preview, 720);
        preview.replaceChildren(h("div", { class: "charts" }, orderedCurves(data.values).map((curve, i) => chart({
          id: `preview-${curve}`, title: `${curve} (preview)`, yLabel: curve, log: log.input.checked, width,
          series: [{ label: curve, xs: data.steps, ys: data.values[curve], color: PALETTE[i % PALETTE.length] }],
        }))));
        return { doc: parsed.doc };
      } catch (err) {
        if (mine !== ticket) return null;
        preview.classList.add("stale");
        if (err instanceof ApiError && err.status === 422) {
          const list = err.errors.length ? err.errors : [{ path: "", message: err.message }];
          const inDoc = list.map((e) => ({ path: (e.path || "").replace(/^document\.?/, ""), message: e.message }));
          showErrors(inDoc, text);
          status.textContent = "Invalid document: the preview shows the last valid one.";
          return { problem: "Fix the document before publishing." };
        }
        // The server did not judge the document: say what happened, blame nothing in it.
        showErrors([], text);
        if (err instanceof Unreachable) {
          status.textContent = "The server cannot be reached: the preview is paused until it answers.";
          return { problem: "The server cannot be reached: nothing was published." };
        }
        status.textContent = `The preview failed: ${err.message}.`;
        return { problem: `The preview failed (${err.message}): nothing was published.` };
      }
    }

    const later = debounce(evaluate, 300);
    cleanup.push(later.cancel);
    function changed() {
      status.textContent = "Typing…";
      later();
    }
    textarea.addEventListener("input", changed);
    // Tab indents; Esc then Tab leaves (Shift+Tab always does), so the keyboard is never trapped.
    let leaving = false;
    textarea.addEventListener("keydown", (event) => {
      const plainTab = event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey;
      if (plainTab && !leaving) {
        event.preventDefault();
        textarea.setRangeText("  ", textarea.selectionStart, textarea.selectionEnd, "end");
        changed();
      }
      leaving = event.key === "Escape";
    });
    textarea.addEventListener("blur", () => { leaving = false; });
    for (const input of [from.input, to.input, total.input, epoch.input]) input.addEventListener("input", later);
    log.input.addEventListener("change", evaluate);

    function reformat() {
      const parsed = parseDocument(textarea.value);
      if (parsed.doc) {
        textarea.value = `${JSON.stringify(parsed.doc, null, 2)}\n`;
        changed();
      }
    }

    async function load(target) {
      if (!NAME_RE.test(target)) {
        result.replaceChildren(notice("bad", "Type a schedule name first."));
        return;
      }
      try {
        const { data, headers } = await api("GET", `/v1/schedules/${enc(target)}`);
        loaded = { name: target, version: data.version, etag: headers.get("ETag") };
        textarea.value = `${JSON.stringify(data.document, null, 2)}\n`;
        result.replaceChildren(notice("", `Loaded v${data.version} of ${target}. Publishing makes v${data.version + 1}.`));
        await evaluate();
      } catch (err) {
        result.replaceChildren(problemView(err));
      }
    }

    /** Each live run following the schedule, with the step a new version would reach it. */
    async function showFollowers() {
      const target = nameInput.value.trim();
      if (!NAME_RE.test(target)) {
        followers.replaceChildren(h("p", { class: "muted", text: "Type a valid schedule name (lowercase letters, digits, . _ -)." }));
        return [];
      }
      let runs;
      try {
        runs = await getAll(`/v1/runs?schedule=${enc(target)}`);
      } catch (err) {
        followers.replaceChildren(problemView(err));
        return [];
      }
      if (target !== nameInput.value.trim()) return [];
      if (!runs.length) {
        followers.replaceChildren(h("p", { class: "muted", text: `No live run uses ${target}: publishing changes no run.` }));
        return [];
      }
      const rows = await Promise.all(runs.map(async (r) => {
        if (r.version !== "latest") return { run: r, pinned: true };
        const full = await get(`/v1/runs/${enc(r.id)}`);
        const effective = Math.ceil(Math.max(full.horizon + 1, 0) / full.block) * full.block;
        return { run: r, full, effective };
      }));
      followers.replaceChildren(
        scrolling(h("table", { "aria-label": "Runs following this schedule" },
          h("thead", {}, h("tr", {}, ["Run", "Follows", "Horizon", "Block", "Last step seen", "Would take effect at"]
            .map((t, i) => h("th", { class: i >= 2 ? "num" : "", text: t })))),
          h("tbody", {}, rows.map((row) => h("tr", { "data-run": row.run.id },
            h("td", { class: "wrap" }, h("a", { href: `#/runs/${enc(row.run.id)}`, text: row.run.id })),
            h("td", { text: row.pinned ? `v${row.run.version} (pinned)` : "latest" }),
            h("td", { class: "num", text: row.full ? (row.full.horizon < 0 ? "–" : fmtInt(row.full.horizon)) : "–" }),
            h("td", { class: "num", text: row.full ? fmtInt(row.full.block) : "–" }),
            h("td", { class: "num", text: fmtInt(row.run.last_step_seen) }),
            h("td", { class: "num effective", text: row.pinned ? "not affected" : `step ${fmtInt(row.effective)}` })))))),
        h("p", { class: "muted small", text: "The first block boundary past each run's horizon, as of now: trainers keep "
          + "moving the horizon, so the publish answer below gives the final steps." }));
      return rows;
    }
    const laterFollowers = debounce(showFollowers, 400);
    cleanup.push(laterFollowers.cancel);
    nameInput.addEventListener("input", laterFollowers);

    publishButton.addEventListener("click", async () => {
      const target = nameInput.value.trim();
      if (!NAME_RE.test(target)) {
        nameInput.focus();
        result.replaceChildren(notice("bad", "The schedule name must match [a-z0-9][a-z0-9._-]*."));
        return;
      }
      later.cancel();
      const checked = await evaluate();
      if (!checked || !checked.doc) {
        result.replaceChildren(notice("bad", (checked && checked.problem) || "Fix the document before publishing."));
        return;
      }
      const doc = checked.doc;
      publishButton.disabled = true;
      result.replaceChildren(notice("", "Publishing…"));
      try {
        await showFollowers();
        const headers = loaded && loaded.name === target && loaded.etag ? { "If-Match": loaded.etag } : {};
        const res = await api("PUT", `/v1/schedules/${enc(target)}`, doc, { headers });
        const out = res.data;
        loaded = { name: target, version: out.version, etag: res.headers.get("ETag") };
        const link = h("a", { href: `#/schedules/${enc(target)}`, text: `${target} v${out.version}` });
        const box = out.published
          ? notice("good", "Published ", link, ".")
          : notice("warn", "Same document as the latest version, ", link, ": nothing changed.");
        if (out.runs && out.runs.length) {
          box.append(h("ul", {}, out.runs.map((s) => h("li", {},
            h("a", { href: `#/runs/${enc(s.run)}`, text: s.run }), ` switches at step ${fmtInt(s.effective_step)}`))));
        }
        result.replaceChildren(box);
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) {
          result.replaceChildren(notice("bad", `A newer version of ${target} was published since you loaded v${loaded.version}. `,
            h("button", { type: "button", text: "Load latest", onclick: () => load(target) }), " and apply your change again."));
        } else if (err instanceof ApiError && err.status === 422) {
          showErrors(err.errors.map((e) => ({ path: e.path, message: e.message })), textarea.value);
          result.replaceChildren(problemView(err));
        } else {
          result.replaceChildren(problemView(err));
        }
      } finally {
        publishButton.disabled = false;
      }
    });

    if (name) await load(name);
    else {
      textarea.value = EXAMPLE;
      await evaluate();
    }
    showFollowers();
  }

  // -- start --------------------------------------------------------------------------------

  document.getElementById("token-set").addEventListener("click", () => {
    askToken("Set a token for this tab (a read token to view a protected server, write to publish).")
      .then((t) => { if (t) route(); });
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
  });
  // The skip link's "#main" would be read as a route: move the focus, keep the page.
  document.querySelector("a.skip").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  window.addEventListener("hashchange", () => {
    navigated = true;
    route();
  });
  showTokenState();
  route();
})();
