"""Parse a Prometheus text exposition from stdin with prometheus_client (the Python
client's own parser, independent of robotd) and print its families as JSON.

Values are printed with repr() so that NaN and infinities survive JSON."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    out.append({
        "name": fam.name,
        "type": fam.type,
        "help": fam.documentation,
        "samples": [[s.name, s.labels, repr(float(s.value))] for s in fam.samples],
    })
json.dump(out, sys.stdout, indent=1)
