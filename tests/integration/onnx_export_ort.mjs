// ONNX Runtime oracle for `kvant export onnx`: runs an exported decoder folder
// in onnxruntime-node (CPU) the way ONNX Runtime GenAI does (prompt first, then
// one token at a time with past_key_values fed back from present.*), and
// compares its logits with kvant's.
//
// usage: node onnx_export_ort.mjs ORT_MODULE_DIR MODEL_DIR PROMPT_IDS NEXT_IDS KVANT_LOGITS [opt]
//   PROMPT_IDS, NEXT_IDS: comma-separated token ids; the NEXT tokens are fed one
//   at a time after the prompt (teacher forcing). KVANT_LOGITS: kvant logits'
//   float32 rows for PROMPT + NEXT run as one batch. opt: "fast" creates the
//   session with all graph optimizations (for timing); the default disables them.
// Prints one JSON line: max_abs (largest |ORT - kvant| over every row),
// max_rel (max_abs / largest |kvant logit|), prompt_rel and decode_rel apart,
// row_median_abs (the median over rows of each row's largest |ORT - kvant|: one
// 8-bit rounding that lands the other way moves a few rows, not the median),
// mean_kld (KL(kvant || ORT) of the softmaxes, averaged over rows),
// ort_greedy (ORT's argmax after the prompt and after each fed token),
// decode_tok_s (fed tokens per second of session.run with the KV cache).
// With ORT_DUMP=DIR, every output of the prompt's run other than logits and
// present.* is written to DIR/NAME.f32 (float32, little-endian).
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const [ortDir, modelDir, promptArg, nextArg, logitsPath, opt] = process.argv.slice(2);
const require = createRequire(path.join(ortDir, 'x.js'));
const ort = require('onnxruntime-node');
const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'genai_config.json'), 'utf8'));
const dec = cfg.model.decoder;
const L = dec.num_hidden_layers, KV = dec.num_key_value_heads, HD = dec.head_size;
const V = cfg.model.vocab_size;
const prompt = promptArg.split(',').map(Number);
const next = nextArg ? nextArg.split(',').map(Number) : [];

const session = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'), {
  graphOptimizationLevel: opt === 'fast' ? 'all' : 'disabled',
  executionProviders: ['cpu'],
});
const ref = logitsPath ? new Float32Array(fs.readFileSync(logitsPath).buffer.slice(0)) : null;

const i64 = (a, dims) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);
// the cache's type as the graph declares it (float32, or float16 with --kv-f16)
const kvType = session.inputMetadata.find((m) => m.name === dec.inputs.past_key_names.replace('%d', 0)).type;
const empty = () => new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, KV, 0, HD]);
let past = [];
for (let l = 0; l < L; l++) past.push([empty(), empty()]);
let pos = 0;
async function step(ids, dumpDir) {
  const feeds = {
    input_ids: i64(ids, [1, ids.length]),
    attention_mask: i64(new Array(pos + ids.length).fill(1), [1, pos + ids.length]),
    position_ids: i64(ids.map((_, i) => pos + i), [1, ids.length]),
  };
  for (let l = 0; l < L; l++) {
    feeds[dec.inputs.past_key_names.replace('%d', l)] = past[l][0];
    feeds[dec.inputs.past_value_names.replace('%d', l)] = past[l][1];
  }
  const out = await session.run(feeds);
  for (let l = 0; l < L; l++)
    past[l] = [out[dec.outputs.present_key_names.replace('%d', l)],
               out[dec.outputs.present_value_names.replace('%d', l)]];
  pos += ids.length;
  if (dumpDir)
    for (const [name, t] of Object.entries(out))
      if (name !== 'logits' && !name.startsWith('present.'))
        fs.writeFileSync(path.join(dumpDir, name + '.f32'), t.data);
  return out.logits.data;
}
const argmax = (a, off) => {
  let b = 0;
  for (let i = 1; i < V; i++) if (a[off + i] > a[off + b]) b = i;
  return b;
};
let maxAbs = [0, 0], maxRef = [0, 0];
const rowMax = [];
let kldSum = 0;
// log-sum-exp of n values at a[off..]
function lse(a, off, n) {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, a[off + i]);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(a[off + i] - m);
  return m + Math.log(s);
}
function compare(logits, rowOut, rowRef, phase) {
  if (!ref) return;
  const lr = lse(ref, rowRef * V, V), lo = lse(logits, rowOut * V, V);
  let kld = 0;
  for (let i = 0; i < V; i++) {
    const a = ref[rowRef * V + i] - lr;
    kld += Math.exp(a) * (a - (logits[rowOut * V + i] - lo));
  }
  kldSum += kld;
  let row = 0;
  for (let i = 0; i < V; i++) {
    const r = ref[rowRef * V + i];
    const d = Math.abs(logits[rowOut * V + i] - r);
    if (!(d <= maxAbs[phase])) maxAbs[phase] = d; // NaN sticks
    if (!(d <= row)) row = d;
    if (Math.abs(r) > maxRef[phase]) maxRef[phase] = Math.abs(r);
  }
  rowMax.push(row);
}
const greedy = [];
let lg = await step(prompt, process.env.ORT_DUMP);
for (let t = 0; t < prompt.length; t++) compare(lg, t, t, 0);
greedy.push(argmax(lg, (prompt.length - 1) * V));
const t0 = process.hrtime.bigint();
for (let k = 0; k < next.length; k++) {
  lg = await step([next[k]]);
  compare(lg, 0, prompt.length + k, 1);
  greedy.push(argmax(lg, 0));
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const all = Math.max(maxAbs[0], maxAbs[1]);
const sorted = rowMax.slice().sort((a, b) => a - b); // NaN sorts anywhere: max_abs has it
const median = sorted.length ? sorted[(sorted.length - 1) >> 1] : 0;
console.log(JSON.stringify({
  max_abs: all, max_rel: all / Math.max(maxRef[0], maxRef[1]),
  row_median_abs: median, mean_kld: rowMax.length ? kldSum / rowMax.length : 0, prompt_rel: maxAbs[0] / maxRef[0], decode_rel: next.length ? maxAbs[1] / maxRef[1] : 0,
  ort_greedy: greedy, kv_type: kvType, decode_tok_s: next.length ? next.length / secs : 0,
}));
