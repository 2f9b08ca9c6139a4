// The cluster page: drawn from the REST API, then kept live by the Server-Sent Events of
// /events (no reload). Actions go through the same REST routes as any client's, and their
// result or fault is shown on the row they were clicked on. Served by raftvisord itself: no
// framework, no CDN.
"use strict";

const state = { processes: new Map(), instances: new Map(), applications: new Map() };

async function rest(method, path) {
  const response = await fetch(path, { method, credentials: "same-origin" });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.message ? body.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

function namespec(p) {
  return p.application_name === p.process_name ? p.process_name
    : `${p.application_name}:${p.process_name}`;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function drawHeader(s) {
  const badge = document.getElementById("state");
  badge.textContent = s.fsm_statename;
  badge.dataset.state = s.fsm_statename;
}

function drawInstance(info) {
  state.instances.set(info.identifier, info);
  let card = document.querySelector(`.card[data-identifier="${CSS.escape(info.identifier)}"]`);
  if (!card) {
    card = document.createElement("div");
    card.dataset.identifier = info.identifier;
    const h = document.createElement("h3");
    const link = document.createElement("a");
    link.href = `#instance/${encodeURIComponent(info.identifier)}`;
    link.textContent = info.identifier;
    h.appendChild(link);
    card.appendChild(h);
    for (const key of ["statename", "loading", "processes"]) {
      const line = document.createElement("div");
      line.dataset.key = key;
      card.appendChild(line);
    }
    const cards = document.getElementById("instances");
    const after = [...cards.children].find((c) => c.dataset.identifier > info.identifier);
    cards.insertBefore(card, after || null);
  }
  if (info.identifier === shownInstance) drawInstanceHeader();
  card.className = `card ${info.statename}`;
  card.querySelector('[data-key="statename"]').textContent = info.statename;
  card.querySelector('[data-key="loading"]').textContent = `load ${info.loading} %`;
  countProcesses();
}

function countProcesses() {
  for (const card of document.querySelectorAll(".card")) {
    let n = 0;
    for (const p of state.processes.values()) {
      if (p.statecode !== -1 && (p.identifiers || []).includes(card.dataset.identifier)) n += 1;
    }
    card.querySelector('[data-key="processes"]').textContent = `${n} process${n === 1 ? "" : "es"}`;
  }
}

function drawApplication(app) {
  state.applications.set(app.application_name, app);
  if (app.application_name === shownApplication) drawApplicationView();
  const body = document.querySelector("#applications tbody");
  let row = body.querySelector(`tr[data-name="${CSS.escape(app.application_name)}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.name = app.application_name;
    const after = [...body.children].find((r) => r.dataset.name > app.application_name);
    body.insertBefore(row, after || null);
  }
  row.className = app.statename;
  row.replaceChildren();
  const name = cell(row, "");
  const link = document.createElement("a");
  link.href = `#application/${encodeURIComponent(app.application_name)}`;
  link.textContent = app.application_name;
  name.appendChild(link);
  cell(row, app.statename, "state");
  cell(row, app.managed ? "yes" : "no");
  cell(row, app.major_failure ? "major" : app.minor_failure ? "minor" : "");
}

async function act(button, result, method, path) {
  result.textContent = "…";
  result.className = "result";
  button.disabled = true;
  try {
    const answer = await rest(method, path);
    result.textContent = JSON.stringify(answer);
  } catch (e) {
    result.textContent = e.message;
    result.className = "result fault";
  } finally {
    button.disabled = false;
  }
}

// Start, stop and restart of one process where Supvisors' rules place it (the same REST
// routes as any client's). The buttons of a table share one listener (`processActions`): a
// thousand rows, not three thousand closures.
function processButtons(actions) {
  for (const label of ["start", "stop", "restart"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.dataset.action = label;
    actions.appendChild(button);
  }
}

// The click on a process button of `table`'s rows, with the starting strategy `strategy()`
// gives; `done` is told of the result cell once answered.
function processActions(table, strategy, done) {
  document.querySelector(`${table} tbody`).addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const result = row.querySelector("td.result");
    const path = encodeURIComponent(row.dataset.namespec);
    const route = {
      start: () => `/supvisors/start_process/${strategy()}/${path}?wait=false`,
      stop: () => `/supvisors/stop_process/${path}?wait=false`,
      restart: () => `/supvisors/restart_process/${strategy()}/${path}?wait=false`,
    }[button.dataset.action];
    if (!route) return;
    await act(button, result, "POST", route());
    if (done) done(row.dataset.namespec, result);
  });
}

processActions("#processes", () => "CONFIG");
processActions("#app-processes", () => document.getElementById("app-strategy").value,
  (name, result) => appResults.set(name, result.textContent));

// The process rows by namespec: a thousand processes must not mean a thousand selector
// searches per event.
const processRows = new Map();

function processRow(name) {
  const row = document.createElement("tr");
  row.dataset.namespec = name;
  cell(row, name);
  row.stateCell = cell(row, "", "state");
  row.instancesCell = cell(row, "", "instances");
  processButtons(cell(row, ""));
  cell(row, "", "result");
  processRows.set(name, row);
  return row;
}

function fillProcess(row, p) {
  row.className = p.statename;
  row.stateCell.textContent = p.statename;
  row.instancesCell.textContent = (p.identifiers || []).join(", ");
}

// The first drawing of every process: rows built in name order and added at once.
function drawAllProcesses(list) {
  const body = document.querySelector("#processes tbody");
  const fragment = document.createDocumentFragment();
  const named = list.filter((p) => p.statecode !== -1).map((p) => [namespec(p), p])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [name, p] of named) {
    if (processRows.has(name)) continue; // an event drew it first
    state.processes.set(name, p);
    const row = processRow(name);
    fillProcess(row, p);
    fragment.appendChild(row);
  }
  const drawnBefore = body.children.length;
  body.appendChild(fragment);
  if (drawnBefore > 0) sortProcessRows(body);
  named.forEach(([name, p]) => drawConflict(name, p));
  countProcesses();
}

function sortProcessRows(body) {
  const rows = [...body.children];
  const sorted = [...rows].sort((a, b) => (a.dataset.namespec < b.dataset.namespec ? -1 : 1));
  if (sorted.some((r, i) => r !== rows[i])) body.append(...sorted);
}

function drawProcess(p) {
  const name = namespec(p);
  const body = document.querySelector("#processes tbody");
  let row = processRows.get(name);
  if (p.statecode === -1) {
    state.processes.delete(name);
    if (row) row.remove();
    processRows.delete(name);
    countProcesses();
    drawConflict(name, null);
    return;
  }
  state.processes.set(name, p);
  if (!row) {
    row = processRow(name);
    const after = [...body.children].find((r) => r.dataset.namespec > name);
    body.insertBefore(row, after || null);
  }
  fillProcess(row, p);
  countProcesses();
  drawConflict(name, p);
  if (p.application_name === shownApplication) drawApplicationView();
}

// Conflicts: a process that runs on more than one instance gets a row with a "keep" and a
// "stop" button per instance (the copies are stopped on their own instances), and the
// conciliation strategies apply to all of them at once (supvisors.conciliate).
function drawConflict(name, p) {
  const body = document.querySelector("#conflicts tbody");
  let row = body.querySelector(`tr[data-namespec="${CSS.escape(name)}"]`);
  const where = p ? p.identifiers || [] : [];
  if (where.length < 2) {
    if (row) row.remove();
  } else {
    if (!row) {
      row = document.createElement("tr");
      row.dataset.namespec = name;
      const after = [...body.children].find((r) => r.dataset.namespec > name);
      body.insertBefore(row, after || null);
    }
    if (row.dataset.where !== where.join(",")) {
      row.dataset.where = where.join(",");
      row.replaceChildren();
      cell(row, name);
      cell(row, where.join(", "), "instances");
      const actions = cell(row, "");
      const result = document.createElement("td");
      result.className = "result";
      const stop = (ids) => Promise.all(ids.map((id) => rest("POST",
        `/supvisors/instance_stop_process/${encodeURIComponent(id)}/${encodeURIComponent(name)}`)));
      for (const id of where) {
        for (const [label, others] of [[`keep ${id}`, where.filter((o) => o !== id)],
          [`stop ${id}`, [id]]]) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = label;
          button.dataset.action = label;
          button.addEventListener("click", async () => {
            button.disabled = true;
            result.className = "result";
            try {
              await stop(others);
              result.textContent = "true";
            } catch (e) {
              result.textContent = e.message;
              result.className = "result fault";
            } finally {
              button.disabled = false;
            }
          });
          actions.appendChild(button);
        }
      }
      row.appendChild(result);
    }
  }
  document.getElementById("conflicts-section").hidden = body.children.length === 0;
}

