"""Checks a Prometheus text exposition with the official client's parser
(Debian python3-prometheus-client) and prints every sample as one line,
`name{k="v",...} value` with the labels sorted, for the shell tests to read.

Usage: prom_parse.py FILE

Beyond parsing, every histogram must be well formed: for each label set, the
`le` bounds increase, the cumulative counts never fall, the last bucket is
+Inf and equals _count. Exit status 1 (with the reason on stderr) otherwise.
"""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("prom_parse: " + msg, file=sys.stderr)
    sys.exit(1)


def check_histogram(fam):
    series = {}
    counts = {}
    for s in fam.samples:
        rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        if s.name == fam.name + "_bucket":
            series.setdefault(rest, []).append((float(s.labels["le"]), s.value))
        elif s.name == fam.name + "_count":
            counts[rest] = s.value
    if set(series) != set(counts):
        fail("%s: label sets of buckets and _count differ" % fam.name)
    for rest, buckets in series.items():
        bounds = [b for b, _ in buckets]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            fail("%s%s: bucket bounds out of order: %s" % (fam.name, rest, bounds))
        if not math.isinf(bounds[-1]):
            fail("%s%s: the last bucket is not +Inf" % (fam.name, rest))
        values = [v for _, v in buckets]
        if any(b < a for a, b in zip(values, values[1:])):
            fail("%s%s: cumulative counts fall: %s" % (fam.name, rest, values))
        if values[-1] != counts[rest]:
            fail("%s%s: +Inf bucket %s != _count %s" % (fam.name, rest, values[-1], counts[rest]))


def fmt(v):
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def main():
    if len(sys.argv) != 2:
        fail("usage: prom_parse.py FILE")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        fail("not valid exposition text: %r" % e)
    seen = set()
    for fam in families:
        if fam.name in seen:
            fail("family %s appears twice" % fam.name)
        seen.add(fam.name)
        if fam.type == "histogram":
            check_histogram(fam)
        for s in fam.samples:
            labels = ",".join('%s="%s"' % (k, s.labels[k]) for k in sorted(s.labels))
            print("%s%s %s" % (s.name, "{%s}" % labels if labels else "", fmt(s.value)))


main()
