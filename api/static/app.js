// The search page: which videos open like this one, and how. No inline script or style (the page's CSP
// forbids both): the DOM is built with createElement/textContent and positioned through element.style.
"use strict";
const DIMENSIONS = ["subject", "aesthetics", "camera", "editing", "narrative", "dissemination"];
// default: no weights sent, so the service uses its own hook weights (it answers with them): the weights its
// hook heads were trained for
const PRESETS = {
  default: null,
  balanced: { subject: 1, aesthetics: 1, camera: 1, editing: 1, narrative: 1, dissemination: 1 },
  editing: { subject: 0.25, aesthetics: 0.25, camera: 0.5, editing: 3, narrative: 1.5, dissemination: 0.5 },
  camera: { subject: 0.25, aesthetics: 0.5, camera: 3, editing: 1, narrative: 0.5, dissemination: 0.25 },
  packaging: { subject: 0.5, aesthetics: 1.5, camera: 0.25, editing: 0.5, narrative: 1, dissemination: 3 },
  look: { subject: 1.5, aesthetics: 3, camera: 0.5, editing: 0.25, narrative: 0.25, dissemination: 0.5 },
};
const PRESET_NAMES = { default: "service default", balanced: "balanced", editing: "editing rhythm", camera: "camera", packaging: "packaging", look: "look" };
const DETAIL_PREFETCH = 200;
const ROW_H = 18; // px per sub-row of a timeline row (labels that would overlap go to another sub-row)

const $ = (id) => document.getElementById(id);
const state = {
  details: new Map(), // video id → Promise of its /v1/videos/{id}
  links: new Map(), // video id → Promise of its media link
  query: null, // {mode, record?, file?, text?, readAs?, window}
  weights: null, // null: the service's default hook weights (the "default" preset)
  defaultWeights: Object.assign({}, PRESETS.balanced), // what the service last said its defaults are
  positive: [],
  negative: [],
  lastHits: [],
};

// ---------------------------------------------------------------- small helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const keyInput = $("api-key");
keyInput.value = localStorage.getItem("sv6d-api-key") || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem("sv6d-api-key", keyInput.value);
  state.details.clear();
  state.links.clear();
  loadVideos();
});

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = Object.assign({}, opts.headers || {});
  if (keyInput.value) opts.headers["X-API-Key"] = keyInput.value;
  const res = await fetch(path, opts);
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(`${res.status}: ${detail}`);
  }
  return res;
}

const postJson = (path, body) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
});

function status(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

function detail(id) {
  if (!state.details.has(id)) {
    const p = api(`/v1/videos/${encodeURIComponent(id)}`).then((r) => r.json());
    p.catch(() => state.details.delete(id));
    state.details.set(id, p);
  }
  return state.details.get(id);
}

function mediaLink(id) {
  const cached = state.links.get(id);
  if (cached && cached.until > Date.now()) return cached.promise;
  const promise = api(`/v1/videos/${encodeURIComponent(id)}/media-link`).then((r) => r.json());
  state.links.set(id, { promise, until: Date.now() + 50 * 60 * 1000 });
  promise.catch(() => state.links.delete(id));
  return promise;
}

/** What a person calls a video: its title, else its file name, else its id. */
function displayName(d, id) {
  if (d && d.title) return d.title;
  if (d && d.source && d.source !== "upload") return d.source.split(/[\\/]/).pop();
  return id;
}

const fmt = (x, n = 2) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(n));
const num = (x) => Number(x).toFixed(1).replace(/\.0$/, "");
const secs = (x) => `${num(x)} s`;

// ---------------------------------------------------------------- catalog, modes, weights, filters

