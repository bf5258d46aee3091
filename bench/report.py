#!/usr/bin/env python3
"""Write bench/RESULTS.md (to stdout) from the JSON records bench/run.sh collected.

Reads bench/work/results/SHAPE-TYPE.kvant.json (kvant bench -o json) and
SHAPE-TYPE.llama.json (llama-bench -o json), both lists of records with
llama-bench's field names, plus the BENCH_* settings run.sh exports. The
machine facts come from /proc. Standard library only.
"""
import datetime
import json
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = os.environ.get
# The targets: kvant / llama.cpp tokens/s for the quantized types.
TARGETS = {"pp": 0.8, "tg": 1.0}
TARGET_TYPES = {"Q4_0", "Q4_K_M", "Q8_0"}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def by_test(records):
    """{'pp512': record, 'tg128': record} from a list of llama-bench records."""
    out = {}
    for r in records or []:
        if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0:
            out[f"pp{r['n_prompt']}"] = r
        elif r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0:
            out[f"tg{r['n_gen']}"] = r
    return out


def proc_field(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.split(":")[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def git(*args, cwd=ROOT):
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def kvant_commit():
    """The commit the benchmarked binary was built from: a COMMIT file beside it
    (run.sh users may copy the binary away from a tree that moves on), else HEAD."""
    path = os.path.join(os.path.dirname(ENV("BENCH_KVANT", "")), "COMMIT")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return git("rev-parse", "--short", "HEAD")


def ts(r):
    return f"{r['avg_ts']:.2f} ± {r['stddev_ts']:.2f}" if r else "—"


def mib(n):
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def machine():
    mem_kb = proc_field("/proc/meminfo", "MemTotal").split()[0]
    cache = "?"
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            cache = f.read().strip()
    except OSError:
        pass
    flags = proc_field("/proc/cpuinfo", "flags").split()
    simd = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "asimddp")
            if f in flags]
    return [
        f"- CPU: {proc_field('/proc/cpuinfo', 'model name')}, {os.cpu_count()} online CPUs "
        f"(`nproc`), L3 {cache} as sysfs reports it; SIMD flags: {', '.join(simd) or 'none'}",
        f"- memory: {int(mem_kb) / 2**20:.1f} GiB" if mem_kb.isdigit() else "- memory: ?",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- load average (1, 5, 15 min) at the start of the last run: {ENV('BENCH_LOAD_START', '?')}; "
        f"at its end: {ENV('BENCH_LOAD_END', '?')}",
        "- **The CPU is shared with other jobs** (other builds and tests ran during the "
        "measurements; the load average above counts them), so absolute numbers are noisy "
        "and lower than on an idle machine. kvant and llama-bench ran one right after the "
        "other on each file, so the ratios are fairer than the absolute figures, but a "
        "burst of other work during one run still moves them.",
    ]


def load_before(path):
    try:
        with open(path + ".load") as f:
            return f.read().strip()
    except OSError:
        return "?"


def row(shape, typ, test, kv, ll, loads):
    r = kv or ll
    ratio = kv["avg_ts"] / ll["avg_ts"] if kv and ll and ll["avg_ts"] > 0 else None
    kind = test[:2]
    target = "—"
    if typ in TARGET_TYPES and ratio is not None:
        want = TARGETS[kind]
        target = f"≥ {want:.1f}: {'met' if ratio >= want else 'not met'}"
    bound = kv.get("bound_ts") if kv else None
    kv_pct = f"{100 * kv['avg_ts'] / bound:.0f}%" if bound else "—"
    ll_pct = f"{100 * ll['avg_ts'] / bound:.0f}%" if bound and ll else "—"
    return (f"| {shape} | {typ} | {mib(r['model_size'])} | {test} | {ts(kv)} | {ts(ll)} | "
            f"{f'{ratio:.2f}' if ratio is not None else '—'} | {target} | "
            f"{f'{bound:.2f}' if bound else '—'} | {kv_pct} | {ll_pct} | {loads} |")


