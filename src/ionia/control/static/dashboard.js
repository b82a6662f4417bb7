// The dashboard: reads /api/v1/events (2 Hz statistics + events), draws uPlot charts and
// sends the controls to the API. The session cookie authenticates every request; the page
// never sees the token.
"use strict";

const API = "/api/v1";
const WINDOW = 120; // points kept: 60 s at 2 Hz
const $ = (id) => document.getElementById(id);

function series(...labels) {
  return [{}].concat(labels.map(([label, stroke, dash]) => ({ label, stroke, width: 2, dash })));
}

function chart(id, title, labels, unit) {
  const el = $(id);
  const opts = {
    title,
    width: Math.max(320, el.clientWidth || 480),
    height: 180,
    scales: { x: { time: true } },
    series: series(...labels),
    axes: [{}, { label: unit, size: 60 }],
    legend: { live: false },
  };
  const data = [[]].concat(labels.map(() => []));
  return { plot: new uPlot(opts, data, el), data };
}

const charts = {
  bitrate: chart("chart-bitrate", "Video bitrate", [["target", "#1565c0", [6, 4]], ["on the wire", "#2e7d32"]], "kbit/s"),
  fps: chart("chart-fps", "Frame rate", [["target", "#1565c0", [6, 4]], ["encoded", "#2e7d32"]], "fps"),
  buffer: chart("chart-buffer", "Send-buffer latency", [["limit", "#c62828", [6, 4]], ["queued", "#ef6c00"]], "ms"),
  drops: chart("chart-drops", "Drops and reconnects", [["video dropped", "#c62828"], ["frames late", "#ef6c00"], ["reconnects", "#6a1b9a"]], "count"),
};

function push(c, t, values) {
  c.data[0].push(t);
  values.forEach((v, i) => c.data[i + 1].push(v));
  if (c.data[0].length > WINDOW) c.data.forEach((s) => s.shift());
  c.plot.setData(c.data);
}

function text(id, value) {
  $(id).textContent = value;
}

function showStats(message) {
  const s = message.data;
  const t = message.at;
  text("state", s.state);
  $("state").className = "state " + s.state;
  text("uptime", s.running ? `up ${Math.round(s.uptime_s)} s` : "");
  text("bitrate-now", s.bitrate_kbps.toFixed(0));
  text("bitrate-target", (s.video_bitrate_target / 1000).toFixed(0));
  text("fps", s.encoder_fps.toFixed(1));
  text("buffer", s.buffer_latency_ms);
  text("bytes-sent", s.bytes_sent.toLocaleString("en"));
  text("dropped", s.video_packets_dropped);
  text("reconnects", s.reconnects);
  text("encoder", s.encoder || "–");
  push(charts.bitrate, t, [s.video_bitrate_target / 1000, s.bitrate_kbps]);
  push(charts.fps, t, [s.fps, s.encoder_fps]);
  push(charts.buffer, t, [s.buffer_limit_ms, s.buffer_latency_ms]);
  push(charts.drops, t, [s.video_packets_dropped, s.frames_late, s.reconnects]);
  const body = $("destinations").tBodies[0];
  body.replaceChildren(...s.destinations.map((d, i) => row(d, message.lights[i])));
}

function cell(value, cls) {
  const td = document.createElement("td");
  td.textContent = value;
  if (cls) td.className = cls;
  return td;
}

function row(d, light) {
  const tr = document.createElement("tr");
  const dot = document.createElement("span");
  dot.className = "light " + light;
  dot.title = light;
  const first = document.createElement("td");
  first.append(dot);
  tr.append(first, cell(d.destination), cell(d.bitrate_kbps.toFixed(0), "num"),
    cell(d.buffer_latency_ms, "num"), cell(d.video_packets_dropped, "num"),
    cell(d.reconnects, "num"), cell(d.last_error));
  return tr;
}

function showEvent(e) {
  const li = document.createElement("li");
  const when = new Date().toLocaleTimeString();
  li.textContent = `${when} ${e.event} ${e.destination} ${e.detail}`.trim();
  $("events").prepend(li);
  while ($("events").children.length > 50) $("events").lastChild.remove();
}

async function command(path, body) {
  text("message", path + "…");
  try {
    const response = await fetch(API + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const reply = await response.json();
    text("message", response.ok ? `${path}: ok` : `${path}: ${reply.error.message}`);
  } catch (err) {
    text("message", `${path}: ${err}`);
  }
}

$("start").addEventListener("click", () => command("/start"));
$("stop").addEventListener("click", () => command("/stop"));
$("keyframe").addEventListener("click", () => command("/keyframe"));
$("set-bitrate").addEventListener("click", () =>
  command("/bitrate", { video_bitrate: $("bitrate").value.trim() }));

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${API}/events`);
  ws.onopen = () => text("link", "");
  ws.onmessage = (m) => {
    const message = JSON.parse(m.data);
    if (message.type === "stats") showStats(message);
    else if (message.type === "event") showEvent(message);
  };
  ws.onclose = () => {
    text("link", "event stream lost: retrying");
    setTimeout(connect, 1000);
  };
}
connect();
