// The frontline page: talks to recoveryd's HTTP API (docs/HTTP.md) with the
// agent's own (person-bound) token. No framework, no build step.
"use strict";

const state = { server: "", token: "", hello: null, remaining: null, allowance: null };
const $ = (selector) => document.querySelector(selector);

// ---- money: integer minor units, never floats ----------------------------

// Digits after the point of ISO 4217 currencies that do not use two.
const MINOR_DIGITS = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, UGX: 0, XAF: 0, XOF: 0, BHD: 3, JOD: 3, KWD: 3, OMR: 3, TND: 3, LYD: 3, IQD: 3 };
const digitsOf = (currency) => MINOR_DIGITS[currency] ?? 2;

/** "25", "25.5", "1,025.50" → minor units (an integer), or null. */
function parseAmount(text, currency) {
  const digits = digitsOf(currency);
  const cleaned = text.trim().replace(/,/g, "");
  const match = digits === 0 ? /^(\d+)$/.exec(cleaned) : new RegExp(`^(\\d+)(?:\\.(\\d{1,${digits}}))?$`).exec(cleaned);
  if (!match) return null;
  const whole = match[1].replace(/^0+(?=\d)/, "");
  const fraction = (match[2] || "").padEnd(digits, "0");
  const minor = Number(whole + fraction);
  return Number.isSafeInteger(minor) && minor > 0 ? minor : null;
}

/** Minor units → "1,850.00 USD". */
function formatAmount(minor, currency) {
  const digits = digitsOf(currency);
  const negative = minor < 0;
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  const whole = text.slice(0, text.length - digits).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = digits ? "." + text.slice(text.length - digits) : "";
  return `${negative ? "−" : ""}${whole}${fraction} ${currency}`;
}

// ---- the API ---------------------------------------------------------------

class Refusal extends Error {
  constructor(code, detail, status) { super(detail); this.code = code; this.detail = detail; this.status = status; }
}

