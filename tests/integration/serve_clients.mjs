// Drives a running `kvant serve` with the official npm clients, `ollama` and
// `openai`: listing, show, ps, generate, chat, embed, chat completions,
// completions and embeddings, streamed and not, then 16 concurrent streams.
// Greedy results must agree: stream vs whole reply, repeated requests, the two
// APIs with the same prompt, and each concurrent stream with its prompt alone.
// Greedy replies also match `kvant run` on the same file (KVANT, KV_MODEL_PATH).
// Run by test_serve_clients.sh with KV_BASE=http://127.0.0.1:PORT; prints
// "ok:"/"FAIL:" lines and exits 1 on any failure.
import { execFileSync } from "node:child_process";
import OpenAI from "openai";
import { Ollama } from "ollama";

const base = process.env.KV_BASE;
const model = "kjv:latest";
const ollama = new Ollama({ host: base });
const openai = new OpenAI({ baseURL: base + "/v1", apiKey: "not-needed", maxRetries: 0 });
const N_PREDICT = 24;
const GREEDY = { temperature: 0, num_predict: N_PREDICT };
const PROMPTS = ["In the beginning", "And the LORD said unto Moses", "Jesus wept", "Blessed are"];

let failures = 0;
function check(cond, what, detail = "") {
  if (cond) {
    console.log("ok: " + what);
  } else {
    failures++;
    console.log("FAIL: " + what + (detail ? " -- " + detail : ""));
  }
}
const show = (s) => JSON.stringify(s);

async function ollamaGenerate(prompt, stream) {
  if (!stream) {
    const r = await ollama.generate({ model, prompt, stream: false, options: GREEDY });
    return { text: r.response, last: r };
  }
  let text = "", last = null, chunks = 0;
  for await (const part of await ollama.generate({ model, prompt, stream: true, options: GREEDY })) {
    text += part.response;
    last = part;
    chunks++;
  }
  return { text, last, chunks };
}

async function openaiComplete(prompt, stream) {
  const args = { model, prompt, max_tokens: N_PREDICT, temperature: 0 };
  if (!stream) {
    const r = await openai.completions.create(args);
    return { text: r.choices[0].text, finish: r.choices[0].finish_reason, usage: r.usage };
  }
  let text = "", finish = null;
  for await (const c of await openai.completions.create({ ...args, stream: true })) {
    if (c.choices.length) {
      text += c.choices[0].text ?? "";
      finish = c.choices[0].finish_reason ?? finish;
    }
  }
  return { text, finish };
}

