"""Groups callgrind's per-function instruction counts (exclusive) into the
layers of a request and prints them per request as a Markdown table.

    python3 bench/layers.py LABEL=CALLGRIND_OUT:REQUESTS_FILE...

Each function counts in the first group its name matches (bench/layers.sh
runs the measurements)."""

import re
import subprocess
import sys

CATEGORIES = [
 ("allocator (malloc/free)", r"malloc|free\b|_int_|cfree|realloc|__rust_alloc|__rust_dealloc|__rdl_|__rust_realloc|\bmi_|_mi_|arena\.c|calloc"),
 ("memcpy/memmove", r"memcpy|memmove|memset|memcmp"),
 ("hyper: HTTP/1 parse, encode, connection", r"hyper::|hyper_util::|httparse"),
 ("http types (headers, URI, extensions)", r"http::|HeaderMap|hashbrown|BuildHasher|sip::"),
 ("listener (accept loop, watchdog, ConnectInfo)", r"keyward::listener|AddExtension|task_tracker"),
 ("request ids (tower-http, UUID)", r"request_id|uuid|getrandom|rand::"),
 ("middleware glue (from_fn, tower, tracing spans)", r"axum::middleware|tower::|tower_http::|tracing|Instrumented|task_local|keyward::http::envelope|keyward::http::observe|keyward::http::deadline|keyward::http::session::no_basic|keyward::http::untrusted|keyward::http::count_statements"),
 ("router (axum routing, matchit, params)", r"axum::routing|matchit|axum::extract|url_params|percent_encoding|axum::util|axum_core"),
 ("formatting (fmt)", r"core::fmt|alloc::fmt|String as core::fmt|pad_integral|LowerHex|Display>::fmt"),
 ("GraphQL (async-graphql, parsing, JSON)", r"async_graphql|pest|serde_json|serde"),
 ("authentication and /verify (keyward)", r"keyward::auth|keyward::http::verify|keyward::http::caller|blake2|keyward::usage|keyward::ids|subtle"),
 ("handlers, other keyward code", r"keyward::"),
 ("tokio runtime, futures", r"tokio::|futures|mio::|core::future"),
]


def load(path, n):
    out = subprocess.run(["callgrind_annotate", path], capture_output=True, text=True).stdout
    res = {c[0]: 0 for c in CATEGORIES}
    res["other"] = 0
    total = 0
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        v = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if "PROGRAM TOTALS" in name:
            total = v
            continue
        for c, rx in CATEGORIES:
            if re.search(rx, name):
                res[c] += v
                break
        else:
            res["other"] += v
    return {k: v / n for k, v in res.items()}, total / n


labels, data = [], []
for arg in sys.argv[1:]:
    label, files = arg.split("=", 1)
    path, n = files.split(":")
    with open(n) as requests:
        data.append(load(path, int(requests.read())))
    labels.append(label)
print("| group | " + " | ".join(labels) + " |")
print("|---" * (len(labels) + 1) + "|")
names = [c[0] for c in CATEGORIES] + ["other"]
for name in names:
    print("| " + name + " | " + " | ".join(f"{d[0][name]/1000:.1f}" for d in data) + " |")
print("| **total (thousand instructions per request)** | " + " | ".join(f"**{d[1]/1000:.1f}**" for d in data) + " |")
