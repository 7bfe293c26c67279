#!/usr/bin/env python3
"""Evaluate every PromQL expression of the Grafana dashboard and every alert
against a running Prometheus, and fail if one is invalid or returns no
series. dashboard-check.sh starts the Prometheus and the qredge processes it
scrapes; this only queries (standard library only).

Dashboard expressions are evaluated with the template variables replaced:
$__rate_interval and $__interval by 1m, $__range by 1h, every other
variable ($job, $instance) by .* (All).

Alerts are read from Prometheus's /api/v1/rules, so this also shows that
Prometheus loaded alerts.yml and that no rule failed to evaluate. An alert
that is not firing returns no series by design, so what is evaluated is
its *signal*: the expr without its final comparison with a number. Every
alert in alerts.yml is written as `<signal> <comparison> <number>`, with
the comparison outside any parentheses; an alert not of that form is an
error. No series from a signal means a metric or label the alert needs
does not exist.
"""

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request

SUBSTITUTIONS = [
    (re.compile(r"\$\{?__rate_interval\}?"), "1m"),
    (re.compile(r"\$\{?__interval\}?"), "1m"),
    (re.compile(r"\$\{?__range\}?"), "1h"),
    (re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?"), ".*"),
]

NUMBER = re.compile(r"^(bool\s+)?[-+]?(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[Ii]nf|NaN)$")
COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
SET_OPERATOR = re.compile(r"(and|or|unless)(?![A-Za-z0-9_])")


def substitute(expr):
    for pattern, value in SUBSTITUTIONS:
        expr = pattern.sub(value, expr)
    return expr


def signal(expr):
    """Return expr without its last top-level `<op> <number>`, or None."""
    depth, quote, i, last, setop = 0, None, 0, None, False
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            m = SET_OPERATOR.match(expr, i)
            if m and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] == "_")):
                setop = True
            for op in COMPARISONS:
                if expr.startswith(op, i):
                    last = (i, op)
                    i += len(op) - 1
                    break
        i += 1
    if last is None or setop:
        # After a top-level and/or/unless the comparison binds to the right
        # operand only: the signal would be wrong. Parenthesise the left.
        return None
    at, op = last
    if not NUMBER.match(expr[at + len(op):].strip()):
        return None
    return expr[:at].strip()


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:  # 400/422: a bad query
            return json.load(e)

    def query(self, expr):
        """Return (error, number of series)."""
        r = self.get("/api/v1/query", query=expr)
        if r.get("status") != "success":
            return "%s: %s" % (r.get("errorType"), r.get("error")), 0
        return None, len(r["data"]["result"])


def dashboard_exprs(path):
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(("panel %r %s" % (p.get("title"), t.get("refId")), t["expr"]))

    walk(dash.get("panels", []))
    # label_values(<selector>, <label>): the selector must select something.
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.match(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", q)
        if m:
            out.append(("variable $%s" % v["name"], m.group(1)))
        elif q.strip():
            out.append(("variable $%s" % v["name"], q))
    return out


def wait_for_scrapes(prom, jobs, samples, timeout):
    deadline = time.time() + timeout
    expr = 'min by (job) (count_over_time(up{job=~"%s"}[1m]))' % "|".join(jobs)
    while True:
        r = prom.get("/api/v1/query", query=expr)
        got = {}
        if r.get("status") == "success":
            got = {s["metric"].get("job"): float(s["value"][1]) for s in r["data"]["result"]}
        if all(got.get(j, 0) >= samples for j in jobs):
            up = prom.get("/api/v1/query", query='up{job=~"%s"} == 0' % "|".join(jobs))
            down = [s["metric"] for s in up.get("data", {}).get("result", [])]
            if down:
                sys.exit("dashboard-check: targets down: %s" % down)
            return
        if time.time() > deadline:
            sys.exit("dashboard-check: waited %ds for %d scrapes of %s; have %s" % (timeout, samples, jobs, got))
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prometheus", required=True, help="base URL, such as http://127.0.0.1:9090")
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--jobs", default="qredge-serve,qredge-edge,qredge-api,qredge-analytics",
                    help="jobs that must have been scraped before checking")
    ap.add_argument("--samples", type=int, default=5, help="scrapes each job must have in the last minute")
    ap.add_argument("--wait", type=int, default=60, help="seconds to wait for them")
    args = ap.parse_args()
    prom = Prometheus(args.prometheus)
    wait_for_scrapes(prom, args.jobs.split(","), args.samples, args.wait)

    failures = []
    n_dash = 0
    for where, expr in dashboard_exprs(args.dashboard):
        q = substitute(expr)
        err, n = prom.query(q)
        n_dash += 1
        if err:
            failures.append("%s: invalid: %s\n    %s" % (where, err, q))
        elif n == 0:
            failures.append("%s: no series\n    %s" % (where, q))

    rules = prom.get("/api/v1/rules", type="alert")
    n_alerts = 0
    for g in rules.get("data", {}).get("groups", []):
        for r in g.get("rules", []):
            where = "alert %s (group %s)" % (r["name"], g["name"])
            if r.get("health") == "err":
                failures.append("%s: evaluation failed: %s" % (where, r.get("lastError")))
            sig = signal(r["query"])
            n_alerts += 1
            if sig is None:
                failures.append("%s: expr is not `<signal> <comparison> <number>`:\n    %s" % (where, r["query"]))
                continue
            err, n = prom.query(sig)
            if err:
                failures.append("%s: invalid signal: %s\n    %s" % (where, err, sig))
            elif n == 0:
                failures.append("%s: signal returns no series\n    %s" % (where, sig))
    if n_alerts == 0:
        failures.append("Prometheus has loaded no alerting rules")

    for f in failures:
        print("dashboard-check: FAIL " + f, file=sys.stderr)
    print("dashboard-check: %d dashboard exprs and %d alert signals evaluated, %d failed"
          % (n_dash, n_alerts, len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