document.getElementById("conciliate").addEventListener("click", (e) => {
  const strategy = document.getElementById("conciliation-strategy").value;
  act(e.target, document.getElementById("conciliate-result"), "POST",
    `/supvisors/conciliate/${strategy}`);
});

for (const [id, what] of [["cluster-restart", "restart"], ["cluster-shutdown", "shutdown"]]) {
  document.getElementById(id).addEventListener("click", (e) => {
    if (!window.confirm(`${what === "restart" ? "Restart" : "Shut down"} the whole cluster: `
      + "every application stopped, every daemon " + (what === "restart" ? "restarted" : "ended") + "?")) return;
    act(e.target, document.getElementById("cluster-result"), "POST", `/supvisors/${what}`);
  });
}

// The application view (#application/<name>): its rules, its state, its processes across
// the instances, and start/stop/restart of the whole application with a starting strategy.
let shownApplication = null;

function drawApplicationView() {
  const app = state.applications.get(shownApplication);
  const badge = document.getElementById("app-state");
  badge.textContent = app ? app.statename : "unknown";
  const body = document.querySelector("#app-processes tbody");
  body.replaceChildren();
  const names = [...state.processes.keys()].sort();
  for (const name of names) {
    const p = state.processes.get(name);
    if (p.application_name !== shownApplication) continue;
    const row = document.createElement("tr");
    row.dataset.namespec = name;
    row.className = p.statename;
    cell(row, name);
    cell(row, p.statename, "state");
    cell(row, (p.identifiers || []).join(", "), "instances");
    processButtons(cell(row, ""));
    cell(row, appResults.get(name) || "", "result");
    body.appendChild(row);
  }
}

