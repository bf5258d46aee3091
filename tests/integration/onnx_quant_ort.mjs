// ONNX Runtime oracle for `kvant onnx quantize` on ONNX's backend test data: each
// line of LIST is "NAME MODEL.onnx META_DIR" (META_DIR/meta.json from
// onnx_pb_to_raw.py); the model runs in onnxruntime-node (CPU) on the package's
// inputs and its outputs are compared with the package's expected outputs.
// Prints one JSON line per model: name, loaded, ran, max_abs, rel (max_abs over the
// largest expected magnitude), error (ORT's message when it does not load or run).
// usage: node onnx_quant_ort.mjs ORT_MODULE_DIR LIST
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const [ortDir, list] = process.argv.slice(2);
const require = createRequire(path.join(ortDir, 'x.js'));
const ort = require('onnxruntime-node');
const ctor = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array,
  int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array };

function tensor(m) {
  const b = fs.readFileSync(m.file);
  const C = ctor[m.dtype];
  if (!C) throw new Error('dtype ' + m.dtype);
  const a = new C(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  return new ort.Tensor(m.dtype === 'float64' ? 'float64' : m.dtype, a, m.dims);
}

for (const line of fs.readFileSync(list, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const [name, model, metaDir] = line.split(' ');
  const r = { name, loaded: false, ran: false };
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(metaDir, 'meta.json'), 'utf8'));
    if (meta.error) throw new Error('test data: ' + meta.error);
    const s = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    r.loaded = true;
    const feeds = {};
    meta.inputs.forEach((m, i) => { feeds[s.inputNames[i]] = tensor(m); });
    const out = await s.run(feeds);
    r.ran = true;
    let maxAbs = 0, maxRef = 0;
    meta.outputs.forEach((m, i) => {
      const exp = tensor(m).data, got = out[s.outputNames[i]].data;
      if (exp.length !== got.length) throw new Error(`output ${i}: ${got.length} values, expected ${exp.length}`);
      for (let j = 0; j < exp.length; j++) {
        const e = Number(exp[j]), g = Number(got[j]);
        const d = Math.abs(e - g);
        if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
        maxRef = Math.max(maxRef, Math.abs(e));
      }
    });
    r.max_abs = maxAbs;
    r.rel = maxAbs / (maxRef || 1);
  } catch (e) {
    r.error = String(e.message || e).split('\n')[0].slice(0, 160);
  }
  console.log(JSON.stringify(r));
}
