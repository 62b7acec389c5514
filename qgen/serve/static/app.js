// qgen playground: plain JavaScript over the JSON API (no build step). Text from the model is put in the page
// with textContent only, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { answer: null, items: [], context: "", model: null };

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = { detail: `HTTP ${res.status}` }; }
  if (!res.ok) throw new Error(data.detail || `HTTP ${res.status}`);
  return data;
}

function showError(el, err) {
  el.hidden = !err;
  el.textContent = err ? String(err.message || err) : "";
}

function busy(button, statusEl, text) {
  button.disabled = !!text;
  statusEl.textContent = text || "";
}

// ---- tabs -------------------------------------------------------------------------------------------------------
document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => {
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
  $("panel-qg").hidden = tab.dataset.tab !== "qg";
  $("panel-quiz").hidden = tab.dataset.tab !== "quiz";
}));

// ---- models -----------------------------------------------------------------------------------------------------
async function loadModels() {
  const data = await api("/v1/models");
  const fill = (select, models, info) => {
    select.replaceChildren();
    for (const m of models) {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = `${m.name} (${m.kind}, ${m.task})`;
      opt.selected = m.default;
      select.append(opt);
    }
    if (!models.length) info.textContent = "no model of this kind is offered (start the server with --models DIR)";
  };
  for (const [id, cap] of [["num_questions", "max_questions"], ["num_beams", "max_beams"],
                           ["max_new_tokens", "max_new_tokens"]]) {  // the server's caps
    const input = $(id);
    input.max = data.limits[cap];
    input.value = Math.min(Number(input.value), data.limits[cap]);
  }
  $("context").maxLength = data.limits.max_context_chars;
  fill($("model"), data.models.filter((m) => m.task === "aqg_hl" || m.task === "aqg"), $("model-info"));
  fill($("quiz-model"), data.models.filter((m) => m.kind === "causal"), $("quiz-model-info"));
}

// ---- the answer: a selection in the text box, or a suggestion ----------------------------------------------------
function setAnswer(text, start) {
  state.answer = text ? { text, start } : null;
  $("answer").textContent = text || "(none selected)";
}

function readSelection() {
  const box = $("context");
  let { selectionStart: a, selectionEnd: b } = box;
  if (b <= a) return;
  const raw = box.value.slice(a, b);
  const lead = raw.length - raw.trimStart().length;
  const text = raw.trim();
  if (text) setAnswer(text, a + lead);
}
["mouseup", "keyup", "select"].forEach((ev) => $("context").addEventListener(ev, readSelection));
$("context").addEventListener("input", () => { setAnswer(null); $("suggestions").replaceChildren(); });
$("clear-answer").addEventListener("click", () => setAnswer(null));

$("suggest").addEventListener("click", async () => {
  showError($("error"), null);
  busy($("suggest"), $("status"), "finding candidate answers…");
  try {
    const data = await api("/v1/suggest", { context: $("context").value, model: $("model").value,
                                            window: $("window").value });
    const box = $("suggestions");
    box.replaceChildren();
    for (const s of data.answers) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.textContent = s.text;
      const score = document.createElement("span");
      score.className = "muted";
      score.textContent = s.score === null ? "" : s.score.toFixed(2);
      chip.append(score);
      chip.title = s.question;
      chip.addEventListener("click", () => {
        setAnswer(s.text, s.start);
        $("context").focus();
        $("context").setSelectionRange(s.start, s.end);
      });
      box.append(chip);
    }
  } catch (e) { showError($("error"), e); }
  busy($("suggest"), $("status"), null);
});

// ---- generation -------------------------------------------------------------------------------------------------
$("mode").addEventListener("change", () => {
  document.querySelector(".settings").classList.toggle("sampling", $("mode").value === "sample");
});

function request() {
  const num = (id) => Number($(id).value);
  const body = { context: $("context").value, model: $("model").value, num_questions: num("num_questions"),
                 mode: $("mode").value, num_beams: num("num_beams"), max_new_tokens: num("max_new_tokens"),
                 window: $("window").value, roundtrip: $("roundtrip").checked };
  if ($("mode").value === "sample") {
    Object.assign(body, { temperature: num("temperature"), top_p: num("top_p"), top_k: num("top_k"),
                          seed: num("seed") });
  }
  if (state.answer) Object.assign(body, { answer: state.answer.text, answer_start: state.answer.start });
  return body;
}

$("generate").addEventListener("click", async () => {
  showError($("error"), null);
  busy($("generate"), $("status"), "generating…");
  try {
    const body = request();
    const data = await api("/v1/questions", body);
    state.context = body.context;
    state.model = data.model;
    state.items = data.questions.map((q, i) => ({ ...q, order: i,
      accepted: q.consistent !== false && q.hallucinated.length === 0 }));
    render();
    $("status").textContent = `${data.questions.length} question(s) from ${data.model}`;
  } catch (e) { showError($("error"), e); $("status").textContent = ""; }
  $("generate").disabled = false;
});
$("sort").addEventListener("change", render);