const appResults = new Map();

async function showApplication(name) {
  shownApplication = name;
  appResults.clear();
  document.getElementById("app-name").textContent = name;
  document.getElementById("app-result").textContent = "";
  const rules = document.getElementById("app-rules");
  rules.replaceChildren();
  drawApplicationView();
  try {
    const r = await rest("GET", `/supvisors/application_rules/${encodeURIComponent(name)}`);
    for (const [key, value] of Object.entries(r)) {
      if (key === "application_name") continue;
      const dt = document.createElement("dt");
      dt.textContent = key;
      const dd = document.createElement("dd");
      dd.textContent = Array.isArray(value) ? value.join(", ") : String(value);
      dd.dataset.rule = key;
      rules.append(dt, dd);
    }
    if (r.starting_strategy) document.getElementById("app-strategy").value = r.starting_strategy;
  } catch (e) {
    rules.textContent = e.message;
  }
}

// The instance view (#instance/<identifier>), for any instance from any instance: its
// processes as the cluster knows them (the replica, over REST), with pid and uptime.
let shownInstance = null;
let instanceProcesses = [];

function uptime(p) {
  if (p.statename !== "RUNNING" || !p.start) return "";
  let s = Math.max(0, Math.floor(Date.now() / 1000) - p.start);
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

function drawInstanceHeader() {
  const info = state.instances.get(shownInstance);
  document.getElementById("inst-state").textContent = info ? info.statename : "unknown";
  document.getElementById("inst-load").textContent = info ? `load ${info.loading} %` : "";
}

function drawInstanceProcesses() {
  const body = document.querySelector("#inst-processes tbody");
  body.replaceChildren();
  for (const p of instanceProcesses) {
    const row = document.createElement("tr");
    row.dataset.namespec = p.group === p.name ? p.name : `${p.group}:${p.name}`;
    row.className = p.statename;
    cell(row, row.dataset.namespec);
    cell(row, p.statename, "state");
    cell(row, p.pid ? String(p.pid) : "", "pid");
    cell(row, uptime(p), "uptime");
    const figure = processFigures.get(row.dataset.namespec);
    cell(row, figure && p.statename === "RUNNING" ? `${figure.cpu.toFixed(1)} %` : "", "cpu");
    cell(row, figure && p.statename === "RUNNING" ? `${figure.mem.toFixed(2)} %` : "", "mem");
    // Supervisor's description of a running process is its pid and uptime as of its last
    // report: the columns say it, live.
    cell(row, p.statename === "RUNNING" ? "" : p.description || p.spawnerr || "");
    const actions = cell(row, "", "actions");
    const result = cell(row, instanceResults.get(row.dataset.namespec) || "", "result");
    const target = `${encodeURIComponent(shownInstance)}/${encodeURIComponent(row.dataset.namespec)}`;
    for (const [label, route] of [
      ["start", `/supvisors/instance_start_process/${target}`],
      ["stop", `/supvisors/instance_stop_process/${target}`],
      ["restart", `/supvisors/instance_restart_process/${target}`],
      ["clear log", `/supvisors/instance_clear_process_logs/${target}`],
    ]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.action = label;
      const ns = row.dataset.namespec;
      button.addEventListener("click", async () => {
        await act(button, result, "POST", route);
        instanceResults.set(ns, result.textContent);
        if (label === "clear log" && tailing && tailing.namespec === ns) startTail(ns, tailing.channel);
      });
      actions.appendChild(button);
    }
    for (const channel of ["stdout", "stderr"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = channel;
      button.dataset.action = channel;
      button.title = `follow its ${channel}`;
      button.addEventListener("click", () => startTail(row.dataset.namespec, channel));
      actions.appendChild(button);
    }
    body.appendChild(row);
  }
}

// A process's log on the instance shown, followed as it grows: its tail read again every
// second from the offset reached (Supervisor's tailProcessStdoutLog, relayed to that instance).
const instanceResults = new Map();
let tailing = null;
const TAIL_KEEP = 64 * 1024;

function stopTail() {
  tailing = null;
  document.getElementById("proc-log-panel").hidden = true;
}

async function startTail(ns, channel) {
  const me = { identifier: shownInstance, namespec: ns, channel, offset: 0 };
  tailing = me;
  const pre = document.getElementById("proc-log");
  pre.textContent = "";
  document.getElementById("proc-log-name").textContent = `${ns} (${channel}) on ${me.identifier}`;
  document.getElementById("proc-log-panel").hidden = false;
  const path = () => `/supvisors/instance_process_log/${encodeURIComponent(me.identifier)}/`
    + `${encodeURIComponent(ns)}/${channel}/${me.offset}/${me.offset ? TAIL_KEEP : 16384}`;
  // Each answer is what came since the offset reached.
  while (tailing === me) {
    try {
      const [text, offset, overflow] = await rest("GET", path());
      if (tailing !== me) break;
      if (overflow && me.offset) pre.textContent += "\n[…]\n";
      me.offset = offset;
      if (text) {
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = (pre.textContent + text).slice(-TAIL_KEEP);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
    } catch (e) {
      if (tailing === me) pre.textContent += `\n${e.message}\n`;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

document.getElementById("proc-log-close").addEventListener("click", stopTail);

async function refreshInstance() {
  if (!shownInstance) return;
  const name = shownInstance;
  try {
    const list = await rest("GET", `/supvisors/all_inner_process_info/${encodeURIComponent(name)}`);
    if (name === shownInstance) {
      instanceProcesses = list;
      drawInstanceProcesses();
    }
  } catch (e) {
    document.querySelector("#inst-processes tbody").textContent = e.message;
  }
}

// Statistics of the instance shown: its processes' latest CPU and memory, its host's figures
// over the first of the statistics periods (the REST reads, then the hstats/pstats events).
// CPU is shown as this daemon's stats_irix_mode says: the events give it in IRIX mode, so a
// Solaris figure is the event's divided by the host's cores.
let statsStatus = null;
let hostFigures = [];
const processFigures = new Map();
const SVG = "http://www.w3.org/2000/svg";

function statsPeriod() {
  return statsStatus && statsStatus.periods.length ? statsStatus.periods[0] : null;
}

function cpuShown(identifier, irixCpu) {
  if (!statsStatus || statsStatus.irix_mode) return irixCpu;
  return irixCpu / (statsStatus.nb_cores[identifier] || 1);
}

// One chart: a polyline per series over the figures' end times, scaled to 100 (percentages)
// or to the largest value; the legend names the series and their latest values.
function chart(name, times, series, percent) {
  const svg = document.getElementById(`chart-${name}`);
  const legend = document.getElementById(`legend-${name}`);
  svg.replaceChildren();
  const values = series.flatMap((s) => s.values).filter(Number.isFinite);
  const top = percent ? 100 : Math.max(1, ...values) * 1.1;
  const t0 = times[0];
  const span = Math.max(1e-9, times[times.length - 1] - t0);
  const colours = ["#3b6fd8", "#18844a", "#c4342b", "#a77d00", "#7a4fd0", "#0f8b8d"];
  series.forEach((s, i) => {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", s.values.map((v, j) => {
      const x = times.length > 1 ? ((times[j] - t0) / span) * 300 : 150;
      return `${x.toFixed(1)},${(100 - (Math.min(v, top) / top) * 100).toFixed(1)}`;
    }).join(" "));
    line.setAttribute("stroke", colours[i % colours.length]);
    if (s.main) line.classList.add("main");
    const title = document.createElementNS(SVG, "title");
    title.textContent = s.name;
    line.appendChild(title);
    svg.appendChild(line);
  });
  legend.textContent = series.filter((s) => s.main || series.length <= 6)
    .map((s) => `${s.name} ${s.values.length ? s.values[s.values.length - 1].toFixed(1) : ""}`)
    .join(" · ") + (percent ? "" : ` (top ${top.toFixed(0)})`);
}

function ioSeries(key) {
  const names = [...new Set(hostFigures.flatMap((h) => Object.keys(h[key] || {})))].sort();
  return names.map((n) => ({
    name: n,
    values: hostFigures.map((h) => (h[key] && h[key][n] ? h[key][n][0] + h[key][n][1] : 0)),
  }));
}

function drawHost() {
  const none = hostFigures.length === 0;
  document.getElementById("host-none").hidden = !none;
  document.getElementById("host-charts").hidden = none;
  document.getElementById("host-usage").hidden = none;
  if (none) return;
  const last = hostFigures[hostFigures.length - 1];
  document.getElementById("host-summary").textContent =
    `CPU ${last.cpu[0].toFixed(1)} %, memory ${last.mem.toFixed(1)} %, over ${last.target_period} s`;
  const times = hostFigures.map((h) => h.period[1]);
  const cores = last.cpu.length - 1;
  chart("cpu", times, [{ name: "average", main: true, values: hostFigures.map((h) => h.cpu[0]) }]
    .concat(Array.from({ length: cores }, (_, c) => ({
      name: `core ${c}`, values: hostFigures.map((h) => h.cpu[c + 1] || 0),
    }))), true);
  chart("mem", times, [{ name: "used", main: true, values: hostFigures.map((h) => h.mem) }], true);
  chart("net", times, ioSeries("net_io"), false);
  chart("disk", times, ioSeries("disk_io"), false);
  const body = document.querySelector("#host-usage tbody");
  body.replaceChildren();
  for (const [partition, used] of Object.entries(last.disk_usage || {})) {
    const row = document.createElement("tr");
    cell(row, partition);
    cell(row, `${used.toFixed(1)} %`);
    body.appendChild(row);
  }
}

async function refreshStatistics() {
  const name = shownInstance;
  try {
    statsStatus = await rest("GET", "/supvisors/statistics_status");
    const period = statsPeriod();
    if (period === null || name !== shownInstance) return;
    const [host, processes] = await Promise.all([
      rest("GET", `/supvisors/host_statistics/${encodeURIComponent(name)}/${period}`),
      rest("GET", `/supvisors/all_process_statistics/${period}`),
    ]);
    if (name !== shownInstance) return;
    hostFigures = host;
    processFigures.clear();
    for (const p of processes) {
      if (p.identifier === name) processFigures.set(p.namespec, p);
    }
    drawHost();
    drawInstanceProcesses();
  } catch (e) {
    document.getElementById("host-summary").textContent = e.message;
  }
}

function onHostFigure(h) {
  if (h.identifier !== shownInstance || h.target_period !== statsPeriod()) return;
  hostFigures.push(h);
  const depth = 200;
  if (hostFigures.length > depth) hostFigures.splice(0, hostFigures.length - depth);
  drawHost();
}

function onProcessFigure(p) {
  if (p.identifier !== shownInstance || p.target_period !== statsPeriod()) return;
  const figure = { cpu: cpuShown(p.identifier, p.cpu), mem: p.mem };
  processFigures.set(p.namespec, figure);
  const row = document.querySelector(`#inst-processes tr[data-namespec="${CSS.escape(p.namespec)}"]`);
  if (row) {
    row.querySelector("td.cpu").textContent = `${figure.cpu.toFixed(1)} %`;
    row.querySelector("td.mem").textContent = `${figure.mem.toFixed(2)} %`;
  }
}

function showInstance(name) {
  stopTail();
  instanceResults.clear();
  shownInstance = name;
  instanceProcesses = [];
  hostFigures = [];
  processFigures.clear();
  document.getElementById("inst-name").textContent = name;
  document.getElementById("host-summary").textContent = "";
  drawInstanceHeader();
  drawInstanceProcesses();
  drawHost();
  refreshInstance();
  refreshStatistics();
}

setInterval(() => {
  for (const row of document.querySelectorAll("#inst-processes tbody tr")) {
    const p = instanceProcesses.find((q) => (q.group === q.name ? q.name : `${q.group}:${q.name}`)
      === row.dataset.namespec);
    if (p) row.querySelector("td.uptime").textContent = uptime(p);
  }
}, 1000);

function route() {
  const app = location.hash.match(/^#application\/(.+)$/);
  const inst = location.hash.match(/^#instance\/(.+)$/);
  document.getElementById("application").hidden = !app;
  document.getElementById("instance").hidden = !inst;
  document.getElementById("cluster").hidden = Boolean(app || inst);
  shownApplication = null;
  shownInstance = null;
  stopTail();
  if (app) showApplication(decodeURIComponent(app[1]));
  if (inst) showInstance(decodeURIComponent(inst[1]));
}

for (const button of document.querySelectorAll("[data-app-action]")) {
  button.addEventListener("click", () => {
    const name = encodeURIComponent(shownApplication);
    const strategy = document.getElementById("app-strategy").value;
    const path = {
      start: `/supvisors/start_application/${strategy}/${name}?wait=false`,
      stop: `/supvisors/stop_application/${name}?wait=false`,
      restart: `/supvisors/restart_application/${strategy}/${name}?wait=false`,
    }[button.dataset.appAction];
    act(button, document.getElementById("app-result"), "POST", path);
  });
}
window.addEventListener("hashchange", route);

// The cluster's history, newest first (the latest HISTORY_SHOWN entries), filtered as typed.
const HISTORY_SHOWN = 500;

function historyMatches(row) {
  const words = document.getElementById("history-filter").value.toLowerCase().split(/\s+/)
    .filter((w) => w);
  const text = row.textContent.toLowerCase();
  return words.every((w) => text.includes(w));
}

function drawHistory(entry) {
  const body = document.querySelector("#history tbody");
  if (body.querySelector(`tr[data-seq="${entry.seq}"]`)) return;
  const row = document.createElement("tr");
  row.dataset.seq = entry.seq;
  cell(row, new Date(entry.time * 1000).toLocaleString());
  cell(row, String(entry.index));
  cell(row, entry.kind);
  cell(row, entry.user ? `${entry.instance} (${entry.user})` : entry.instance);
  cell(row, entry.text);
  row.classList.toggle("hidden", !historyMatches(row));
  const after = [...body.children].find((r) => Number(r.dataset.seq) < entry.seq);
  body.insertBefore(row, after || null);
  while (body.children.length > HISTORY_SHOWN) body.lastElementChild.remove();
}

document.getElementById("history-filter").addEventListener("input", () => {
  for (const row of document.querySelectorAll("#history tbody tr")) {
    row.classList.toggle("hidden", !historyMatches(row));
  }
});

async function load() {
  const [s, master, instances, applications, processes] = await Promise.all([
    rest("GET", "/supvisors/supvisors_state"),
    rest("GET", "/supvisors/master_identifier"),
    rest("GET", "/supvisors/all_instances_info"),
    rest("GET", "/supvisors/all_applications_info").catch(() => []),
    rest("GET", "/supvisors/all_process_info").catch(() => []),
  ]);
  drawHeader(s);
  document.getElementById("master").textContent = master || "none";
  drawAllProcesses(processes);
  instances.forEach(drawInstance);
  applications.forEach(drawApplication);
  const history = await rest("GET", "/supvisors/history").catch(() => []);
  history.slice(-HISTORY_SHOWN).forEach(drawHistory);
}

// The page's two long-lived requests (the events and this daemon's log) end when the page is
// left: a browser opens at most six connections to one server, and streams that outlive
// their page (kept in the back-forward cache) would hold those slots until the server next
// writes to them, stalling the next page's requests for as long.
const leaving = new AbortController();
window.addEventListener("pagehide", () => {
  leaving.abort();
  stopTail();
});
// Back from the back-forward cache: its streams are gone, so the page starts afresh.
window.addEventListener("pageshow", (e) => {
  if (e.persisted) location.reload();
});

function follow() {
  const live = document.getElementById("live");
  const source = new EventSource("/events");
  leaving.signal.addEventListener("abort", () => source.close());
  source.onopen = () => { live.textContent = "live"; live.classList.add("on"); };
  source.onerror = () => { live.textContent = "reconnecting"; live.classList.remove("on"); };
  const on = (header, draw) => source.addEventListener(header, (e) => draw(JSON.parse(e.data)));
  // Supvisors' events do not name the master: asked again when the cluster or an instance
  // changes (a master lost is an instance change).
  const master = () => rest("GET", "/supvisors/master_identifier")
    .then((m) => { document.getElementById("master").textContent = m || "none"; })
    .catch(() => {});
  on("supvisors", (s) => { drawHeader(s); master(); });
  on("instance", (i) => { drawInstance(i); master(); });
  on("application", drawApplication);
  on("process", drawProcess);
  on("history", drawHistory);
  on("hstats", onHostFigure);
  on("pstats", onProcessFigure);
  // A process changed on the instance shown: its list is read again.
  on("event", (e) => { if (e.identifier === shownInstance) refreshInstance(); });
}

// This daemon's log, followed as it is written (`/mainlogtail`, the last 64 KiB kept).
async function followLog() {
  const pre = document.getElementById("mainlog");
  const KEEP = 64 * 1024;
  while (!leaving.signal.aborted) {
    try {
      const response = await fetch("/mainlogtail",
        { credentials: "same-origin", signal: leaving.signal });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = (pre.textContent + value).slice(-KEEP);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
    } catch (e) {
      // The daemon went away or restarted: try again in a while.
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// Subscribe first, then draw: a change between the two is not lost (it is drawn twice).
follow();
followLog();
load()
  .then(route)
  .catch((e) => {
    document.getElementById("state").textContent = `error: ${e.message}`;
  });
