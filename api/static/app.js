// The search page: pick a stored video or upload a clip, search similar hooks, draw result cards.
"use strict";
const DIMENSIONS = ["subject", "aesthetics", "camera", "editing", "narrative", "dissemination"];
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("sv6d-api-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("sv6d-api-key", keyInput.value); loadVideos(); });

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (keyInput.value) h["X-API-Key"] = keyInput.value;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const res = await fetch(path, opts);
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(`${res.status}: ${detail}`);
  }
  return res;
}

function status(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

function buildWeights() {
  const box = $("weights");
  for (const d of DIMENSIONS) {
    const label = document.createElement("label");
    label.innerHTML = `<span>${d}</span><input type="range" min="0" max="3" step="0.1" value="1" data-dim="${d}"><output>1.0</output>`;
    const input = label.querySelector("input");
    input.addEventListener("input", () => { label.querySelector("output").textContent = Number(input.value).toFixed(1); });
    box.appendChild(label);
  }
}

function weights() {
  const w = {};
  document.querySelectorAll("#weights input").forEach((i) => { w[i.dataset.dim] = Number(i.value); });
  return w;
}

async function loadVideos() {
  try {
    const data = await (await api("/v1/videos?limit=1000")).json();
    const sel = $("video-select");
    sel.innerHTML = "";
    for (const id of data.video_ids) {
      const o = document.createElement("option");
      o.value = id; o.textContent = id;
      sel.appendChild(o);
    }
    status(`${data.total} videos stored`);
  } catch (e) { status(`cannot list videos: ${e.message}`, true); }
}

async function search() {
  const k = Number($("k").value) || 8;
  const clip = $("clip").files[0];
  status("searching…");
  $("results").innerHTML = "";
  try {
    let res;
    if (clip) {
      const form = new FormData();
      form.append("clip", clip);
      form.append("params", JSON.stringify({ k, weights: weights() }));
      res = await api("/v1/search/hooks", { method: "POST", body: form });
    } else {
      const videoId = $("video-select").value;
      if (!videoId) { status("choose a video or upload a clip", true); return; }
      res = await api("/v1/search/hooks", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ video_id: videoId, k, weights: weights() }),
      });
    }
    const data = await res.json();
    status(`${data.hits.length} similar hooks`);
    for (const hit of data.hits) $("results").appendChild(card(hit));
  } catch (e) { status(`search failed: ${e.message}`, true); }
}

function card(hit) {
  const el = document.createElement("article");
  el.className = "card";
  el.dataset.videoId = hit.video_id;
  const [start, end] = hit.window || [0, 3];
  el.innerHTML = `<h3><span>${escapeHtml(hit.video_id)}</span><span>${hit.score.toFixed(3)}</span></h3>
    <img class="strip" alt="hook ${start.toFixed(1)}–${end.toFixed(1)} s">
    <div class="bars"></div><div class="timeline"></div>
    <div class="tags">shared: ${hit.shared_tags.map((t) => escapeHtml(`${t.dimension}:${t.label}`)).join(", ") || "none"}</div>`;
  const bars = el.querySelector(".bars");
  for (const d of DIMENSIONS) {
    const s = hit.scores[d] || 0;
    const row = document.createElement("div");
    row.className = "bar";
    const width = Math.min(50, Math.abs(s) * 50);
    const left = s >= 0 ? 50 : 50 - width;
    row.innerHTML = `<span>${d}</span><span class="track"><span class="fill${s < 0 ? " neg" : ""}" style="left:${left}%;width:${width}%"></span></span><span>${s.toFixed(2)}</span>`;
    bars.appendChild(row);
  }
  loadThumb(el.querySelector("img"), hit.video_id, start, end);
  drawTimeline(el.querySelector(".timeline"), hit);
  return el;
}

async function loadThumb(img, id, start, end) {
  try {
    const res = await api(`/v1/videos/${encodeURIComponent(id)}/thumbs?start=${start}&end=${end}&n=4`);
    img.src = URL.createObjectURL(await res.blob());
  } catch (e) { img.alt = "no thumbnails (media not available)"; }
}

async function drawTimeline(box, hit) {
  try {
    const video = await (await api(`/v1/videos/${encodeURIComponent(hit.video_id)}`)).json();
    const span = Math.max(video.duration_s, 0.001);
    const shared = new Set(hit.shared_tags.map((t) => `${t.dimension}:${t.label}`));
    const [h0, h1] = video.hook_window;
    const hook = document.createElement("div");
    hook.className = "hook";
    hook.style.left = `${(100 * h0) / span}%`;
    hook.style.width = `${(100 * (h1 - h0)) / span}%`;
    box.appendChild(hook);
    video.tags.forEach((t, i) => {
      const el = document.createElement("div");
      const key = `${t.dimension}:${t.label}`;
      el.className = "tag" + (shared.has(key) ? " shared" : "");
      el.title = `${key} ${t.start_s.toFixed(2)}–${t.end_s.toFixed(2)} s`;
      el.textContent = t.label;
      el.style.left = `${(100 * t.start_s) / span}%`;
      el.style.width = `${Math.max(1, (100 * (t.end_s - t.start_s)) / span)}%`;
      el.style.top = `${2 + (i % 3) * 14}px`;
      box.appendChild(el);
    });
  } catch (e) { box.textContent = "timeline unavailable"; }
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

buildWeights();
$("search").addEventListener("click", search);
loadVideos();