def table(results):
    lines = ["| shape | type | size | test | kvant t/s | llama.cpp t/s | kvant / llama.cpp | "
             "target | bandwidth bound t/s | kvant % of bound | llama.cpp % of bound | load |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    facts = {}
    for shape in ENV("BENCH_SHAPES", "").split():
        for typ in ENV("BENCH_TYPES", "").split():
            kv_path = os.path.join(results, f"{shape}-{typ}.kvant.json")
            ll_path = os.path.join(results, f"{shape}-{typ}.llama.json")
            kv_recs, ll_recs = load(kv_path), load(ll_path)
            loads = f"{load_before(kv_path)} / {load_before(ll_path)}"
            kv, ll = by_test(kv_recs), by_test(ll_recs)
            for r in ll_recs or []:
                facts.setdefault("llama", r.get("build_commit"))
            for r in kv_recs or []:
                if r.get("kernels"):
                    facts.setdefault("kernels", r["kernels"])
                if r.get("bandwidth_gbs"):
                    facts.setdefault("bw", []).append((shape, typ, r["bandwidth_gbs"]))
            if not kv and not ll:
                lines.append(f"| {shape} | {typ} | — | — | not measured | not measured | — | — | "
                             "— | — | — | — |")
            for test in sorted(set(kv) | set(ll), key=lambda t: (t[:2] != "pp", t)):
                lines.append(row(shape, typ, test, kv.get(test), ll.get(test), loads))
    return lines, facts


def main():
    results = ENV("BENCH_RESULTS", os.path.join(ROOT, "bench", "work", "results"))
    lines, facts = table(results)
    llama = ENV("BENCH_LLAMA", "")
    threads, pp, tg = ENV("BENCH_THREADS", "2"), ENV("BENCH_N_PROMPT", "512"), ENV("BENCH_N_GEN", "128")
    reps_each = ENV("BENCH_REPS_EACH", "").strip()
    bw = facts.get("bw", [])
    out = [
        "# kvant bench: speed against llama.cpp",
        "",
        f"Written by `bench/run.sh` (via `bench/report.py`) on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. The models are "
        "`../shared/tools/synth_model.py` checkpoints: the real shapes of llama-160m and "
        "TinyLlama-1.1B with random weights (speed does not depend on the values), converted "
        "to F16 by `kvant convert` and quantized from F16 by `kvant quantize`. Both programs "
        "read the same GGUF files.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## Software",
        "",
        f"- kvant: commit {kvant_commit()}, built with the project's default "
        "(RelWithDebInfo, -O2) flags; kernel table "
        f"`{facts.get('kernels', '?')}` (`--kernels {ENV('BENCH_KERNELS', 'auto')}`)",
        f"- llama.cpp: `{llama}`, build {facts.get('llama', '?')}" if llama
        else "- llama.cpp: not available for this run (set LLAMA_BENCH)",
        "",
        "## Commands",
        "",
        "```sh",
        f"THREADS={threads} N_PROMPT={pp} N_GEN={tg} REPS={ENV('BENCH_REPS', '3')} bench/run.sh",
        "# for each SHAPE in " + ENV("BENCH_SHAPES", "") + ":",
        "python3 ../shared/tools/synth_model.py --shape SHAPE --out bench/models/SHAPE",
        "kvant convert bench/models/SHAPE -o bench/models/SHAPE-F16.gguf --outtype f16",
        f"kvant quantize bench/models/SHAPE-F16.gguf bench/models/SHAPE-TYPE.gguf TYPE -t {threads}",
        "# for each file, one right after the other:",
        f"kvant bench -m FILE -p {pp} -n {tg} -t {threads} -r REPS -o json "
        f"--kernels {ENV('BENCH_KERNELS', 'auto')}",
        f"llama-bench -m FILE -p {pp} -n {tg} -t {threads} -r REPS -o json" if llama else "",
        "```",
        "",
        f"Repetitions per shape: {reps_each}. Each test runs once untimed first (the whole "
        "prompt for pp, one token for tg, as llama-bench does); t/s is the mean ± sample "
        "standard deviation of the per-repetition tokens/s.",
        "",
        "## Results",
        "",
        *lines,
        "",
        "- *kvant / llama.cpp*: ratio of the mean tokens/s. *target*: the speed issue's goal "
        "for Q4_0, Q4_K_M and Q8_0 (generation ≥ 1.0×, prompt processing ≥ 0.8× llama.cpp).",
        "- *load*: the 1-minute load average of the machine when the kvant run and the "
        "llama-bench run on that file started (2 CPUs: anything above 2 means other jobs "
        "were competing for the cores).",
        "- *bandwidth bound*: the memory bandwidth `kvant bench` measured (2 threads streaming "
        "through a buffer of twice the last-level cache, best of 5) divided by the weight bytes "
        "one generated token reads (every matrix and norm, one row of token_embd; the KV "
        "cache is left out). Generation cannot beat it once the weights exceed the caches; "
        "a model that fits in the last-level cache can.",
    ]
    if bw:
        vals = [b for _, _, b in bw]
        out.append(f"- measured bandwidth: {min(vals):.2f} to {max(vals):.2f} GB/s over "
                   f"{len(vals)} measurements (one per kvant run).")
    if facts.get("kernels") == "ref":
        out.append("- kvant ran its scalar reference kernels (`ref`): no SIMD table was "
                   "available to it on this CPU at this commit, so these rows measure the "
                   "reference path, which is written for clarity, not speed.")
    notes = ENV("BENCH_NOTES_FILE", "")
    if notes and os.path.exists(notes):
        with open(notes) as f:
            out += ["", "## Notes on this run", "", f.read().strip()]
    print("\n".join(out))


if __name__ == "__main__":
    main()
