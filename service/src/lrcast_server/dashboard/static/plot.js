/* lrcast plots: small, dependency-free SVG line charts.
 *
 * LrPlot.chart(options) returns a <figure> holding a caption, a legend and an <svg>. Every
 * series is one <path class="series"> whose data-points attribute counts the points drawn, so
 * tests (and people) can check what is on screen. Values that are null, non-finite, or not
 * positive on a log scale break the line instead of being invented.
 */
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f5fbf", "#d1495b", "#2a9d8f", "#e9a100", "#7b4fbf", "#3d3d3d",
    "#e76f51", "#2b7a0b", "#b5179e", "#0f8ba1"];

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** A short, readable number: 0.1, 2.5e-5, 1.2k (steps). */
  function formatValue(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "–";
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a < 1e-3 || a >= 1e6) return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
    return String(Number(v.toPrecision(4)));
  }

  function formatStep(x) {
    const a = Math.abs(x);
    if (a >= 1e6) return `${Number((x / 1e6).toPrecision(3))}M`;
    if (a >= 1e4) return `${Number((x / 1e3).toPrecision(3))}k`;
    return String(Math.round(x));
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = 10 ** Math.floor(Math.log10(raw));
    const f = raw / mag;
    return (f >= 7.5 ? 10 : f >= 3.5 ? 5 : f >= 1.5 ? 2 : 1) * mag;
  }

  function linearTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const step = niceStep(hi - lo, count);
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
    }
    return ticks;
  }

  function logTicks(lo, hi) {
    const ticks = [];
    const a = Math.floor(Math.log10(lo));
    const b = Math.ceil(Math.log10(hi));
    const stride = Math.max(1, Math.ceil((b - a) / 6));
    for (let e = a; e <= b; e += stride) {
      const t = 10 ** e;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
    }
    if (ticks.length < 2) return [lo, hi];
    return ticks;
  }

  function usable(y, log) {
    return y !== null && y !== undefined && Number.isFinite(y) && (!log || y > 0);
  }

  /** The y domain of every series (log: positive values only). */
  function yDomain(series, log, extra) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series) {
      for (const y of s.ys) {
        if (!usable(y, log)) continue;
        if (y < lo) lo = y;
        if (y > hi) hi = y;
      }
    }
    for (const y of extra) {
      if (!usable(y, log)) continue;
      lo = Math.min(lo, y);
      hi = Math.max(hi, y);
    }
    if (lo === Infinity) return null;
    if (log) {
      if (hi / lo < 10) {
        const a = 10 ** Math.floor(Math.log10(lo));
        const b = 10 ** Math.ceil(Math.log10(hi));
        return [a, b > a ? b : a * 10];
      }
      return [lo, hi];
    }
    lo = Math.min(0, lo);
    if (hi === lo) hi = lo === 0 ? 1 : lo + Math.abs(lo);
    return [lo, hi + (hi - lo) * 0.04];
  }

  function bisect(xs, x) {
    let lo = 0;
    let hi = xs.length - 1;
    if (hi < 0) return -1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] <= x) lo = mid;
      else hi = mid;
    }
    return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
  }

  /**
   * options: {title, series: [{label, xs, ys, color?, dash?, width?, legend?}], log, xmin, xmax,
   *   vlines: [{x, label, kind}], markers: [{x, y, label}], shades: [{from, to, label}],
   *   width, height, compact, yLabel, id}
   */
  function chart(options) {
    const o = Object.assign({ width: 720, height: 260, log: false, series: [], vlines: [],
      markers: [], shades: [], compact: false }, options);
    const compact = o.compact;
    const series = o.series.map((s, i) => Object.assign(
      { color: PALETTE[i % PALETTE.length], width: compact ? 1.5 : 2 }, s));
    const figure = html("figure", compact ? "chart spark" : "chart");
    if (o.id) figure.id = o.id;
    if (!compact) {
      const caption = html("figcaption");
      caption.appendChild(html("span", "", o.title || ""));
      const legend = html("ul", "legend");
      const seen = new Set();
      for (const s of series) {
        if (s.legend === false || !s.label || seen.has(s.label)) continue;
        seen.add(s.label);
        const item = html("li");
        const swatch = html("span", s.dash ? "swatch dash" : "swatch");
        if (s.dash) swatch.style.borderTopColor = s.color;
        else swatch.style.background = s.color;
        item.append(swatch, document.createTextNode(s.label));
        legend.appendChild(item);
      }
      caption.appendChild(legend);
      figure.appendChild(caption);
    }

    const W = o.width;
    const H = o.height;
    const m = compact ? { l: 2, r: 2, t: 3, b: 3 } : { l: 62, r: 18, t: 22, b: 34 };
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": o.title || "chart", "data-log": o.log ? "1" : "0" }, figure);
    el("title", {}, svg).textContent = o.title || "chart";

    let xmin = o.xmin;
    let xmax = o.xmax;
    for (const s of series) {
      if (!s.xs.length) continue;
      if (o.xmin === undefined) xmin = xmin === undefined ? s.xs[0] : Math.min(xmin, s.xs[0]);
      if (o.xmax === undefined) {
        const last = s.xs[s.xs.length - 1];
        xmax = xmax === undefined ? last : Math.max(xmax, last);
      }
    }
    const yd = yDomain(series, o.log, o.markers.map((p) => p.y));
    if (xmin === undefined || xmax === undefined || yd === null) {
      el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, svg)
        .textContent = o.empty || (o.log ? "nothing positive to draw on a log scale" : "no data");
      svg.setAttribute("data-series", "0");
      return figure;
    }
    if (xmax === xmin) xmax = xmin + 1;
    const [ylo, yhi] = yd;
    const pw = W - m.l - m.r;
    const ph = H - m.t - m.b;
    const sx = (x) => m.l + ((x - xmin) / (xmax - xmin)) * pw;
    const sy = o.log
      ? (y) => m.t + ph - ((Math.log10(y) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo))) * ph
      : (y) => m.t + ph - ((y - ylo) / (yhi - ylo)) * ph;

    for (const sh of o.shades) {
      const a = Math.max(xmin, sh.from);
      const b = Math.min(xmax, sh.to);
      if (b <= a) continue;
      el("rect", { class: "shade", x: sx(a), y: m.t, width: sx(b) - sx(a), height: ph }, svg);
      if (sh.label && !compact) {
        el("text", { class: "shade-label", x: sx(b) - 4, y: m.t + 11, "text-anchor": "end" }, svg)
          .textContent = sh.label;
      }
    }

    if (!compact) {
      const axis = el("g", { class: "axis" }, svg);
      const yt = o.log ? logTicks(ylo, yhi) : linearTicks(ylo, yhi, 5);
      for (const t of yt) {
        const y = sy(t);
        el("line", { x1: m.l, x2: W - m.r, y1: y, y2: y }, axis);
        el("text", { x: m.l - 6, y: y + 4, "text-anchor": "end" }, axis).textContent = formatValue(t);
      }
      for (const t of linearTicks(xmin, xmax, 7)) {
        const x = sx(t);
        el("line", { x1: x, x2: x, y1: m.t + ph, y2: m.t + ph + 4 }, axis);
        el("text", { x, y: m.t + ph + 16, "text-anchor": "middle" }, axis).textContent = formatStep(t);
      }
      el("line", { class: "domain", x1: m.l, x2: W - m.r, y1: m.t + ph, y2: m.t + ph }, axis);
      el("line", { class: "domain", x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph }, axis);
      el("text", { class: "axis-label", x: W - m.r, y: H - 4, "text-anchor": "end" }, svg)
        .textContent = o.xLabel || "step";
      if (o.yLabel) {
        el("text", { class: "axis-label", x: m.l + 4, y: m.t - 8 }, svg).textContent =
          o.yLabel + (o.log ? " (log)" : "");
      }
    }

    const clip = `clip-${Math.random().toString(36).slice(2)}`;
    const defs = el("defs", {}, svg);
    const cp = el("clipPath", { id: clip }, defs);
    el("rect", { x: m.l - 3, y: m.t - 3, width: pw + 6, height: ph + 6 }, cp);
    const plot = el("g", { "clip-path": `url(#${clip})` }, svg);

    let drawn = 0;
    for (const s of series) {
      let d = "";
      let pen = false;
      let count = 0;
      for (let i = 0; i < s.xs.length; i += 1) {
        const x = s.xs[i];
        const y = s.ys[i];
        if (!usable(y, o.log) || x < xmin || x > xmax) {
          pen = false;
          continue;
        }
        d += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
        pen = true;
        count += 1;
      }
      if (!count) continue;
      drawn += 1;
      el("path", { class: "series", d, stroke: s.color, "stroke-width": s.width,
        "stroke-dasharray": s.dash ? "6 4" : null, "data-label": s.label || "",
        "data-points": count }, plot);
    }
    svg.setAttribute("data-series", String(drawn));

    if (!compact) {
      for (const v of o.vlines) {
        if (v.x < xmin || v.x > xmax) continue;
        const g = el("g", { class: `vline ${v.kind || ""}`, "data-x": v.x }, svg);
        const x = sx(v.x);
        el("line", { x1: x, x2: x, y1: m.t, y2: m.t + ph }, g);
        if (v.label) {
          const right = x > m.l + pw * 0.8;
          el("text", { x: right ? x - 3 : x + 3, y: m.t + ph - 4 - (v.row || 0) * 12,
            "text-anchor": right ? "end" : "start" }, g).textContent = v.label;
        }
      }
      for (const p of o.markers) {
        if (!usable(p.y, o.log) || p.x < xmin || p.x > xmax) continue;
        const g = el("g", { class: "mark", "data-x": p.x }, svg);
        el("circle", { class: "marker", cx: sx(p.x), cy: sy(p.y), r: 4.5 }, g);
        if (p.label) {
          const right = sx(p.x) > m.l + pw * 0.75;
          el("text", { class: "marker-label", x: sx(p.x) + (right ? -8 : 8), y: sy(p.y) - 8,
            "text-anchor": right ? "end" : "start" }, g).textContent = p.label;
        }
      }
      hover(svg, series, { sx, m, pw, ph, W, xmin, xmax, log: o.log });
    }
    return figure;
  }

  /** A guide line and the values of every series at the nearest sampled step. */
  function hover(svg, series, g) {
    const layer = el("g", { class: "hover", visibility: "hidden" }, svg);
    const guide = el("line", { y1: g.m.t, y2: g.m.t + g.ph }, layer);
    const box = el("rect", { rx: 3 }, layer);
    const lines = [];
    const area = el("rect", { x: g.m.l, y: g.m.t, width: g.pw, height: g.ph, fill: "transparent" }, svg);
    area.addEventListener("pointerleave", () => layer.setAttribute("visibility", "hidden"));
    area.addEventListener("pointermove", (event) => {
      const ctm = svg.getScreenCTM();
      if (!ctm) return;
      const px = (event.clientX - ctm.e) / ctm.a;
      const x = g.xmin + ((px - g.m.l) / g.pw) * (g.xmax - g.xmin);
      const rows = [];
      let at = null;
      for (const s of series) {
        const i = bisect(s.xs, x);
        if (i < 0 || !usable(s.ys[i], g.log)) continue;
        if (Math.abs(s.xs[i] - x) > (g.xmax - g.xmin) / 40) continue;
        if (at === null) at = s.xs[i];
        if (s.legend === false && rows.some((r) => r.label === s.label)) continue;
        rows.push({ label: s.label || "", value: s.ys[i], color: s.color });
      }
      if (at === null) {
        layer.setAttribute("visibility", "hidden");
        return;
      }
      const gx = g.sx(at);
      guide.setAttribute("x1", gx);
      guide.setAttribute("x2", gx);
      const text = [`step ${at}`, ...rows.slice(0, 8).map((r) => `${r.label}: ${formatValue(r.value)}`)];
      while (lines.length < text.length) lines.push(el("text", {}, layer));
      const width = Math.max(...text.map((t) => t.length)) * 6.4 + 12;
      const left = gx + width + 12 > g.W ? gx - width - 8 : gx + 8;
      box.setAttribute("x", left);
      box.setAttribute("y", g.m.t + 4);
      box.setAttribute("width", width);
      box.setAttribute("height", text.length * 14 + 6);
      lines.forEach((node, i) => {
        node.textContent = text[i] || "";
        node.setAttribute("x", left + 6);
        node.setAttribute("y", g.m.t + 18 + i * 14);
      });
      layer.setAttribute("visibility", "visible");
    });
  }

  window.LrPlot = { chart, formatValue, formatStep, PALETTE };
})();