async function loadVideos() {
  const sel = $("video-select");
  try {
    const data = await (await api("/v1/videos?limit=1000")).json();
    sel.replaceChildren(...data.video_ids.map((id) => el("option", { value: id, text: id })));
    status(`${data.total} videos stored`);
    const tags = new Map();
    const ids = data.video_ids.slice(0, DETAIL_PREFETCH);
    for (let i = 0; i < ids.length; i += 6) {
      const batch = await Promise.allSettled(ids.slice(i, i + 6).map(detail));
      batch.forEach((r, j) => {
        if (r.status !== "fulfilled") return;
        const d = r.value;
        const opt = sel.querySelector(`option[value="${CSS.escape(ids[i + j])}"]`);
        const name = displayName(d, d.video_id);
        if (opt) opt.textContent = name === d.video_id ? name : `${name} (${d.video_id})`;
        for (const key of new Set(d.tags.map((t) => `${t.dimension}:${t.label}`))) tags.set(key, (tags.get(key) || 0) + 1);
      });
    }
    const pick = $("tag-pick");
    const keys = [...tags.keys()].sort((a, b) => DIMENSIONS.indexOf(a.split(":")[0]) - DIMENSIONS.indexOf(b.split(":")[0]) || a.localeCompare(b));
    pick.replaceChildren(
      el("option", { value: "", text: keys.length ? "choose a tag…" : "no tags in the catalog" }),
      ...keys.map((k) => el("option", { value: k, text: `${k.replace(":", " · ")} (${tags.get(k)} videos)` })),
    );
  } catch (e) { status(`cannot list videos: ${e.message}`, true); }
}

function mode() { return document.querySelector("input[name=mode]:checked").value; }

function showMode() {
  const m = mode();
  document.querySelectorAll("[data-mode]").forEach((n) => { n.hidden = n.dataset.mode !== m; });
}

function buildWeights() {
  const box = $("weights");
  for (const d of DIMENSIONS) {
    const input = el("input", { type: "range", min: "0", max: "3", step: "0.25", value: "1", "data-dim": d, id: `w-${d}` });
    const out = el("output", { for: `w-${d}`, text: "1.00" });
    input.addEventListener("input", () => {
      if (state.weights === null) state.weights = Object.assign({}, state.defaultWeights);
      state.weights[d] = Number(input.value);
      out.textContent = fmt(input.value);
      markPreset(null);
    });
    box.append(el("label", { class: "weight" }, el("span", { text: d }), input, out));
  }
  document.querySelectorAll("[data-preset]").forEach((b) => b.addEventListener("click", () => applyPreset(b.dataset.preset)));
}

function applyPreset(name) {
  state.weights = PRESETS[name] === null ? null : Object.assign({}, PRESETS[name]);
  showWeights(state.weights || state.defaultWeights);
  markPreset(name);
}

function showWeights(weights) {
  for (const d of DIMENSIONS) {
    const input = $(`w-${d}`);
    const w = weights[d] === undefined ? 1 : weights[d];
    input.value = String(w);
    input.nextElementSibling.textContent = fmt(w);
  }
}

