#!/usr/bin/env python3
"""Cross-checks `kvant info --json` of ONNX models against onnx.load (python3-onnx).

usage: onnx_oracle.py compare JSON_DIR MODEL...   (JSON_DIR/<i>.json is model i's output)
       onnx_oracle.py make DIR                    (writes the bad-input models the test needs)
Prints one line per mismatch and exits 1 if there was any."""
import collections
import json
import os
import struct
import sys

import onnx
from onnx import TensorProto, helper, numpy_helper


def type_name(t):
    k = t.WhichOneof("value")
    if k == "tensor_type":
        return TensorProto.DataType.Name(t.tensor_type.elem_type).lower()
    if k == "sequence_type":
        return "seq(%s)" % type_name(t.sequence_type.elem_type)
    if k == "optional_type":
        return "optional(%s)" % type_name(t.optional_type.elem_type)
    if k == "map_type":
        return "map(%s,%s)" % (TensorProto.DataType.Name(t.map_type.key_type).lower(),
                               type_name(t.map_type.value_type))
    if k == "sparse_tensor_type":
        return "sparse(%s)" % TensorProto.DataType.Name(t.sparse_tensor_type.elem_type).lower()
    return "?"


def shape(t):
    if t.WhichOneof("value") != "tensor_type" or not t.tensor_type.HasField("shape"):
        return None
    out = []
    for d in t.tensor_type.shape.dim:
        k = d.WhichOneof("value")
        out.append(d.dim_value if k == "dim_value" else d.dim_param if k == "dim_param" else "?")
    return out


def values(vs):
    return [{"name": v.name, "type": type_name(v.type), "shape": shape(v.type)} for v in vs]


def compare(json_dir, models):
    bad = 0
    for i, path in enumerate(models):
        m = onnx.load(path, load_external_data=False)
        with open(os.path.join(json_dir, "%d.json" % i)) as f:
            k = json.load(f)
        g = m.graph
        ops = collections.Counter(
            "%s:%s" % ("" if n.domain == "ai.onnx" else n.domain, n.op_type) for n in g.node)
        want = {
            "ir_version": m.ir_version,
            "producer_name": m.producer_name,
            "opset_import": {o.domain: o.version for o in m.opset_import},
            "inputs": values(g.input),
            "outputs": values(g.output),
            "n_nodes": len(g.node),
            "ops": dict(ops),
            "initializers.count": len(g.initializer) + len(g.sparse_initializer),
        }
        # bytes of the in-file initializers, as numpy sees them (strings aside)
        ts = list(g.initializer) + [t for s in g.sparse_initializer for t in (s.values, s.indices)]
        if all(t.data_location != TensorProto.EXTERNAL and t.data_type != TensorProto.STRING
               for t in ts):
            want["initializers.bytes"] = sum(numpy_helper.to_array(t).nbytes for t in ts)
        got = dict(k)
        got["initializers.bytes"] = k["initializers"]["bytes"]
        got["initializers.count"] = k["initializers"]["count"]
        for key, w in want.items():
            if got.get(key) != w:
                bad += 1
                print("MISMATCH %s: %s: kvant %r, onnx %r" % (path, key, got.get(key), w))
    print("compared %d models with onnx.load, %d mismatches" % (len(models), bad))
    return bad == 0


def make(d):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4],
                           struct.pack("<4f", 1.0, 2.0, 3.0, 4.0), raw=True)
    ok = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    # external data: the weights in w.bin beside the model
    m = helper.make_model(ok, producer_name="kvant-test")
    onnx.save_model(m, os.path.join(d, "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    # a node reading a value nothing defines
    g = helper.make_graph([helper.make_node("Add", ["x", "nope"], ["y"])], "g", [x], [y])
    onnx.save_model(helper.make_model(g), os.path.join(d, "dangling.onnx"))
    # a node in a domain the model does not import
    g = helper.make_graph([helper.make_node("Frob", ["x"], ["y"], domain="com.example")],
                          "g", [x], [y])
    onnx.save_model(helper.make_model(g), os.path.join(d, "domain.onnx"))
    # custom domain, imported: fine, and listed
    onnx.save_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                                        helper.make_opsetid("com.example", 1)]),
                    os.path.join(d, "custom.onnx"))
    # no nodes
    onnx.save_model(helper.make_model(helper.make_graph([], "g", [x], [y])),
                    os.path.join(d, "empty.onnx"))
    # graphs nested in If attributes 25,000 deep (100,000 messages): protobuf-c's
    # unpack would recurse that deep and overflow the stack
    cycle = [(5 << 3) | 2, (6 << 3) | 2, (1 << 3) | 2]  # attribute.g, graph.node, node.attribute
    tags = [(7 << 3) | 2, (1 << 3) | 2] + cycle * 25000 + [(5 << 3) | 2]  # model.graph, graph.node
    body = b""
    heads = []
    size = 0
    for tag in reversed(tags):
        h = varint(tag) + varint(size)
        heads.append(h)
        size += len(h)
    with open(os.path.join(d, "deep.onnx"), "wb") as f:
        f.write(b"".join(reversed(heads)) + body)
    return True


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3:]) else 1)
    sys.exit(0 if make(sys.argv[2]) else 1)
