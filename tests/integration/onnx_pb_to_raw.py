#!/usr/bin/env python3
"""ONNX backend test data (input_N.pb / output_N.pb TensorProtos) as raw files for
onnx_quant_ort.mjs: for each MODEL_DIR, OUT/<name>/meta.json lists the model's
non-initializer graph inputs with dtype, dims and a raw little-endian file, and the
expected outputs the same way. usage: onnx_pb_to_raw.py OUT MODEL_DIR..."""
import glob, json, os, sys
import onnx
from onnx import numpy_helper

out = sys.argv[1]
for d in sys.argv[2:]:
    name = os.path.basename(d.rstrip('/'))
    ds = os.path.join(d, 'test_data_set_0')
    o = os.path.join(out, name)
    os.makedirs(o, exist_ok=True)
    meta = {'inputs': [], 'outputs': []}
    try:
        m = onnx.load(os.path.join(d, 'model.onnx'), load_external_data=False)
        inits = {t.name for t in m.graph.initializer}
        in_names = [i.name for i in m.graph.input if i.name not in inits]
        out_names = [i.name for i in m.graph.output]
        for kind, names in (('input', in_names), ('output', out_names)):
            files = sorted(glob.glob(os.path.join(ds, kind + '_*.pb')),
                           key=lambda p: int(p.rsplit('_', 1)[1][:-3]))
            for i, f in enumerate(files):
                t = onnx.TensorProto()
                with open(f, 'rb') as fh:
                    t.ParseFromString(fh.read())
                a = numpy_helper.to_array(t)
                raw = os.path.join(o, '%s_%d.raw' % (kind, i))
                a.tofile(raw)
                meta[kind + 's'].append({'name': names[i] if i < len(names) else t.name,
                                         'dtype': str(a.dtype), 'dims': list(a.shape),
                                         'file': raw})
    except Exception as e:  # a model the converter cannot read: the runner reports it
        meta['error'] = str(e)[:200]
    with open(os.path.join(o, 'meta.json'), 'w') as fh:
        json.dump(meta, fh)