async function call(method, path, body) {
  const response = await fetch(state.server + path, {
    method,
    headers: { "Authorization": `Bearer ${state.token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refusal(answer.code || "internal", answer.detail || response.statusText, response.status);
  return answer;
}

function newEventID() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Records one event. A lost connection or an unavailable ledger is retried
 *  with the same event_id: the ledger records it once, whatever happens. */
async function record(event) {
  const withID = { event_id: newEventID(), agent_id: state.hello.agent, ...event };
  for (let attempt = 1; ; attempt++) {
    try {
      return await call("POST", "/v1/events", withID);
    } catch (error) {
      const retry = !(error instanceof Refusal) || error.code === "unavailable";
      if (!retry || attempt >= 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

// ---- what the agent sees -----------------------------------------------------

function say(text, kind) {
  const message = $("#message");
  message.textContent = text;
  message.className = `message ${kind}`;
}

/** A refusal in plain words. */
function plainWords(error, event) {
  const currency = state.hello?.currency || "USD";
  switch (error.code) {
    case "budget_exceeded":
      return state.remaining === null
        ? `That is more than you can give today. A supervisor can approve it from their allowance. (${error.detail})`
        : `That is more than you can give today: you have ${formatAmount(state.remaining, currency)} left. A supervisor can approve it from their allowance.`;
    case "case_closed": return `Case ${event.case_id} is closed, or the customer has left: nothing more can be recorded on it.`;
    case "not_found": return `There is no case ${event.case_id}. Record the complaint first.`;
    case "conflict": return `That was recorded already: ${error.detail}`;
    case "forbidden": return `Your token may not do this: ${error.detail}`;
    case "invalid": return `Something in the form is not right: ${error.detail}`;
    case "unavailable": return "The ledger cannot be reached right now. Nothing was lost: send it again (it is safe to).";
    case "auth_required": return "Your token is not accepted any more. Sign in again.";
    default: return `Not recorded: ${error.detail}`;
  }
}

function showAllowance() {
  const currency = state.hello.currency;
  $("#allowance-left").textContent = state.remaining === null ? "—" : `${formatAmount(state.remaining, currency)} left`;
  $("#allowance-detail").textContent = state.allowance === null ? "" : `of ${formatAmount(state.allowance, currency)} you may give today without asking anyone`;
  checkCompensation();
}

function checkCompensation() {
  const form = $("#compensation-form");
  const check = $("#compensation-check");
  const currency = state.hello?.currency || "USD";
  const text = form.amount.value;
  check.className = "hint wide";
  if (!text.trim() || state.remaining === null) { check.textContent = ""; return; }
  const minor = parseAmount(text, currency);
  if (minor === null) { check.textContent = `Write the amount as ${digitsOf(currency) ? "12.50" : "1250"}.`; check.classList.add("over"); return; }
  if (minor > state.remaining) {
    check.textContent = `This is ${formatAmount(minor - state.remaining, currency)} more than you have left today (${formatAmount(state.remaining, currency)}): it will be refused unless a supervisor approves it.`;
    check.classList.add("over");
  } else {
    check.textContent = `Fits: ${formatAmount(state.remaining - minor, currency)} will be left today.`;
  }
}

function when(iso) {
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone: state.hello.time_zone, dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  } catch { return iso; }
}

function fillList(list, cases, describe) {
  list.replaceChildren(...(cases.length ? cases.map((c) => {
    const item = document.createElement("li");
    item.innerHTML = describe(c);
    item.dataset.caseId = c.case_id;
    return item;
  }) : [Object.assign(document.createElement("li"), { textContent: "None." })]));
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function refresh() {
  const agent = encodeURIComponent(state.hello.agent);
  const [budget, open, due] = await Promise.all([
    call("GET", `/v1/budgets/${agent}`),
    call("GET", `/v1/cases?owner=${agent}&status=open&limit=50`),
    call("GET", `/v1/due?agent_id=${agent}`),
  ]);
  state.remaining = budget.remaining;
  state.allowance = budget.allowance;
  showAllowance();
  fillList($("#open-cases"), open.cases, (c) => `<strong>${escape(c.case_id)}</strong> · ${escape(c.customer_id)} · ${escape(c.category)} · severity ${c.severity}`);
  fillList($("#due-cases"), due.cases, (c) =>
    `<strong>${escape(c.case_id)}</strong> · ${escape(c.customer_id)} · by ${escape(when(c.follow_up_due))}${c.overdue ? ' · <span class="overdue">overdue</span>' : ""}`);
}

function fields(form) {
  return Object.fromEntries([...new FormData(form).entries()].filter(([, value]) => String(value).trim() !== "").map(([k, v]) => [k, String(v).trim()]));
}

function shareCase(caseID) {
  for (const form of document.querySelectorAll("form")) if (form.case_id && !form.case_id.value) form.case_id.value = caseID;
}

async function submit(form, build, done) {
  const button = form.querySelector("button");
  let event;
  try {
    event = build(fields(form));
  } catch (error) {
    say(error.message, "error");
    return;
  }
  button.disabled = true;
  try {
    const receipt = await record(event);
    say(done(event, receipt), "ok");
    if (receipt.remaining !== undefined) state.remaining = receipt.remaining;
    form.reset();
    shareCase(event.case_id);
    await refresh();
  } catch (error) {
    await refresh().catch(() => {});  // what is left now, for the words below
    say(error instanceof Refusal ? plainWords(error, event) : `Could not reach the ledger (${error.message}). Send it again: it is safe to.`, "error");
  } finally {
    button.disabled = false;
  }
}

function integer(value) { return value === undefined ? undefined : Number.parseInt(value, 10); }

function wire() {
  $("#complaint-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submit(e.target, (f) => ({
      type: "complaint", case_id: f.case_id, customer_id: f.customer_id, channel: f.channel, category: f.category,
      severity: integer(f.severity), ...(f.baseline !== undefined && { baseline: integer(f.baseline) }), ...(f.summary && { summary: f.summary }),
    }), (event) => `Complaint recorded: case ${event.case_id} is open.`);
  });
  $("#apology-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submit(e.target, (f) => ({ type: "apology", case_id: f.case_id, ...(f.note && { note: f.note }) }), (event) => `Apology recorded on ${event.case_id}.`);
  });
  $("#compensation-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const currency = state.hello.currency;
    submit(e.target, (f) => {
      const amount = parseAmount(f.amount || "", currency);
      if (amount === null) throw new Error(`Write the amount as ${digitsOf(currency) ? "12.50" : "1250"}.`);
      return { type: "compensation", case_id: f.case_id, amount, currency, kind: f.kind };
    }, (event, receipt) => `${formatAmount(event.amount, currency)} given on ${event.case_id}; ${formatAmount(receipt.remaining, currency)} left today.${receipt.warning ? " Nearly all of today's allowance is used." : ""}`);
  });
  $("#compensation-form").amount.addEventListener("input", checkCompensation);
  $("#follow-up-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const resolved = e.target.resolved.checked;
    submit(e.target, (f) => ({
      type: "follow_up", case_id: f.case_id, satisfaction: integer(f.satisfaction), resolved,
      ...(f.would_recommend !== undefined && { would_recommend: integer(f.would_recommend) }),
    }), (event) => `Follow-up recorded on ${event.case_id}${event.resolved ? ": the case is closed" : ""}.`);
  });
}

async function signIn() {
  state.server = $("#server").value.trim().replace(/\/+$/, "");
  state.token = $("#token").value.trim();
  const message = $("#signin-message");
  try {
    const hello = await call("GET", "/v1/hello");
    if (!hello.agent) throw new Refusal("forbidden", "this token is not bound to one person: ask for your own token", 403);
    state.hello = hello;
    sessionStorage.setItem("recoveryd.server", state.server);
    sessionStorage.setItem("recoveryd.token", state.token);
    $("#who").textContent = `${hello.agent} · ${hello.currency} · ${hello.time_zone}`;
    for (const tag of document.querySelectorAll("[data-currency]")) tag.textContent = hello.currency;
    $("#signin").hidden = true;
    $("#work").hidden = false;
    await refresh();
  } catch (error) {
    message.textContent = error instanceof Refusal ? (error.code === "auth_required" ? "That token is not known." : error.detail) : `Cannot reach ${state.server}: ${error.message}`;
    message.className = "message error";
  }
}

wire();
$("#signin-button").addEventListener("click", signIn);
$("#server").value = new URLSearchParams(location.search).get("server") || sessionStorage.getItem("recoveryd.server") || "http://127.0.0.1:7412";
if (sessionStorage.getItem("recoveryd.token")) {
  $("#token").value = sessionStorage.getItem("recoveryd.token");
  signIn();
}
