// ONNX Runtime perplexity and calibration for a decoder folder in ONNX Runtime
// GenAI's layout (kvant export onnx, and its kvant onnx quantize variants).
//
// usage: node onnx_ppl_ort.mjs ORT_MODULE_DIR MODEL_DIR IDS CTX [TABLE.json BINS]
//   IDS: comma-separated token ids, cut into windows of CTX tokens; each window runs
//   with an empty cache and every next token of it is scored. Prints one JSON line:
//   ppl, scored (tokens).
//   With TABLE.json (MODEL_DIR from `kvant onnx calib-model`): every graph output
//   other than logits and present.* is an activation; writes the calibration table
//   {name: {min, max, abs_hist: BINS counts of |x| over [0, max(|min|, |max|)]}}
//   (two passes: the range, then the histogram) and prints the number of tensors.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const [ortDir, modelDir, idsArg, ctxArg, tablePath, binsArg] = process.argv.slice(2);
const require = createRequire(path.join(ortDir, 'x.js'));
const ort = require('onnxruntime-node');
const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'genai_config.json'), 'utf8'));
const dec = cfg.model.decoder;
const L = dec.num_hidden_layers, KV = dec.num_key_value_heads, HD = dec.head_size;
const V = cfg.model.vocab_size;
const ids = idsArg.split(',').map(Number);
const CTX = Number(ctxArg);
const session = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'), {
  executionProviders: ['cpu'], logSeverityLevel: 3,
});
const kvType = session.inputMetadata.find((m) => m.name === dec.inputs.past_key_names.replace('%d', 0)).type;
const i64 = (a, dims) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);

async function run(win) {
  const feeds = {
    input_ids: i64(win, [1, win.length]),
    attention_mask: i64(new Array(win.length).fill(1), [1, win.length]),
    position_ids: i64(win.map((_, i) => i), [1, win.length]),
  };
  const empty = () => new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, KV, 0, HD]);
  for (let l = 0; l < L; l++) {
    feeds[dec.inputs.past_key_names.replace('%d', l)] = empty();
    feeds[dec.inputs.past_value_names.replace('%d', l)] = empty();
  }
  return session.run(feeds);
}
const windows = [];
for (let i = 0; i + 1 < ids.length; i += CTX) windows.push(ids.slice(i, i + CTX));

if (!tablePath) {
  let nll = 0, n = 0;
  for (const win of windows) {
    const lg = (await run(win)).logits.data;
    for (let t = 0; t + 1 < win.length; t++) {
      const row = lg.subarray(t * V, (t + 1) * V);
      let mx = -Infinity;
      for (const v of row) mx = Math.max(mx, v);
      let s = 0;
      for (const v of row) s += Math.exp(v - mx);
      nll += Math.log(s) + mx - row[win[t + 1]];
      n++;
    }
  }
  console.log(JSON.stringify({ ppl: Math.exp(nll / n), scored: n }));
} else {
  const B = Number(binsArg || 2048);
  const acts = session.outputNames.filter((o) => o !== 'logits' && !o.startsWith('present'));
  const t = {};
  for (const a of acts) t[a] = { min: Infinity, max: -Infinity, abs_hist: new Array(B).fill(0) };
  for (const win of windows) {
    const out = await run(win);
    for (const a of acts) for (const v of out[a].data) { if (v < t[a].min) t[a].min = v; if (v > t[a].max) t[a].max = v; }
  }
  for (const win of windows) {
    const out = await run(win);
    for (const a of acts) {
      const amax = Math.max(Math.abs(t[a].min), Math.abs(t[a].max)) || 1, h = t[a].abs_hist;
      for (const v of out[a].data) h[Math.min(B - 1, Math.floor(Math.abs(v) / amax * B))]++;
    }
  }
  fs.writeFileSync(tablePath, JSON.stringify(t));
  console.log(JSON.stringify({ tensors: acts.length, windows: windows.length }));
}
