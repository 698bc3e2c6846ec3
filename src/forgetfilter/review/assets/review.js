// forgetfilter review page: one run's examples, the cut, and a keep/remove decision per example.
// Data is inlined, gzip + base64 (columns, one array per field; the records for the export apart, inflated on the
// first export); nothing is fetched. Text is only ever set with textContent.
"use strict";
const STARTED = performance.now();

async function inflate(id) {
  const b64 = document.getElementById(id).textContent;
  let bytes;
  if (Uint8Array.fromBase64) bytes = Uint8Array.fromBase64(b64);
  else {
    const bin = atob(b64);
    bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  }
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
}

inflate("data").then((text) => review(JSON.parse(text)));

function review(D) {
  const M = D.meta;
  const N = D.id.length;
  const $ = (id) => document.getElementById(id);
  const num = (v) => (v === null ? NaN : v);
  const F = Float64Array.from(D.forgetting, num);
  const RUN = Uint8Array.from(D.removed);
  const decision = Uint8Array.from(D.removed); // 1 = remove
  const ROLE = D.role.map((r) => r || "unknown");
  const UNSAFE = Uint8Array.from(D.role, (r) => (r === "unsafe" ? 1 : 0));
  const N_UNSAFE = UNSAFE.reduce((a, b) => a + b, 0);
  const ROLES = Array.from(new Set(ROLE)).sort();
  const COLORS = { unsafe: "#d62728", safe: "#2ca02c", task: "#1f77b4", unknown: "#7f7f7f" };
  // the slider's range: from just below the lowest score (remove all) to the highest (remove none)
  const [fMin, fMax] = minMax(F.filter(Number.isFinite));
  let lo = Math.min(M.cut, fMin), hi = Math.max(M.cut, fMax);
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  lo -= (hi - lo) * 1e-3;

  const state = { cut: M.cut, sortKey: "rank", sortDir: 1, query: "", min: NaN, max: NaN, role: "all",
                  decision: "all", page: 0, pageSize: 100 };
  const expanded = new Set();
  let view = new Int32Array(0);
  let haystack = null; // lower-cased searchable text, built on the first search

  function minMax(values) {
    let a = Infinity, b = -Infinity;
    for (const v of values) { if (v < a) a = v; if (v > b) b = v; }
    return values.length ? [a, b] : [0, 1];
  }
  function fmt(v, digits = 3) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    return Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toFixed(digits);
  }
  function pct(a, b) { return b ? (100 * a / b).toFixed(1) + "%" : "–"; }
  // data-renders counts redraws of an element, so a test or benchmark can wait for the next one
  const bump = (node) => { node.dataset.renders = String(Number(node.dataset.renders || 0) + 1); };
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- columns -------------------------------------------------------------------------------------------
  const COLUMNS = [
    { key: "expand", label: "", width: "22px" },
    { key: "rank", label: "rank", num: true, width: "52px", get: (i) => D.rank[i] },
    { key: "forgetting", label: "forgetting", num: true, width: "78px", get: (i) => F[i] },
  ];
  for (const s of M.signals) {
    for (const m of ["m1", "m2"]) {
      const values = D[m][s];
      COLUMNS.push({ key: `${s}_${m}`, label: `${s} ${m.toUpperCase()}`, num: true, width: "68px", signal: s,
                     get: (i) => num(values[i]), title: `${s} under ${m === "m1" ? "M1 (after S1)" : "M2 (after S1+)"}` });
    }
  }
  if (M.has_roles) COLUMNS.push({ key: "role", label: "role", width: "64px", get: (i) => ROLE[i] });
  COLUMNS.push({ key: "id", label: "id", width: "120px", get: (i) => D.id[i] });
  COLUMNS.push({ key: "prompt", label: "prompt", get: (i) => D.prompt[i] });
  COLUMNS.push({ key: "response", label: "response", get: (i) => D.response[i] });
  COLUMNS.push({ key: "decision", label: "decision", width: "84px", num: true, get: (i) => decision[i] });
  const BY_KEY = Object.fromEntries(COLUMNS.map((c) => [c.key, c]));
  const shownSignals = new Set([M.signal]); // the deciding signal's columns; the others on request
  const visible = () => COLUMNS.filter((c) => !c.signal || shownSignals.has(c.signal));

  // ---- filtering and sorting -----------------------------------------------------------------------------
  function matches(i) {
    if (state.role !== "all" && ROLE[i] !== state.role) return false;
    if (!Number.isNaN(state.min) && !(F[i] >= state.min)) return false;
    if (!Number.isNaN(state.max) && !(F[i] <= state.max)) return false;
    if (state.decision === "remove" && !decision[i]) return false;
    if (state.decision === "keep" && decision[i]) return false;
    if (state.decision === "changed" && decision[i] === RUN[i]) return false;
    if (state.query && !haystack[i].includes(state.query)) return false;
    return true;
  }
  function searchText(i) {
    let text = `${D.id[i]}\n${D.prompt[i]}\n${D.response[i]}`;
    if (M.has_generations) text += `\n${D.gen_m1[i]}\n${D.gen_m2[i]}`;
    return text.toLowerCase();
  }
  function refilter() {
    if (state.query && haystack === null) haystack = Array.from({ length: N }, (_, i) => searchText(i));
    const picked = [];
    for (let i = 0; i < N; i++) if (matches(i)) picked.push(i);
    const col = BY_KEY[state.sortKey];
    const dir = state.sortDir;
    const keys = picked.map(col.get);
    const order = picked.map((_, k) => k);
    order.sort((a, b) => {
      const x = keys[a], y = keys[b];
      const xn = col.num && Number.isNaN(x), yn = col.num && Number.isNaN(y);
      if (xn || yn) return xn === yn ? picked[a] - picked[b] : xn ? 1 : -1; // missing values last
      if (x < y) return -dir;
      if (x > y) return dir;
      return picked[a] - picked[b];
    });
    view = Int32Array.from(order, (k) => picked[k]);
    state.page = Math.min(state.page, Math.max(0, Math.ceil(view.length / state.pageSize) - 1));
    renderTable();
  }

  // ---- table ---------------------------------------------------------------------------------------------
  function renderHead() {
    const head = $("head");
    head.textContent = "";
    for (const c of visible()) {
      const th = el("th", { "data-key": c.key, class: (c.num ? "num " : "") + (c.key === state.sortKey ? "sorted" : "") });
      if (c.width) th.style.width = c.width;
      if (c.title) th.title = c.title;
      th.textContent = c.label + (c.key === state.sortKey ? (state.sortDir > 0 ? " ▲" : " ▼") : "");
      if (c.get) th.addEventListener("click", () => sortBy(c.key));
      head.appendChild(th);
    }
  }
  function sortBy(key) {
    if (state.sortKey === key) state.sortDir = -state.sortDir;
    else { state.sortKey = key; state.sortDir = BY_KEY[key].num && key !== "rank" ? -1 : 1; }
    renderHead();
    refilter();
  }
  function renderRow(i) {
    const tr = el("tr", { class: "row", "data-index": String(i), "data-id": D.id[i] });
    tr.classList.toggle("removed", decision[i] === 1);
    tr.classList.toggle("changed", decision[i] !== RUN[i]);
    for (const c of visible()) {
      const td = el("td");
      if (c.key === "expand") {
        const b = el("button", { class: "expand", type: "button", title: "show the whole example" },
                     expanded.has(i) ? "▾" : "▸");
        b.addEventListener("click", () => toggleExpand(i));
        td.appendChild(b);
      } else if (c.key === "decision") {
        const d = decision[i] ? "remove" : "keep";
        const b = el("button", { class: `toggle ${d}`, type: "button", title: "switch keep/remove" }, d);
        b.addEventListener("click", () => toggleDecision(i));
        td.appendChild(b);
      } else if (c.key === "role") {
        td.appendChild(el("span", { class: `role role-${ROLE[i]}` }, ROLE[i]));
      } else if (c.key === "prompt" || c.key === "response") {
        td.className = "clip";
        td.textContent = c.get(i).slice(0, 300);
        td.addEventListener("click", () => toggleExpand(i));
      } else if (c.key === "id") {
        td.className = "id";
        td.textContent = D.id[i];
        td.title = D.id[i];
      } else {
        td.className = "num";
        td.textContent = c.key === "rank" ? String(D.rank[i]) : fmt(c.get(i));
      }
      tr.appendChild(td);
    }
    return tr;
  }
  function renderDetail(i) {
    const tr = el("tr", { class: "detail", "data-detail": String(i) });
    const td = el("td", { colspan: String(visible().length) });
    const grid = el("div", { class: "detail-grid" });
    const block = (title, text) => {
      const div = el("div");
      div.appendChild(el("h3", {}, title));
      div.appendChild(el("pre", {}, text));
      grid.appendChild(div);
    };
    block("prompt", D.prompt[i]);
    block("target response", D.response[i]);
    if (M.has_generations) {
      block("greedy answer on M1 (after S1)", D.gen_m1[i]);
      block("greedy answer on M2 (after S1+)", D.gen_m2[i]);
    }
    td.appendChild(grid);
    tr.appendChild(td);
    return tr;
  }
  function renderTable() {
    const body = $("body");
    body.textContent = "";
    const start = state.page * state.pageSize;
    const end = Math.min(view.length, start + state.pageSize);
    const frag = document.createDocumentFragment();
    for (let k = start; k < end; k++) {
      const i = view[k];
      frag.appendChild(renderRow(i));
      if (expanded.has(i)) frag.appendChild(renderDetail(i));
    }
    body.appendChild(frag);
    const pages = Math.max(1, Math.ceil(view.length / state.pageSize));
    $("page-info").textContent = view.length
      ? `rows ${start + 1}–${end} of ${view.length}` + (view.length < N ? ` (filtered from ${N})` : "") +
        `, page ${state.page + 1} of ${pages}`
      : `no rows match (of ${N})`;
    $("prev").disabled = state.page === 0;
    bump($("rows"));
    $("next").disabled = state.page >= pages - 1;
  }
  function toggleExpand(i) {
    if (expanded.has(i)) expanded.delete(i); else expanded.add(i);
    renderTable();
  }
  function toggleDecision(i) {
    decision[i] ^= 1;
    const old = document.querySelector(`tr.row[data-index="${i}"]`);
    if (old) old.replaceWith(renderRow(i));
    renderStats();
  }

  // ---- histograms, cut and counts -------------------------------------------------------------------------
  const BINS = 40;
  const binOf = (v) => Math.min(BINS - 1, Math.max(0, Math.floor((v - lo) / (hi - lo) * BINS)));
  const counts = { all: new Array(BINS).fill(0) };
  for (const r of ROLES) counts[r] = new Array(BINS).fill(0);
  for (let i = 0; i < N; i++) {
    if (!Number.isFinite(F[i])) continue;
    const b = binOf(F[i]);
    counts.all[b]++;
    counts[ROLE[i]][b]++;
  }
  function setupCanvas(canvas, w, h) {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = w * ratio; canvas.height = h * ratio;
    canvas.style.width = w + "px"; canvas.style.height = h + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }
  function drawHist(canvas, w, h, bins, color, labels) {
    const ctx = setupCanvas(canvas, w, h);
    const pad = { l: labels ? 34 : 4, r: 6, t: 14, b: labels ? 18 : 4 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const top = Math.max(1, ...bins);
    ctx.clearRect(0, 0, w, h);
    const x = (v) => pad.l + (v - lo) / (hi - lo) * pw;
    for (let b = 0; b < BINS; b++) {
      const left = lo + (hi - lo) * b / BINS;
      const bh = bins[b] / top * ph;
      ctx.fillStyle = left + (hi - lo) / BINS / 2 > state.cut ? "#e07a73" : color;
      ctx.fillRect(x(left) + 0.5, pad.t + ph - bh, pw / BINS - 1, bh);
    }
    ctx.strokeStyle = "#000"; ctx.setLineDash([4, 3]); ctx.beginPath();
    ctx.moveTo(x(state.cut), pad.t - 4); ctx.lineTo(x(state.cut), pad.t + ph); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = "#000"; ctx.font = "11px sans-serif";
    ctx.fillText(`φ = ${fmt(state.cut)}`, Math.min(x(state.cut) + 3, w - 70), 11);
    if (labels) {
      ctx.fillStyle = "#555";
      ctx.fillText(String(top), 2, pad.t + 8);
      ctx.fillText("0", 2, pad.t + ph);
      ctx.fillText(fmt(lo, 2), pad.l, h - 4);
      const label = `forgetting (${M.signal})`;
      ctx.fillText(label, pad.l + pw / 2 - ctx.measureText(label).width / 2, h - 4);
      ctx.fillText(fmt(hi, 2), w - pad.r - ctx.measureText(fmt(hi, 2)).width, h - 4);
    }
    return x;
  }
  let xOfMain = null;
  function drawCharts() {
    xOfMain = drawHist($("hist"), 640, 220, counts.all, "#8aa2c8", true);
    if (!M.has_roles) return;
    for (const r of ROLES) {
      const canvas = document.querySelector(`canvas[data-role="${r}"]`);
      drawHist(canvas, 150, 70, counts[r], COLORS[r] || "#7f7f7f", false);
      let above = 0, total = 0;
      for (let i = 0; i < N; i++) if (ROLE[i] === r) { total++; if (F[i] > state.cut) above++; }
      canvas.previousSibling.textContent = `${r}: ${above} of ${total} above φ`;
    }
  }
  function quality(removed) {
    let tp = 0, n = 0;
    for (let i = 0; i < N; i++) if (removed(i)) { n++; tp += UNSAFE[i]; }
    return { n, precision: n ? tp / n : 0, recall: N_UNSAFE ? tp / N_UNSAFE : 0 };
  }
  function renderCut() {
    const q = quality((i) => F[i] > state.cut);
    let text = `At φ = ${fmt(state.cut)}: ${q.n} of ${N} would be removed (${pct(q.n, N)}).`;
    if (M.has_roles) text += ` Precision ${fmt(q.precision)}, recall ${fmt(q.recall)} (unsafe = positive).`;
    $("cut-stats").textContent = text;
    bump($("cut-stats"));
    $("cut-value").value = String(Number(state.cut.toPrecision(6)));
    $("cut-value").dataset.exact = String(state.cut);
    $("cut-slider").value = String(Math.round((state.cut - lo) / (hi - lo) * 1000));
    drawCharts();
  }
  function renderStats() {
    const q = quality((i) => decision[i] === 1);
    let changed = 0;
    for (let i = 0; i < N; i++) if (decision[i] !== RUN[i]) changed++;
    let text = `remove ${q.n}, keep ${N - q.n}; ${changed} changed from the run's decision.`;
    if (M.has_roles) text += ` Precision ${fmt(q.precision)}, recall ${fmt(q.recall)}.`;
    $("decision-stats").textContent = text;
  }
  function setCut(value) {
    if (!Number.isFinite(value)) return;
    state.cut = value;
    renderCut();
  }

  // ---- export ----------------------------------------------------------------------------------------------
  // Python's json.dumps(value, indent=2) of a record, from its compact json.dumps(value), nested `level` deep:
  // strings and numbers are copied as they are, so the file matches `forgetfilter apply` byte for byte.
  function pretty(line, level) {
    const tokens = line.match(/"(?:[^"\\]|\\[^])*"|[{}[\],:]|[^"{}[\],:\s]+/g) || [];
    const out = [];
    let depth = level;
    const nl = (d) => "\n" + "  ".repeat(d);
    for (let k = 0; k < tokens.length; k++) {
      const t = tokens[k];
      if (t === "{" || t === "[") {
        if (tokens[k + 1] === (t === "{" ? "}" : "]")) { out.push(t, tokens[k + 1]); k++; continue; }
        depth++; out.push(t, nl(depth));
      } else if (t === "}" || t === "]") { depth--; out.push(nl(depth), t); }
      else if (t === ",") out.push(",", nl(depth));
      else if (t === ":") out.push(": ");
      else out.push(t);
    }
    return out.join("");
  }
  function part(flag) {
    const picked = [];
    for (let i = 0; i < N; i++) if (decision[i] === flag) picked.push(i);
    return picked;
  }
  let RECORDS = null; // each example's record as a JSONL line, in input order
  async function records() {
    if (RECORDS === null) RECORDS = (await inflate("records")).split("\n");
    return RECORDS;
  }
  async function jsonl(picked) {
    const lines = await records();
    return picked.map((i) => lines[i] + "\n");
  }
  async function json(picked) {
    const lines = await records();
    const frame = M.json_frame, level = frame.level;
    const items = picked.map((i) => "  ".repeat(level + 1) + pretty(lines[i], level + 1));
    const list = items.length ? "[\n" + items.join(",\n") + "\n" + "  ".repeat(level) + "]" : "[]";
    return [frame.head + list + frame.tail + "\n"];
  }
  function decisionsFile() {
    const lines = [];
    for (let i = 0; i < N; i++) {
      lines.push(`{"id": ${JSON.stringify(D.id[i])}, "decision": "${decision[i] ? "remove" : "keep"}"}\n`);
    }
    return lines;
  }
  const FILES = [
    ["kept.jsonl", () => jsonl(part(0))],
    ["removed.jsonl", () => jsonl(part(1))],
  ];
  if (M.file_type === "json") FILES.push(["kept.json", () => json(part(0))], ["removed.json", () => json(part(1))]);
  FILES.push(["decisions.jsonl", decisionsFile]);
  function download(name, chunks) {
    const url = URL.createObjectURL(new Blob(chunks, { type: "application/octet-stream" }));
    const a = el("a", { href: url, download: name });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // ---- wiring ----------------------------------------------------------------------------------------------
  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }
  function init() {
    $("run-name").textContent = M.run;
    const t = M.threshold;
    $("run-info").textContent = `${N} examples; signal ${M.signal}; the run's cut: ${t.method}` +
      (t.phi === null ? "" : ` φ = ${fmt(t.phi)}`) + (t.budget === null ? "" : ` (budget ${t.budget})`) +
      `; the run removed ${RUN.reduce((a, b) => a + b, 0)}. Input file type: ${M.file_type}.`;
    $("apply-hint").textContent = `forgetfilter apply ${M.run} --decisions decisions.jsonl`;
    if (M.has_roles) {
      for (const r of ROLES) {
        $("role").appendChild(el("option", { value: r }, r));
        const fig = el("figure");
        fig.appendChild(el("figcaption", {}, r));
        fig.appendChild(el("canvas", { "data-role": r }));
        $("role-hists").appendChild(fig);
      }
    } else {
      $("role-label").hidden = true;
    }
    for (const s of M.signals) {
      const box = el("input", { type: "checkbox", "data-signal": s });
      box.checked = shownSignals.has(s);
      box.addEventListener("change", () => {
        if (box.checked) shownSignals.add(s); else shownSignals.delete(s);
        renderHead(); renderTable();
      });
      const label = el("label");
      label.append(box, ` ${s}`);
      $("signal-columns").appendChild(label);
    }
    for (const [name, make] of FILES) {
      const b = el("button", { type: "button", id: `export-${name.replace(".", "-")}` }, name);
      b.addEventListener("click", async () => download(name, await make()));
      $("export-files").appendChild(b);
    }
    $("export-all").addEventListener("click", async () => {
      for (const [name, make] of FILES) download(name, await make());
    });
    $("cut-slider").addEventListener("input", (e) => setCut(lo + (hi - lo) * Number(e.target.value) / 1000));
    $("cut-value").addEventListener("change", (e) => setCut(Number(e.target.value)));
    $("hist").addEventListener("click", (e) => {
      const box = e.target.getBoundingClientRect();
      const pw = 640 - 34 - 6;
      setCut(lo + (e.clientX - box.left - 34) / pw * (hi - lo));
    });
    $("use-cut").addEventListener("click", () => {
      for (let i = 0; i < N; i++) decision[i] = F[i] > state.cut ? 1 : 0;
      renderStats(); renderTable();
    });
    $("reset").addEventListener("click", () => { decision.set(RUN); renderStats(); renderTable(); });
    const shown = (flag) => () => { for (const i of view) decision[i] = flag; renderStats(); renderTable(); };
    $("remove-shown").addEventListener("click", shown(1));
    $("keep-shown").addEventListener("click", shown(0));
    $("search").addEventListener("input", debounce((e) => {
      state.query = e.target.value.trim().toLowerCase(); state.page = 0; refilter();
    }, 150));
    const range = () => {
      state.min = $("min").value === "" ? NaN : Number($("min").value);
      state.max = $("max").value === "" ? NaN : Number($("max").value);
      state.page = 0; refilter();
    };
    $("min").addEventListener("change", range);
    $("max").addEventListener("change", range);
    $("role").addEventListener("change", (e) => { state.role = e.target.value; state.page = 0; refilter(); });
    $("decision-filter").addEventListener("change", (e) => { state.decision = e.target.value; state.page = 0; refilter(); });
    $("page-size").addEventListener("change", (e) => { state.pageSize = Number(e.target.value); state.page = 0; renderTable(); });
    $("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); renderTable(); });
    $("next").addEventListener("click", () => { state.page += 1; renderTable(); });
    renderHead();
    refilter();
    renderCut();
    renderStats();
    const ms = performance.now() - STARTED;
    $("footer").textContent = `forgetfilter ${M.version}; page ready in ${Math.round(ms)} ms.`;
    // ms: the script's start-up (inflating and parsing the data included); sinceNavigation: from navigation start
    window.reviewReady = { ms, sinceNavigation: performance.now(), rows: N };
    document.body.dataset.ready = "1";
  }
  init();
}
