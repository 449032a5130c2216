// The ops dashboard: fetch /dashboard/data every few seconds and show it.
// Every figure comes from that one call; nothing is computed here but formatting.
"use strict";

const REFRESH_MS = 5000;
const number = new Intl.NumberFormat("en");
const money = new Intl.NumberFormat("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

function available(id, value) {
  // A section is either figures ({state: "available", ...}) or {state: "n/a", reason}.
  const element = document.getElementById(`${id}-value`);
  const ok = value.state === "available";
  element.classList.toggle("unavailable", !ok);
  element.title = ok ? "" : value.reason;
  if (!ok) {
    element.textContent = "not available";
    document.querySelector(`#${id} tbody`).replaceChildren();
  }
  return ok;
}

function showReviewQueue(queue) {
  if (!available("review-queue", queue)) return;
  document.getElementById("review-queue-value").textContent =
    number.format(queue.length) + (queue.complete ? "" : "+");
  const body = document.querySelector("#review-queue tbody");
  body.replaceChildren();
  for (const item of queue.oldest) {
    const row = body.insertRow();
    cell(row, item.order_id);
    cell(row, item.customer_id);
    cell(row, money.format(item.amount_cents / 100), "num");
    cell(row, item.since.slice(0, 16).replace("T", " "));
  }
}

function showBacklog(backlog) {
  if (!available("backlog", backlog)) return;
  document.getElementById("backlog-value").textContent =
    `${number.format(backlog.lines)} lines, ${number.format(backlog.units)} units`;
  const body = document.querySelector("#backlog tbody");
  body.replaceChildren();
  for (const location of backlog.locations) {
    const row = body.insertRow();
    cell(row, location.location);
    for (const field of ["orders", "lines", "units"]) {
      cell(row, number.format(location[field]), "num");
    }
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
    showReviewQueue(data.review_queue);
    showBacklog(data.backlog);
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