function markPreset(name) {
  document.querySelectorAll("[data-preset]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.preset === name)));
  $("weights-summary").textContent = name ? PRESET_NAMES[name] : "custom";
}

const filterTags = [];

function addTagFilter() {
  const key = $("tag-pick").value;
  if (!key || filterTags.includes(key)) return;
  filterTags.push(key);
  renderTagChips();
}

function renderTagChips() {
  $("tag-chips").replaceChildren(...filterTags.map((key) => el("button", {
    type: "button", class: "chip on", "data-tag": key, "aria-label": `remove tag filter ${key}`,
    onclick: () => { filterTags.splice(filterTags.indexOf(key), 1); renderTagChips(); },
  }, `${key.replace(":", " · ")} ×`)));
  summarizeFilters();
}

function filters() {
  const f = {};
  if (filterTags.length) f.tags = filterTags.map((k) => { const [dimension, label] = k.split(":"); return { dimension, label }; });
  const lo = $("min-dur").value, hi = $("max-dur").value;
  if (lo !== "") f.min_duration_s = Number(lo);
  if (hi !== "") f.max_duration_s = Number(hi);
  const o = document.querySelector("input[name=orientation]:checked").value;
  if (o) f.orientation = o;
  const days = document.querySelector("input[name=fresh]:checked").value;
  if (days) f.created_after = new Date(Date.now() - Number(days) * 86400e3).toISOString();
  return Object.keys(f).length ? f : undefined;
}

function summarizeFilters() {
  const parts = [];
  if (filterTags.length) parts.push(`${filterTags.length} tag${filterTags.length > 1 ? "s" : ""}`);
  const lo = $("min-dur").value, hi = $("max-dur").value;
  if (lo !== "" || hi !== "") parts.push(`${lo || 0}–${hi || "∞"} s`);
  const o = document.querySelector("input[name=orientation]:checked");
  if (o.value) parts.push(o.value);
  const fr = document.querySelector("input[name=fresh]:checked");
  if (fr.value) parts.push(fr.parentElement.textContent.trim());
  $("filters-summary").textContent = parts.join(" · ") || "none";
}

function clearFilters() {
  filterTags.length = 0;
  $("min-dur").value = "";
  $("max-dur").value = "";
  document.querySelector("input[name=orientation][value='']").checked = true;
  document.querySelector("input[name=fresh][value='']").checked = true;
  renderTagChips();
}

// ---------------------------------------------------------------- players

/** Play the hook window of a <video> (``win``: [h0, h1] or a function giving it) and stop at its end, or
 * start over while ``loop()`` says so (hover previews). */
function hookControls(video, button, win, loop) {
  const hook = typeof win === "function" ? win : () => win;
  const label = () => `▶ Play hook (${num(hook()[0])}–${num(hook()[1])} s)`;
  let inHook = false; // started from the hook button or a hover, not from the native controls
  const idle = () => { inHook = false; button.textContent = label(); button.setAttribute("aria-pressed", "false"); };
  const stop = () => { video.pause(); idle(); };
  const play = () => {
    const [h0, h1] = hook();
    if (video.currentTime < h0 || video.currentTime >= h1 - 0.05) video.currentTime = h0;
    inHook = true;
    video.play().then(() => { button.textContent = "❚❚ Pause"; button.setAttribute("aria-pressed", "true"); }).catch(() => {});
  };
  video.addEventListener("timeupdate", () => {
    const [h0, h1] = hook();
    if (inHook && !video.paused && video.currentTime >= h1 - 0.05) {
      video.currentTime = h0;
      if (!loop()) stop();
      else inHook = true;
    }
  });
  video.addEventListener("pause", idle);
  video.addEventListener("loadedmetadata", idle);
  button.addEventListener("click", () => (video.paused ? play() : stop()));
  idle();
  return { play, stop };
}

/** A hit's (or stored query's) hook player: its media through a signed link, opened at the hook. */
async function attachStoredMedia(video, button, id, win) {
  try {
    const link = await mediaLink(id);
    video.dataset.hookStart = String(win[0]);
    video.dataset.hookEnd = String(win[1]);
    video.src = `${link.url}#t=${win[0]},${win[1]}`;
  } catch (e) {
    button.disabled = true;
    button.textContent = "media not available";
    video.classList.add("missing");
  }
}

// ---------------------------------------------------------------- search

async function search() {
  const k = Math.max(1, Math.min(100, Number($("k").value) || 8));
  const body = { k };
  if (state.weights !== null) body.weights = Object.assign({}, state.weights);
  const f = filters();
  if (f) body.filters = f;
  const m = mode();
  status("searching…");
  try {
    let data;
    if (m === "clip") {
      const clip = $("clip").files[0];
      if (!clip) { status("choose a clip to upload", true); return; }
      const form = new FormData();
      form.append("clip", clip);
      form.append("params", JSON.stringify(body));
      data = await (await api("/v1/search/hooks", { method: "POST", body: form })).json();
      state.query = { mode: m, file: clip, window: (data.hits[0] && data.hits[0].window) || [0, 3] };
    } else if (m === "text") {
      const text = $("text-query").value.trim();
      if (!text) { status("describe the opening you are looking for", true); return; }
      data = await (await postJson("/v1/search/hooks", Object.assign({ text }, body))).json();
      state.query = { mode: m, text, readAs: data.read_as || [], method: data.method, reason: data.reason, match: data.match_score, window: (data.hits[0] && data.hits[0].window) || [0, 3] };
    } else {
      const id = $("video-select").value;
      if (!id) { status("choose a stored video", true); return; }
      const [res, record] = await Promise.all([postJson("/v1/search/hooks", Object.assign({ video_id: id }, body)), detail(id)]);
      data = await res.json();
      state.query = { mode: m, record, window: record.hook_window };
    }
    // the weights the service used: the ones sent, or its defaults when none were
    const used = data.weights || body.weights || state.defaultWeights;
    if (state.weights === null) { state.defaultWeights = Object.assign({}, used); showWeights(used); }
    state.query.weights = used;
    renderQuery();
    state.lastHits = data.hits;
    renderHits(data.hits, used, f);
  } catch (e) { status(`search failed: ${e.message}`, true); }
}

function renderQuery() {
  const q = state.query;
  const view = $("query-view");
  view.hidden = false;
  const video = $("query-player");
  const button = $("query-play");
  const old = video.dataset.objectUrl;
  if (old) { URL.revokeObjectURL(old); delete video.dataset.objectUrl; }
  video.removeAttribute("src");
  video.classList.remove("missing");
  button.disabled = false;
  const info = $("query-info");
  info.replaceChildren();
  view.classList.toggle("no-player", q.mode === "text");
  if (q.mode === "video") {
    const r = q.record;
    $("query-caption").textContent = `${displayName(r, r.video_id)} · hook ${num(r.hook_window[0])}–${secs(r.hook_window[1])}`;
    attachStoredMedia(video, button, r.video_id, r.hook_window);
    info.append(
      el("h3", { text: displayName(r, r.video_id) }),
      el("p", { class: "muted", text: `${r.video_id} · ${secs(r.duration_s)} · ${r.width}×${r.height} ${r.orientation}` }),
      hookTagList(r),
    );
  } else if (q.mode === "clip") {
    const url = URL.createObjectURL(q.file);
    video.dataset.objectUrl = url;
    video.dataset.hookStart = String(q.window[0]);
    video.dataset.hookEnd = String(q.window[1]);
    video.src = `${url}#t=${q.window[0]},${q.window[1]}`;
    $("query-caption").textContent = `${q.file.name} · hook ${num(q.window[0])}–${secs(q.window[1])}`;
    info.append(el("h3", { text: q.file.name }), el("p", { class: "muted", text: "Uploaded clip: encoded for this search, not stored. Its own tags are not returned: the query rows show the tags it shares with the hits, without their times." }));
  } else {
    $("query-caption").textContent = "";
    info.append(el("h3", { text: `“${q.text}”` }));
    if (q.reason) info.append(el("p", { class: "reason", text: `No hits: ${q.reason}.` }));
    if (q.readAs.length) {
      info.append(el("p", { class: "muted", text: q.method === "text_heads" ? "Searched with the trained text heads; read as (opening styles):" : "Read as these tags (the search uses the hooks of videos that carry them):" }),
        el("div", { class: "chips read-as" }, ...q.readAs.map((r) => el("span", { class: "chip", title: `similarity ${fmt(r.similarity)}`, text: `${r.dimension || "style"} · ${r.label}` }))));
    } else {
      info.append(el("p", { class: "muted", text: q.method === "text_heads" ? "Searched with the trained text heads." : "The text matched no tag of the vocabulary closely enough." }));
    }
  }
}

function hookTagList(r) {
  const list = el("dl", { class: "hook-tags" });
  for (const s of r.dimensions) {
    list.append(el("dt", { text: s.dimension }), el("dd", { text: s.hook_tag_labels.join(", ") || "–" }));
  }
  return list;
}

function weightedMean(scores, weights) {
  let num = 0, den = 0;
  for (const d of DIMENSIONS) {
    const w = weights[d] === undefined ? 1 : weights[d];
    num += w * (scores[d] || 0);
    den += w;
  }
  return den > 0 ? num / den : 0;
}

function resultsHead(title, note) {
  $("results-head").hidden = false;
  $("legend-read").hidden = !(state.query && state.query.mode !== "video");
  $("results-title").textContent = title;
  $("scale-note").textContent = note;
}

function renderHits(hits, weights, f) {
  const cards = $("cards");
  cards.replaceChildren();
  const what = { video: "stored video", clip: "uploaded clip", text: "text" }[state.query.mode];
  status(`${hits.length} similar hook${hits.length === 1 ? "" : "s"} for the ${what}${f ? " (filtered: " + $("filters-summary").textContent + ")" : ""}${!hits.length && state.query.reason ? ": " + state.query.reason : ""}`);
  const styled = hits.some((h) => h.style !== null && h.style !== undefined);
  resultsHead("Similar hooks",
    "Match = weighted mean of the six per-dimension cosines between the two hooks, on a −1…1 scale " +
    "(1: the same structure, 0: unrelated, −1: opposite). Bars: each dimension's cosine; ×w: its weight." +
    (styled ? " Opening style = how alike the two openings' style profiles are (−1…1), read from all six " +
      "dimensions together; the list is ordered by a blend of match and opening style." : ""));
  if (!hits.length) {
    cards.append(el("p", { class: "empty", text: f ? "No video passes these filters. Loosen or clear them." : "No similar hooks found." }));
    return;
  }
  for (const hit of hits) cards.append(card({ id: hit.video_id, hit, weights }));
}

// ---------------------------------------------------------------- result cards

function card(opts) {
  const { id, hit, rec, weights } = opts;
  const win = (hit && hit.window) || null;
  const node = el("article", { class: "card", dataset: { videoId: id }, "aria-label": `result ${id}` });
  const title = el("h3", { class: "title", text: id });
  const sub = el("p", { class: "muted sub", text: id });
  const head = el("header", {}, el("div", { class: "names" }, title, sub));
  if (hit) {
    const mean = weightedMean(hit.scores, weights);
    head.append(el("div", { class: "score", title: `weighted mean of per-dimension cosines (−1…1); raw weighted sum ${fmt(hit.score, 3)}` },
      el("strong", { text: fmt(mean) }), el("span", { class: "muted", text: "match, −1…1" })));
    if (hit.style !== null && hit.style !== undefined) {
      head.append(el("div", { class: "score", title: "how alike the two openings' style profiles are (−1…1): the list is ordered by a blend of the match and this" },
        el("strong", { text: fmt(hit.style) }), el("span", { class: "muted", text: "opening style" })));
    }
  } else {
    head.append(el("div", { class: "score", title: "the ranker's score: it orders the list, it is not a similarity" },
      el("strong", { text: fmt(rec.score) }), el("span", { class: "muted", text: "rank score" })));
  }
  node.append(head);

  const video = el("video", { class: "hit-player", muted: true, playsinline: true, preload: "metadata", tabindex: "-1" });
  video.muted = true;
  const play = el("button", { type: "button", class: "play", "aria-pressed": "false", text: "▶ Play hook" });
  let hovering = false;
  node.append(el("figure", { class: "player" }, video, el("figcaption", {}, play)));

  if (hit) node.append(bars(hit.scores, weights));
  else node.append(el("p", { class: "channels muted", text: `found as: ${channelNames(rec.channels)}` }));
  const tl = el("div", { class: "timeline", "aria-label": "tags of the two hooks on one time axis" });
  node.append(tl);

  const more = el("button", { type: "button", class: "more", "aria-pressed": String(state.positive.includes(id)), text: "+ More like this", onclick: () => example(id, "positive") });
  const less = el("button", { type: "button", class: "less", "aria-pressed": String(state.negative.includes(id)), text: "− Less like this", onclick: () => example(id, "negative") });
  node.append(el("div", { class: "actions" }, more, less));

  detail(id).then((d) => {
    const name = displayName(d, id);
    title.textContent = name;
    sub.textContent = `${name === id ? "" : id + " · "}${secs(d.duration_s)} · ${d.orientation}`;
    const w = win || d.hook_window;
    const controls = hookControls(video, play, w, () => hovering);
    video.addEventListener("mouseenter", () => { hovering = true; controls.play(); });
    video.addEventListener("mouseleave", () => { hovering = false; controls.stop(); });
    video.addEventListener("click", () => (video.paused ? controls.play() : controls.stop()));
    attachStoredMedia(video, play, id, w);
    drawTimeline(tl, d, w, hit ? hit.shared_tags : null);
  }).catch((e) => { sub.textContent = `details unavailable: ${e.message}`; play.disabled = true; });
  return node;
}

/** The recommender's candidate channels, in words. */
function channelNames(channels) {
  const dims = channels.filter((c) => c.startsWith("nb_")).map((c) => c.slice(3));
  const words = { hook: "similar hook", popular: "popular now", fresh: "fresh", covisit: "watched together" };
  const out = [];
  if (dims.length) out.push(dims.length === DIMENSIONS.length ? "similar in every dimension" : `similar ${dims.join(", ")}`);
  for (const c of channels) if (!c.startsWith("nb_")) out.push(words[c] || c);
  return out.join(" · ") || "–";
}

function bars(scores, weights) {
  const box = el("div", { class: "bars" });
  for (const d of DIMENSIONS) {
    const s = scores[d] || 0;
    const w = weights[d] === undefined ? 1 : weights[d];
    const fill = el("span", { class: `fill${s < 0 ? " neg" : ""}` });
    const width = Math.min(50, Math.abs(s) * 50);
    fill.style.left = `${s >= 0 ? 50 : 50 - width}%`;
    fill.style.width = `${width}%`;
    box.append(el("div", { class: `bar${w === 0 ? " off" : ""}`, dataset: { dim: d } },
      el("span", { class: "dim", text: d }),
      el("span", { class: "track", title: `cosine ${fmt(s, 3)} (−1…1)` }, el("span", { class: "zero" }), fill),
      el("span", { class: "val", text: fmt(s) }),
      el("span", { class: "w muted", text: `×${fmt(w, w % 1 ? 2 : 0)}` })));
  }
  return box;
}

// ---------------------------------------------------------------- timelines

/** Tags of ``record`` overlapping ``win``, as times relative to the window's start; the pieces of one label
 * that touch or overlap (one per shot, say) are drawn as one. */
function windowTags(record, win) {
  const [a, b] = win;
  const pieces = record.tags.filter((t) => t.start_s < b && t.end_s > a)
    .map((t) => ({ dimension: t.dimension, label: t.label, t0: Math.max(0, t.start_s - a), t1: Math.min(b, t.end_s) - a, conf: t.confidence }))
    .sort((x, y) => x.dimension.localeCompare(y.dimension) || x.label.localeCompare(y.label) || x.t0 - y.t0);
  const merged = [];
  for (const p of pieces) {
    const last = merged[merged.length - 1];
    if (last && last.dimension === p.dimension && last.label === p.label && p.t0 <= last.t1 + 0.05) {
      last.t1 = Math.max(last.t1, p.t1);
      last.conf = Math.max(last.conf, p.conf);
      last.n += 1;
    } else merged.push(Object.assign({ n: 1 }, p));
  }
  return merged.map((t) => Object.assign(t, {
    title: `${t.dimension} · ${t.label}: ${fmt(t.t0 + a)}–${fmt(t.t1 + a)} s${t.n > 1 ? ` (${t.n} tags)` : ""}, confidence ${fmt(t.conf)}`,
  }));
}

function queryItems(span) {
  const q = state.query;
  if (q.mode === "video") return windowTags(q.record, q.record.hook_window);
  if (q.mode === "text") {
    return q.readAs.map((r) => ({ dimension: r.dimension, label: r.label, t0: 0, t1: span, read: true, title: `the text read as ${r.label} (similarity ${fmt(r.similarity)})` }));
  }
  // An uploaded clip's own tags are not returned; the tags it shares with some hit are (without times).
  const seen = new Map();
  for (const h of state.lastHits) for (const t of h.shared_tags || []) seen.set(`${t.dimension}:${t.label}`, t);
  return [...seen.values()].map((t) => ({ dimension: t.dimension, label: t.label, t0: 0, t1: span, read: true, title: `the clip's hook carries ${t.label} (shared with a hit; times not returned)` }));
}

function drawTimeline(box, d, win, shared) {
  const q = state.query;
  const hitItems = windowTags(d, win);
  const qLen = q && q.window ? q.window[1] - q.window[0] : 0;
  const span = Math.max(win[1] - win[0], qLen, 0.5);
  const qItems = q ? queryItems(span) : [];
  const hitKeys = new Set(hitItems.map((t) => `${t.dimension}:${t.label}`));
  const qKeys = new Set(qItems.map((t) => `${t.dimension}:${t.label}`));
  const both = new Set(shared ? shared.map((t) => `${t.dimension}:${t.label}`) : [...hitKeys].filter((k) => qKeys.has(k)));
  box.replaceChildren();
  const axis = el("div", { class: "axis", "aria-hidden": "true" });
  box.append(el("div", { class: "lane axis-lane" }, el("span", { class: "lane-name muted", text: "time" }), axis));
  // A text read as opening styles (the hook heads' labels span every dimension) gets a lane of its own.
  const lanes = qItems.some((t) => !t.dimension) ? [null, ...DIMENSIONS] : DIMENSIONS;
  for (const dim of lanes) {
    const rows = el("div", { class: "rows" });
    for (const [who, items] of [["q", qItems], ["h", hitItems]]) {
      const row = el("div", { class: `trow ${who}`, dataset: { who }, title: who === "q" ? "query" : "hit", "aria-label": `${who === "q" ? "query" : "hit"} ${dim || "opening"}` });
      for (const t of items.filter((x) => (x.dimension || null) === dim)) {
        const key = `${t.dimension}:${t.label}`;
        const tag = el("div", { class: `tag ${who}${both.has(key) ? " shared" : ""}${t.read ? " read" : ""}`, title: t.title, dataset: { t0: String(t.t0), t1: String(t.t1) } },
          el("span", { class: "span" }), el("span", { class: "label", text: t.label.replace(/_/g, " ") }));
        row.append(tag);
      }
      if (!row.children.length) row.classList.add("empty");
      rows.append(row);
    }
    box.append(el("div", { class: "lane", dataset: { dim: dim || "opening" } }, el("span", { class: "lane-name", text: dim || "opening" }), rows));
  }
  box.dataset.span = String(span);
  layoutTimeline(box);
  timelineObserver.observe(box);
}

const measureCtx = document.createElement("canvas").getContext("2d");

/** Place each row's tags so that no two label boxes share a sub-row where they would overlap. */
function layoutTimeline(box) {
  const span = Number(box.dataset.span);
  layoutAxis(box.querySelector(".axis"), span);
  box.querySelectorAll(".trow").forEach((row) => {
    const width = row.clientWidth;
    if (!width) return;
    const tags = [...row.querySelectorAll(".tag")].map((tag) => {
      const label = tag.querySelector(".label");
      measureCtx.font = getComputedStyle(label).font;
      const x0 = (Number(tag.dataset.t0) / span) * width;
      const x1 = Math.max(x0 + 3, (Number(tag.dataset.t1) / span) * width);
      return { tag, x0, x1, labelW: Math.ceil(measureCtx.measureText(label.textContent).width) + 8 };
    }).sort((a, b) => a.x0 - b.x0 || b.x1 - a.x1);
    const ends = [];
    for (const t of tags) {
      const w = Math.min(width, Math.max(t.x1 - t.x0, t.labelW));
      const left = Math.max(0, Math.min(t.x0, width - w));
      let r = ends.findIndex((end) => end + 2 <= left);
      if (r < 0) { r = ends.length; ends.push(0); }
      ends[r] = left + w;
      t.tag.style.left = `${left}px`;
      t.tag.style.width = `${w}px`;
      t.tag.style.top = `${r * ROW_H}px`;
      const bar = t.tag.querySelector(".span");
      bar.style.left = `${Math.max(0, t.x0 - left)}px`;
      bar.style.width = `${Math.min(w, t.x1 - t.x0)}px`;
    }
    row.style.height = `${Math.max(1, ends.length) * ROW_H}px`;
  });
}

/** Ticks as dense as their labels allow: the step is the smallest "nice" one whose labels keep apart. */
function layoutAxis(axis, span) {
  const width = axis.clientWidth;
  if (!width) return;
  measureCtx.font = getComputedStyle(axis).font;
  const widest = measureCtx.measureText(secs(span)).width + 10;
  const step = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((st) => (st / span) * width >= 2 * widest) || span;
  const ticks = [];
  for (let k = 0; k * step <= span + 1e-6; k += 1) ticks.push(k * step);
  axis.replaceChildren(...ticks.map((t) => {
    const tick = el("span", { class: "tick", text: secs(t) });
    const x = (t / span) * width;
    // The end of the axis: the label ends at its tick rather than running past the row.
    if (x + widest / 2 > width && t > 0) tick.classList.add("last");
    tick.style.left = `${x}px`;
    return tick;
  }));
}

const timelineObserver = new ResizeObserver((entries) => {
  for (const e of entries) {
    if (e.target.dataset.width !== String(Math.round(e.contentRect.width))) {
      e.target.dataset.width = String(Math.round(e.contentRect.width));
      layoutTimeline(e.target);
    }
  }
});

// ---------------------------------------------------------------- more / less like this → recommend

function example(id, kind) {
  const other = kind === "positive" ? "negative" : "positive";
  state[other] = state[other].filter((v) => v !== id);
  state[kind] = state[kind].includes(id) ? state[kind].filter((v) => v !== id) : [id, ...state[kind]];
  renderExamples();
  if (state.positive.length || (state.query && state.query.record)) recommend();
  else status("mark a video “More like this” (or search from a stored video) to get recommendations", true);
}

function renderExamples() {
  const chips = [];
  for (const [kind, sign] of [["positive", "+"], ["negative", "−"]]) {
    for (const id of state[kind]) {
      chips.push(el("button", {
        type: "button", class: `chip on ${kind}`, dataset: { example: id, kind }, "aria-label": `remove ${id} from the examples`,
        onclick: () => { state[kind] = state[kind].filter((v) => v !== id); renderExamples(); },
      }, `${sign} ${id} ×`));
    }
  }
  $("example-chips").replaceChildren(...chips);
  $("examples").hidden = chips.length === 0;
  document.querySelectorAll(".card").forEach((c) => {
    c.querySelector(".more").setAttribute("aria-pressed", String(state.positive.includes(c.dataset.videoId)));
    c.querySelector(".less").setAttribute("aria-pressed", String(state.negative.includes(c.dataset.videoId)));
  });
}

async function recommend() {
  const seed = state.query && state.query.record ? state.query.record.video_id : null;
  const positive = state.positive.length ? state.positive.slice() : (seed ? [seed] : []);
  if (!positive.length) { status("mark at least one video “More like this”", true); return; }
  const k = Math.max(1, Math.min(100, Number($("k").value) || 8));
  // One more than asked: the query's own video comes back as a candidate and is not shown.
  const body = { positive, negative: state.negative.slice(), k: seed ? k + 1 : k };
  if (seed && !state.negative.includes(seed)) body.seed = seed;
  status("recommending…");
  try {
    const data = await (await postJson("/v1/recommend", body)).json();
    const cards = $("cards");
    cards.replaceChildren();
    const n = `${state.positive.length} liked, ${state.negative.length} not liked`;
    resultsHead(`Recommended from your examples (${n})`,
      `Ordered by the ${data.scorer === "lightgbm" ? "trained ranker" : "fallback blend of similarity and popularity"}; ` +
      "the rank score orders the list and is not a similarity. The query's video and the videos marked liked or not liked are left out.");
    status(`${Math.min(k, data.items.filter((i) => i.video_id !== seed).length)} recommendations from ${data.n_candidates} candidates${data.note ? " · " + data.note : ""}`);
    if (!data.items.some((i) => i.video_id !== seed)) cards.append(el("p", { class: "empty", text: "No candidates left: remove an example or widen the catalog." }));
    const items = data.items.filter((i) => i.video_id !== seed).slice(0, k);
    for (const item of items) cards.append(card({ id: item.video_id, rec: item, weights: state.weights || state.defaultWeights }));
  } catch (e) { status(`recommendation failed: ${e.message}`, true); }
}

// ---------------------------------------------------------------- wiring

buildWeights();
showMode();
document.querySelectorAll("input[name=mode]").forEach((r) => r.addEventListener("change", showMode));
$("search").addEventListener("click", search);
$("text-query").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
$("k").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
$("tag-add").addEventListener("click", addTagFilter);
$("tag-pick").addEventListener("keydown", (e) => { if (e.key === "Enter") addTagFilter(); });
$("filters-clear").addEventListener("click", clearFilters);
["min-dur", "max-dur"].forEach((id) => $(id).addEventListener("input", summarizeFilters));
document.querySelectorAll("input[name=orientation], input[name=fresh]").forEach((r) => r.addEventListener("change", summarizeFilters));
$("recommend").addEventListener("click", recommend);
$("examples-clear").addEventListener("click", () => { state.positive = []; state.negative = []; renderExamples(); });
hookControls($("query-player"), $("query-play"), () => (state.query && state.query.window) || [0, 3], () => false);
loadVideos();
