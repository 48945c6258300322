// The operator console: polls /console/data and redraws. No libraries, nothing from outside.
"use strict";

const POLL_MS = 2000;
const HISTORY = 150; // samples kept for the chart: five minutes at one every two seconds
const history = [];
let previous = null;

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tbody, rows, columns) {
  tbody.replaceChildren();
  for (const item of rows) {
    const row = tbody.insertRow();
    for (const [value, className] of columns(item)) cell(row, value, className);
  }
}

function points(values, height) {
  const top = Math.max(...values, 1);
  const step = 600 / Math.max(HISTORY - 1, 1);
  return values
    .map((value, index) => `${(index * step).toFixed(1)},${(height - (value / top) * (height - 8)).toFixed(1)}`)
    .join(" ");
}

function drawRates(totals, now) {
  if (previous) {
    const seconds = (now - previous.at) / 1000;
    const jobs = totals.jobs_completed - previous.totals.jobs_completed;
    const lagCount = totals.apply_lag_count - previous.totals.apply_lag_count;
    const lagSum = totals.apply_lag_sum - previous.totals.apply_lag_sum;
    const rate = seconds > 0 ? jobs / seconds : 0;
    const lagMs = lagCount > 0 ? (lagSum / lagCount) * 1000 : 0;
    history.push({ rate, lagMs });
    if (history.length > HISTORY) history.shift();
    document.getElementById("throughput").textContent = rate.toFixed(1);
    document.getElementById("lag").textContent = lagCount > 0 ? `${lagMs.toFixed(1)} ms` : "–";
    document.getElementById("throughput-line").setAttribute("points", points(history.map((h) => h.rate), 160));
    document.getElementById("lag-line").setAttribute("points", points(history.map((h) => h.lagMs), 160));
  }
  previous = { totals, at: now };
}

function render(data) {
  const badge = document.getElementById("health");
  badge.textContent = data.health.ok ? "healthy" : "not healthy";
  badge.className = `badge ${data.health.ok ? "ok" : "down"}`;
  const checks = ["database", "redis", "workers"].map((name) => ({ name, ...data.health[name] }));
  fill(document.querySelector("#checks tbody"), checks, (check) => [
    [check.name],
    [check.ok ? "ok" : "down", check.ok ? "ok" : "down"],
    [check.alive !== undefined ? `${check.alive} alive` : check.detail || ""],
  ]);
  fill(document.querySelector("#partitions tbody"), data.partitions, (p) => [
    [p.partition, "number"],
    [p.owner || "none"],
    [p.backlog, "number"],
  ]);
  fill(document.querySelector("#failures tbody"), data.recent_failures, (job) => [
    [job.job_id],
    [job.type],
    [job.account_number],
    [job.amount, "number"],
    [job.error ? job.error.type : ""],
    [job.completed_at ? new Date(job.completed_at).toLocaleTimeString() : ""],
  ]);
  drawRates(data.totals, Date.now());
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

// With ATM_AUTH=required the data needs an API key with the read scope: asked for once,
// kept for this browser tab only.
function apiKeyHeaders() {
  const key = sessionStorage.getItem("atmApiKey");
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function poll() {
  try {
    const response = await fetch("/console/data", { cache: "no-store", headers: apiKeyHeaders() });
    if (response.status === 401 || response.status === 403) {
      const key = window.prompt("An API key with the read scope, for the console:");
      if (key) sessionStorage.setItem("atmApiKey", key.trim());
      throw new Error("no API key");
    }
    const body = await response.json();
    render(body.data);
  } catch (error) {
    const badge = document.getElementById("health");
    badge.textContent = "API unreachable";
    badge.className = "badge down";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
