// The ops dashboard: fetch /dashboard/data every few seconds and show it.
// Every figure comes from that one call; nothing is computed here but formatting.
"use strict";

const REFRESH_MS = 5000;
const number = new Intl.NumberFormat("en");

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

function section(id, value) {
  // A section is either figures or {state: "n/a", reason}: say so plainly.
  const element = document.getElementById(id);
  if (value.state === "n/a") {
    element.textContent = "not available";
    element.title = value.reason;
    element.classList.add("unavailable");
  }
}

function showFunnel(funnel) {
  for (const stage of ["placed", "confirmed", "shipped"]) {
    document.getElementById(`funnel-${stage}`).textContent = number.format(funnel[stage]);
  }
  const parts = Object.entries(funnel.by_status).map(([s, n]) => `${s.replaceAll("_", " ")} ${number.format(n)}`);
  document.getElementById("funnel-by-status").textContent =
    (funnel.complete ? "" : "(partial) ") + "now: " + parts.join(" · ");
}

function showStock(stock) {
  const body = document.querySelector("#stock tbody");
  body.replaceChildren();
  for (const slot of stock.rows) {
    const row = body.insertRow();
    row.className = slot.level;
    row.dataset.level = slot.level;
    cell(row, slot.sku);
    cell(row, slot.location);
    for (const field of ["on_hand", "reserved", "safety_stock", "available"]) {
      cell(row, number.format(slot[field]), "num");
    }
  }
  const shown = stock.rows.length < stock.slots ? ` (lowest ${stock.rows.length} shown)` : "";
  document.getElementById("stock-summary").textContent =
    `${number.format(stock.slots)} slots${stock.complete ? "" : "+"}: ` +
    `${number.format(stock.below_safety)} below safety stock, ` +
    `${number.format(stock.low)} low (available under ${number.format(stock.low_below)})${shown}`;
}

function showLag(lag) {
  const body = document.querySelector("#lag tbody");
  body.replaceChildren();
  for (const p of lag) {
    const row = body.insertRow();
    row.dataset.projection = p.projection;
    if (p.lag > 0) row.className = "behind";
    cell(row, p.projection);
    cell(row, number.format(p.checkpoint), "num");
    cell(row, number.format(p.head), "num");
    cell(row, number.format(p.lag), "num lag");
  }
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/dashboard/data", { cache: "no-store" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || data.detail || response.statusText);
    showFunnel(data.funnel);
    showStock(data.stock);
    showLag(data.lag);
    section("review-queue-value", data.review_queue);
    section("backlog-value", data.backlog);
    status.textContent = `as of ${data.generated_at}, every ${REFRESH_MS / 1000} s`;
    status.classList.remove("error");
    document.body.dataset.generatedAt = data.generated_at;
  } catch (error) {
    status.textContent = `cannot refresh: ${error.message}`;
    status.classList.add("error");
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