function highlighted(question, words) {
  // the question as text nodes, each hallucinated word wrapped in <mark class="halluc">
  const frag = document.createDocumentFragment();
  const sorted = [...words].sort((a, b) => b.length - a.length);
  let rest = question;
  while (rest) {
    let at = -1, word = null;
    for (const w of sorted) {
      const i = rest.indexOf(w);
      if (i >= 0 && (at < 0 || i < at)) { at = i; word = w; }
    }
    if (at < 0) { frag.append(rest); break; }
    if (at > 0) frag.append(rest.slice(0, at));
    const mark = document.createElement("mark");
    mark.className = "halluc";
    mark.textContent = word;
    frag.append(mark);
    rest = rest.slice(at + word.length);
  }
  return frag;
}

function render() {
  const rows = [...state.items];
  if ($("sort").value === "score") rows.sort((a, b) => (b.score ?? -1e9) - (a.score ?? -1e9));
  else rows.sort((a, b) => a.order - b.order);
  const body = document.querySelector("#results tbody");
  body.replaceChildren();
  for (const item of rows) {
    const tr = document.createElement("tr");
    tr.className = "result" + (item.consistent === false ? " flagged" : "");
    const cell = (cls) => { const td = document.createElement("td"); if (cls) td.className = cls; tr.append(td); return td; };
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "accept";
    box.checked = item.accepted;
    box.addEventListener("change", () => { item.accepted = box.checked; });
    cell().append(box);
    cell("q").append(highlighted(item.question, item.hallucinated));
    cell().textContent = item.answer;
    cell("score").textContent = item.score === null ? "–" : item.score.toFixed(3);
    const rt = cell("rt");
    if (item.consistent === null) rt.textContent = item.score === null ? "– (needs a seq2seq model)" : "– (not asked)";
    else {
      rt.className = "rt " + (item.consistent ? "rt-ok" : "rt-bad");
      rt.textContent = (item.consistent ? "✓ " : "⚠ reads back ") + (item.roundtrip_answer || "(nothing)");
    }
    body.append(tr);
  }
  $("results").hidden = !rows.length;
  $("downloads").hidden = !rows.length;
}

// ---- downloads --------------------------------------------------------------------------------------------------
function download(name, text, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function accepted() {
  return state.items.filter((i) => i.accepted).map((i, n) => ({
    id: `serve-${n + 1}`, context: state.context, question: i.question, answer: i.answer, answer_start: i.answer_start,
    score: i.score, hallucinated: i.hallucinated, roundtrip_answer: i.roundtrip_answer, consistent: i.consistent,
    model: state.model }));
}

$("download-jsonl").addEventListener("click", () => {
  const items = accepted();
  if (!items.length) { $("download-status").textContent = "no question accepted"; return; }
  download("qgen_questions.jsonl", items.map((i) => JSON.stringify(i)).join("\n") + "\n", "application/jsonl");
  $("download-status").textContent = `${items.length} item(s) downloaded`;
});

$("download-quiz").addEventListener("click", async () => {
  const items = accepted().map(({ id, context, question, answer }) => ({ id, context, question, answer }));
  if (!items.length) { $("download-status").textContent = "no question accepted"; return; }
  try {
    const data = await api("/v1/quiz-records", { items, num_choices: Number($("num_choices").value) });
    if (data.records.length) download("quiz_train.json", JSON.stringify(data.records, null, 2) + "\n", "application/json");
    $("download-status").textContent = `${data.records.length} quiz record(s)` +
      (data.skipped.length ? `, ${data.skipped.length} skipped (${data.skipped[0].reason})` : "");
  } catch (e) { $("download-status").textContent = String(e.message || e); }
});

// ---- quiz -------------------------------------------------------------------------------------------------------
$("quiz-score").addEventListener("click", async () => {
  showError($("quiz-error"), null);
  busy($("quiz-score"), $("quiz-status"), "scoring…");
  const choices = $("quiz-choices").value.split("\n").map((c) => c.trim()).filter((c) => c);
  try {
    const data = await api("/v1/quiz", { question: $("quiz-question").value, choices, model: $("quiz-model").value || null,
                                         gate_top1: Number($("gate_top1").value), gate_margin: Number($("gate_margin").value) });
    const bars = $("bars");
    bars.replaceChildren();
    data.probabilities.forEach((p, i) => {
      const row = document.createElement("div");
      row.className = "bar-row" + (i === data.pred ? " top" : "");
      const label = document.createElement("span");
      label.className = "bar-label";
      label.textContent = `${i}: ${choices[i]}`;
      const track = document.createElement("div");
      track.className = "bar-track";
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${(100 * p).toFixed(1)}%`;
      track.append(bar);
      const value = document.createElement("span");
      value.textContent = `${(100 * p).toFixed(1)}%`;
      row.append(label, track, value);
      bars.append(row);
    });
    $("quiz-confidence").textContent = data.confidence.toFixed(3);
    $("quiz-margin").textContent = data.margin.toFixed(3);
    $("quiz-gate").textContent = data.gate.fires ? "would fire (retrieve passages)" : "would not fire";
    $("quiz-result").hidden = false;
  } catch (e) { showError($("quiz-error"), e); }
  busy($("quiz-score"), $("quiz-status"), null);
});

loadModels().catch((e) => showError($("error"), e));