// `kvant run`'s greedy continuation of prompt (it ends its output with a newline).
function kvantRun(prompt) {
  const out = execFileSync(process.env.KVANT, ["run", process.env.KV_MODEL_PATH, prompt, "-n",
    String(N_PREDICT), "--temp", "0", "--no-display-prompt", "-t", "2"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return out;
}

function sameAsRun(text, run) {
  return run === text || run === text + "\n";
}

async function ollamaSide() {
  const tags = await ollama.list();
  const entry = tags.models.find((m) => m.name === model);
  check(entry !== undefined, "ollama list has " + model, show(tags));
  check(entry && entry.details.family === "llama" && entry.details.quantization_level === "Q8_0",
    "ollama list details: llama, Q8_0", show(entry && entry.details));
  const info = await ollama.show({ model });
  check(info.model_info["general.architecture"] === "llama", "ollama show model_info");

  const whole = await ollamaGenerate(PROMPTS[0], false);
  const again = await ollamaGenerate(PROMPTS[0], false);
  const streamed = await ollamaGenerate(PROMPTS[0], true);
  check(whole.text.length > 0, "ollama generate returns text", show(whole.text));
  check(whole.last.done === true && whole.last.done_reason === "length" &&
    whole.last.eval_count === N_PREDICT, "ollama generate: done, length, eval_count",
    show(whole.last));
  check(whole.last.prompt_eval_count > 0 && whole.last.total_duration > 0 &&
    whole.last.eval_duration > 0, "ollama generate: counts and durations in ns");
  check(again.text === whole.text, "ollama generate: the same greedy request twice agrees");
  check(streamed.text === whole.text, "ollama generate: streamed pieces join to the whole reply",
    show([streamed.text, whole.text]));
  check(streamed.chunks > 1 && streamed.last.done === true, "ollama generate: NDJSON stream ends done");
  const run = kvantRun(PROMPTS[0]);
  check(sameAsRun(whole.text, run), "ollama generate equals `kvant run` (greedy, same file)",
    show([whole.text, run]));

  const msgs = [{ role: "user", content: "Who made the heaven and the earth?" }];
  const chat = await ollama.chat({ model, messages: msgs, stream: false, options: GREEDY });
  let chatStream = "";
  for await (const p of await ollama.chat({ model, messages: msgs, stream: true, options: GREEDY }))
    chatStream += p.message.content;
  check(chat.message.role === "assistant" && chat.message.content.length > 0, "ollama chat");
  check(chatStream === chat.message.content, "ollama chat: streamed equals whole");

  const ps = await ollama.ps();
  check(ps.models.some((m) => m.name === model && m.expires_at), "ollama ps lists the loaded model");

  const emb = await ollama.embed({ model, input: ["In the beginning", "Jesus wept"] });
  const norm = Math.hypot(...emb.embeddings[0]);
  check(emb.embeddings.length === 2 && Math.abs(norm - 1) < 1e-4, "ollama embed: 2 unit vectors",
    "norm " + norm);

  let status = 0;
  try {
    await ollama.generate({ model: "no-such-model", prompt: "x", stream: false });
  } catch (e) {
    status = e.status_code;
  }
  check(status === 404, "ollama: unknown model is a 404 error", "status " + status);
  return { generate: whole.text, chat: chat.message.content, embed: emb.embeddings };
}

async function openaiSide(ref) {
  const models = await openai.models.list();
  check(models.data.some((m) => m.id === model), "openai models.list");
  const one = await openai.models.retrieve(model);
  check(one.id === model, "openai models.retrieve");

  const whole = await openaiComplete(PROMPTS[0], false);
  const streamed = await openaiComplete(PROMPTS[0], true);
  check(whole.text === ref.generate, "openai completions equal ollama generate (greedy)",
    show([whole.text, ref.generate]));
  check(streamed.text === whole.text && streamed.finish === "length",
    "openai completions: streamed equals whole, finish length");
  check(whole.usage.completion_tokens === N_PREDICT, "openai completions usage");

  const messages = [{ role: "user", content: "Who made the heaven and the earth?" }];
  const args = { model, messages, max_tokens: N_PREDICT, temperature: 0 };
  const chat = await openai.chat.completions.create(args);
  check(chat.choices[0].message.content === ref.chat, "openai chat equals ollama chat (greedy)",
    show([chat.choices[0].message.content, ref.chat]));
  let text = "", usage = null, role = null;
  const stream = await openai.chat.completions.create({
    ...args, stream: true, stream_options: { include_usage: true } });
  for await (const c of stream) {
    if (c.usage) usage = c.usage;
    if (c.choices.length) {
      text += c.choices[0].delta.content ?? "";
      role = role ?? c.choices[0].delta.role;
    }
  }
  check(text === chat.choices[0].message.content && role === "assistant",
    "openai chat: stream equals whole, first delta has the role");
  check(usage && usage.completion_tokens === N_PREDICT && usage.prompt_tokens > 0,
    "openai chat stream: usage chunk", show(usage));

  const emb = await openai.embeddings.create({ model, input: ["In the beginning", "Jesus wept"] });
  const a = emb.data[0].embedding, b = ref.embed[0];
  const maxDiff = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  check(emb.data.length === 2 && a.length === b.length && maxDiff < 1e-6,
    "openai embeddings (base64 by default) equal ollama embed", "max diff " + maxDiff);

  let err = null;
  try {
    await openai.chat.completions.create({ ...args, model: "no-such-model" });
  } catch (e) {
    err = e;
  }
  check(err && err.status === 404 && err.code === "model_not_found",
    "openai: unknown model is a 404 with code model_not_found", String(err));
  err = null;
  try {
    await openai.chat.completions.create({ ...args, temperature: 7 });
  } catch (e) {
    err = e;
  }
  check(err && err.status === 400 && err.param === "temperature",
    "openai: a bad value is a 400 naming the field", String(err));
}

async function concurrency() {
  const alone = [];
  for (const p of PROMPTS) alone.push((await ollamaGenerate(p, false)).text);
  const runs0 = PROMPTS.map(kvantRun);
  check(alone.every((t, i) => sameAsRun(t, runs0[i])),
    "single-client greedy outputs equal `kvant run` for " + PROMPTS.length + " prompts",
    show(alone.map((t, i) => [t, runs0[i]])));
  const runs = [];
  for (let i = 0; i < 16; i++) {
    const p = PROMPTS[i % PROMPTS.length];
    runs.push(i % 2 ? ollamaGenerate(p, true) : openaiComplete(p, true));
  }
  const out = await Promise.all(runs);
  let same = 0;
  out.forEach((r, i) => { if (r.text === alone[i % PROMPTS.length]) same++; });
  check(same === 16, "16 concurrent streams equal their single-client greedy outputs",
    same + "/16 equal");
  const metrics = await (await fetch(base + "/metrics")).text();
  const val = (k) => Number((metrics.match(new RegExp("^" + k + " (\\S+)$", "m")) || [])[1]);
  const batched = val("kvant_decode_batch_size_count") -
    val('kvant_decode_batch_size_bucket\\{le="1"\\}');
  const maxBucket = [16, 8, 4, 2].find((b) =>
    val(`kvant_decode_batch_size_bucket\\{le="${b}"\\}`) >
    val(`kvant_decode_batch_size_bucket\\{le="${b / 2}"\\}`));
  check(batched > 0, "metrics: decode steps with more than one sequence", "steps " + batched +
    ", largest bucket le=" + maxBucket);
  console.log("info: batched steps " + batched + ", largest batch bucket le=" + maxBucket);
}

try {
  const ref = await ollamaSide();
  await openaiSide(ref);
  await concurrency();
} catch (e) {
  failures++;
  console.log("FAIL: unexpected error: " + (e && e.stack ? e.stack : e));
}
console.log(failures ? failures + " client checks failed" : "all client checks passed");
process.exit(failures ? 1 : 0);
