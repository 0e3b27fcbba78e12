#!/usr/bin/env python3
"""report.py — scripts/bench's report: the table, bench.json and bench.png.

    report.py META_JSON RESULTS_JSONL OUT_JSON OUT_PNG [ORGD_LOG]

META_JSON is what scripts/bench knows of the run (sizes, RSS idle and after,
the argon2 timing); RESULTS_JSONL has one record per measurement: the
BENCH_RESULT of wrk (test/bench/bench.lua) or of bench_bare_mongo, with the
CPU seconds orgd and the database spent in its window and orgd's largest
RSS during it. ORGD_LOG, orgd's JSON log, gives the database commands
and latency per route where its request lines carry db_commands. Prints
the tables, writes OUT_JSON, and draws OUT_PNG with gnuplot (skipped, with a warning, when gnuplot is not installed). Missed
targets are reported, never an error: exit 1 only when the inputs are
unusable.
"""
import json
import os
import shutil
import subprocess
import sys

RSS_LIMIT_MIB = 64

# label -> (name in the table and the chart)
NAMES = {
    "bare_civetweb_healthz": "GET /healthz, bare civetweb",
    "orgd_healthz": "GET /healthz, orgd",
    "bare_mongo_org_get": "GET /org/{name}, bare libmongoc 2 RT",
    "orgd_org_get": "GET /org/{name}, orgd",
    "probe_idle_healthz": "probe GET /healthz, idle",
    "probe_idle_org_get": "probe GET /org/{name}, idle",
    "orgd_login": "POST /admin/login",
    "probe_login_healthz": "probe GET /healthz, logins saturating",
    "probe_login_org_get": "probe GET /org/{name}, logins saturating",
    "list_small": "GET /organization/ @small",
    "org_get_small": "GET /org/{name} @small (account)",
    "bare_mongo_small": "bare libmongoc 2 RT @small",
    "create": "POST /organization/ (create)",
    "rename": "PUT /organization/{id} (rename)",
    "delete": "DELETE /organization/{id}",
    "list_large": "GET /organization/ @large",
    "org_get_large": "GET /org/{name} @large (account)",
    "bare_mongo_large": "bare libmongoc 2 RT @large",
}


def argon2_bound(meta):
    """Logins per second if hashing were all a login did: the cores over one
    verify's CPU time during the logins, else over bench_hash's idle median."""
    during = meta.get("hash_during_logins") or {}
    if during.get("hashes", 0) > 0 and during.get("cpu_s", 0) > 0:
        return meta["cores"] / (during["cpu_s"] / during["hashes"])
    return meta["hash"]["bound_per_s"]


def load(meta_path, results_path):
    meta = json.load(open(meta_path))
    recs = {}
    windows = {}
    for line in open(results_path):
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        recs[rec["result"]["label"]] = rec
        windows.setdefault(rec["window"], []).append(rec)
    # CPU per request: the window's CPU over the requests answered in it;
    # in the logins' window, over the logins alone (the light probes beside
    # them cost next to nothing, and get no figure of their own)
    for recs_in_window in windows.values():
        main = [r for r in recs_in_window if r["result"]["label"] == "orgd_login"]
        counted = main or recs_in_window
        total = sum(r["result"]["requests"] for r in counted)
        for r in recs_in_window:
            per = (lambda s: round(s * 1e6 / total, 1) if total and s else None)
            mine = r in counted
            r["orgd_cpu_us_per_req"] = per(r["orgd_cpu_s"]) if mine else None
            r["db_cpu_us_per_req"] = per(r["db_cpu_s"]) if mine else None
            r["bare_cpu_us_per_req"] = per(r.get("other_cpu_s", 0)) if mine else None
            r["requests_in_window"] = sum(x["result"]["requests"] for x in recs_in_window)
        for r in recs_in_window:
            res = r["result"]
            good = res["requests"] - res["errors"]["status"]
            res["ok_rps"] = round(good / res["duration_s"], 1) if res["duration_s"] > 0 else 0.0
    return meta, recs


def ms(us):
    return us / 1000.0


def fmt_ms(us):
    v = ms(us)
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def fmt_rps(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def errors(res):
    e = res["errors"]
    return e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"]


def build(meta, recs):
    small, large = meta["orgs_small"], meta["orgs_large"]
    rows = []  # (name, rps, p50, p99, errors, reference, ratio, target, met)
    targets = []

    def r(label):
        return recs.get(label, {}).get("result")

    def target(name, value, reference, ratio_text, target_text, met):
        targets.append({"name": name, "value": value, "reference": reference,
                        "ratio": ratio_text, "target": target_text, "met": met})
        return ratio_text, target_text, ("yes" if met else "NO") if met is not None else "?"

    def row(label, reference="", ratio="", target_text="", met=""):
        res = r(label)
        if res is None:
            rows.append((NAMES[label], "-", "-", "-", "-", reference, ratio, target_text,
                         met or "?"))
            return
        name = NAMES[label].replace("@small", f"@{small:,}").replace("@large", f"@{large:,}")
        c = recs[label].get("connections")
        if c is not None and c != meta["connections"] and not label.startswith("probe"):
            name += f" [{c} conn]"
        rows.append((name, fmt_rps(res["ok_rps"]), fmt_ms(res["latency_us"]["p50"]),
                     fmt_ms(res["latency_us"]["p99"]), str(errors(res)), reference, ratio,
                     target_text, met))

    def ratio_row(label, ref_label, key, want, cmp, name):
        """A row whose target is res[key] / ref[key] compared with want."""
        res, ref = r(label), r(ref_label)
        if res is None or ref is None:
            row(label, "", "", f"{cmp} {want}×", "?")
            return
        if res["requests"] == 0 or ref["requests"] == 0:
            t = target(name, None, None, "no answers", f"{cmp} {want}×", False)
            row(label, "", *t)
            return
        a = res["ok_rps"] if key == "rps" else res["latency_us"][key]
        b = ref["ok_rps"] if key == "rps" else ref["latency_us"][key]
        ratio = a / b if b else float("inf")
        met = ratio >= want if cmp == "≥" else ratio <= want if cmp == "≤" else ratio < want
        ref_text = (f"{fmt_rps(b)}/s" if key == "rps" else f"p99 {fmt_ms(b)} ms")
        t = target(name, a, b, f"{ratio:.2f}×", f"{cmp} {want}×", met)
        row(label, ref_text, *t)

    row("bare_civetweb_healthz")
    ratio_row("orgd_healthz", "bare_civetweb_healthz", "rps", 0.8, "≥",
              "/healthz vs bare civetweb (req/s)")
    row("bare_mongo_org_get")
    ratio_row("orgd_org_get", "bare_mongo_org_get", "rps", 0.7, "≥",
              "GET /org/{name} vs bare libmongoc 2 RT (req/s)")

    # CPU per authorized read
    og = recs.get("orgd_org_get")
    if og and og.get("orgd_cpu_us_per_req") is not None:
        v = og["orgd_cpu_us_per_req"]
        t = target("CPU per authorized read (µs)", v, 150, f"{v:.0f} µs", "≤ 150 µs", v <= 150)
        rows.append(("CPU per GET /org/{name}, orgd", "", "", "", "", "/proc utime+stime", *t))

    # logins against the argon2 bound
    # the bound: cores ÷ one verify's CPU, as orgd's hashes took it during
    # the logins (orgd_password_hash_cpu_seconds_total); bench_hash's timing
    # on an idle machine when orgd counted none
    login = r("orgd_login")
    bound = argon2_bound(meta)
    if login:
        ratio = login["ok_rps"] / bound if bound else 0
        t = target("login vs argon2 bound (req/s)", login["ok_rps"], bound, f"{ratio:.2f}×",
                   "≥ 0.85×", ratio >= 0.85)
        row("orgd_login", f"bound {bound:.1f}/s", *t)
    for probe in ("healthz", "org_get"):
        ratio_row(f"probe_login_{probe}", f"probe_idle_{probe}", "p99", 2, "<",
                  f"{'/healthz' if probe == 'healthz' else 'GET /org/{name}'} p99 while logins "
                  "saturate vs idle")
    row("probe_idle_healthz")
    row("probe_idle_org_get")

    for label in ("create", "rename", "delete"):
        row(label)

    row("list_small")
    ratio_row("list_large", "list_small", "p99", 1.5, "≤",
              f"GET /organization/ p99 at {large:,} vs {small:,} organizations")
    row("org_get_small")
    ratio_row("org_get_large", "org_get_small", "p99", 1.5, "≤",
              f"GET /org/{{name}} p99 at {large:,} vs {small:,} organizations")
    row("bare_mongo_small")
    res_s, res_l = r("bare_mongo_small"), r("bare_mongo_large")
    if res_s and res_l:
        p = res_l["latency_us"]["p99"] / max(res_s["latency_us"]["p99"], 1)
        row("bare_mongo_large", f"p99 {fmt_ms(res_s['latency_us']['p99'])} ms", f"{p:.2f}×",
            "(the database's own)", "")
    else:
        row("bare_mongo_large")

    # RSS: idle, the largest under any load, after, and the peak (VmHWM)
    orgd_labels = [k for k, v in recs.items() if not k.startswith("bare_")]
    under = max(((recs[k]["orgd_rss_max_kib"], not k.startswith("probe"), k) for k in orgd_labels),
                default=(0, True, "-"))
    under = (under[0], under[2])
    for name, kib, note in (("RSS idle", meta["rss_idle_kib"], ""),
                            ("RSS under load (largest sample)", under[0], NAMES.get(under[1], "")),
                            ("RSS after", meta["rss_after_kib"], ""),
                            ("RSS peak (VmHWM)", meta["rss_peak_kib"], "")):
        mib = kib / 1024
        t = target(name + " (MiB)", round(mib, 1), RSS_LIMIT_MIB, f"{mib:.1f} MiB",
                   f"≤ {RSS_LIMIT_MIB} MiB", mib <= RSS_LIMIT_MIB)
        rows.append((name, "", "", "", "", note, *t))
    return rows, targets


def table(header, rows):
    widths = [max(len(str(x[i])) for x in [header] + rows) for i in range(len(header))]
    line = lambda x: " | ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                                for i, (v, w) in enumerate(zip(x, widths)))
    out = [line(header), "-+-".join("-" * w for w in widths)]
    out += [line(x) for x in rows]
    return "\n".join(out)


def resources(recs):
    rows = []
    for label, name in NAMES.items():
        rec = recs.get(label)
        if not rec:
            continue
        f = lambda v: "-" if v is None else f"{v:,.0f}"
        rows.append((name, f(rec.get("orgd_cpu_us_per_req")), f(rec.get("bare_cpu_us_per_req")),
                     f(rec.get("db_cpu_us_per_req")),
                     f"{rec['orgd_rss_max_kib'] / 1024:.1f}" if rec["orgd_rss_max_kib"] else "-"))
    return rows


def routes_from_log(path):
    """Per method and route: requests, mean db_commands, mean latency_ms."""
    acc = {}
    if not path or not os.path.exists(path):
        return {}
    with open(path, errors="replace") as f:
        for line in f:
            if '"msg":"request"' not in line:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            key = f"{d.get('method')} {d.get('route')}"
            a = acc.setdefault(key, {"requests": 0, "db_commands": 0, "with_db": 0,
                                     "events_db": 0, "latency_ms": 0, "statuses": {}})
            a["requests"] += 1
            a["latency_ms"] += d.get("latency_ms", 0)
            st = str(d.get("status"))
            a["statuses"][st] = a["statuses"].get(st, 0) + 1
            if "db_commands" in d:
                a["with_db"] += 1
                a["db_commands"] += d["db_commands"]
                a["events_db"] += d.get("events_db_commands", 0)
    out = {}
    for key, a in sorted(acc.items(), key=lambda kv: -kv[1]["requests"]):
        out[key] = {"requests": a["requests"],
                    "db_commands_mean": round(a["db_commands"] / a["with_db"], 2)
                    if a["with_db"] else None,
                    "events_db_commands_mean": round(a["events_db"] / a["with_db"], 2)
                    if a["with_db"] else None,
                    "latency_ms_mean": round(a["latency_ms"] / a["requests"], 2),
                    "statuses": a["statuses"]}
    return out


def chart(recs, meta, png):
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("bench: gnuplot is not installed: no chart (scripts/bootstrap installs gnuplot-nox)",
              file=sys.stderr)
        return False
    small, large = meta["orgs_small"], meta["orgs_large"]
    base = os.path.splitext(png)[0]
    dat = base + ".dat"
    with open(dat, "w") as f:
        f.write("# scenario p50_ms p90_ms p99_ms\n")
        for label, name in NAMES.items():
            rec = recs.get(label)
            if not rec:
                continue
            name = name.replace("@small", f"@{small:,}").replace("@large", f"@{large:,}")
            c = rec.get("connections")
            if c is not None and c != meta["connections"] and not label.startswith("probe"):
                name += f" [{c} conn]"
            lat = rec["result"]["latency_us"]
            if rec["result"]["requests"] == 0:  # no bar, but the scenario is named
                f.write('"%s (no answers)" NaN NaN NaN\n' % name.replace('"', "'"))
                continue
            f.write('"%s" %.3f %.3f %.3f\n' % (name.replace('"', "'"), max(ms(lat["p50"]), 0.001),
                                               max(ms(lat["p90"]), 0.001),
                                               max(ms(lat["p99"]), 0.001)))
    title = (f"orgd bench ({meta['mode']}): latency per scenario — wrk, 1 thread, "
             f"{meta['connections']} connections (probes: 2, 10 ms apart); {meta['cores']} cores")
    script = f"""
set terminal pngcairo size 1600,800 font "sans,10" noenhanced
set output '{png}'
set title "{title}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ylabel "latency, ms (log scale)"
set grid ytics mytics
set key top left
set xtics rotate by 35 right nomirror
set bmargin 14
plot '{dat}' using 2:xtic(1) title 'p50' lc rgb '#4c9be8', \\
     '' using 3 title 'p90' lc rgb '#f0a030', \\
     '' using 4 title 'p99' lc rgb '#d04040'
"""
    with open(base + ".gp", "w") as f:
        f.write(script)
    run = subprocess.run([gnuplot, base + ".gp"], capture_output=True, text=True)
    if run.returncode != 0 or not os.path.exists(png):
        print("bench: gnuplot failed: " + run.stderr, file=sys.stderr)
        return False
    return True


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    meta_path, results_path, out_json, png = sys.argv[1:5]
    meta, recs = load(meta_path, results_path)
    routes = routes_from_log(sys.argv[5] if len(sys.argv) > 5 else None)
    rows, targets = build(meta, recs)
    h = meta["hash"]
    print()
    print(f"orgd bench ({meta['mode']}): {meta['cores']} cores, wrk 1 thread × "
          f"{meta['connections']} keep-alive connections, {meta['seconds']} s per main "
          f"measurement; orgd THREADS={meta['threads']}; database: {meta['database']}; "
          f"organizations {meta['orgs_small']:,} and {meta['orgs_large']:,}")
    print(f"argon2id m={h['m_kib']} t={h['t']} p={h['p']}: one verify {h['median_ms']:.1f} ms "
          f"(median of {h['samples']}, idle), {h['cores']} cores / that = "
          f"{h['bound_per_s']:.1f}/s; with every core hashing: {h['parallel_per_s']:.1f}/s")
    d = meta.get("hash_during_logins") or {}
    if d.get("hashes", 0) > 0:
        print(f"during the logins orgd's {d['hashes']} verifies took "
              f"{d['cpu_s'] * 1000 / d['hashes']:.1f} ms of CPU each: bound "
              f"{argon2_bound(meta):.1f}/s (the login row's reference)")
    j = meta.get("jwt")
    if j:
        print(f"orgd signs {meta.get('jwt_algorithm', 'HS256')}; one access token (lib/jwt.c, "
              f"{j['tokens']} each): ES256 sign {j['es256']['sign_us']:.0f} µs, first verify "
              f"{j['es256']['verify_us']:.0f} µs, verify of a token seen before "
              f"{j['es256']['verify_seen_us']:.2f} µs; HS256 {j['hs256']['sign_us']:.0f} / "
              f"{j['hs256']['verify_us']:.0f} / {j['hs256']['verify_seen_us']:.2f} µs")
    if max(meta["load_before"], meta["load_after"]) > 1.0:
        print(f"warning: the machine was busy (load average {meta['load_before']} before, "
              f"{meta['load_after']} after): numbers are unreliable")
    print()
    print(table(("scenario", "req/s", "p50 ms", "p99 ms", "errors", "reference", "ratio",
                 "target", "met?"), rows))
    print("req/s: answers below 400 per second; errors: answers >= 400 and socket errors; "
          "ratios use req/s or p99")
    one = meta.get("single_ms") or {}
    if one:
        small, large = meta["orgs_small"], meta["orgs_large"]
        print("one request alone: " + "; ".join(
            f"{'GET /organization/' if k.startswith('list') else 'GET /org/{name}'} "
            f"@{small if k.endswith('small') else large:,} {v:,.1f} ms" for k, v in one.items()))
    for size, p in (meta.get("db_probe") or {}).items():
        n = meta["orgs_small"] if size == "small" else meta["orgs_large"]
        print(f"the database alone @{n:,}, one find (limit 1): by name_key, the oldest org "
              f"{p['name_key_oldest_ms']:.1f} ms, the newest {p['name_key_newest_ms']:.1f} ms; "
              f"by _id, the newest {p['id_newest_ms']:.1f} ms")
    print()
    print("where the time goes: CPU µs per request (from /proc/<pid>/stat) and orgd's RSS")
    print(table(("scenario", "orgd µs", "bare server µs", "database µs", "orgd RSS MiB"),
                resources(recs)))
    if routes and any(r["db_commands_mean"] is not None for r in routes.values()):
        print()
        print("database commands per request, from orgd's log (every request of the run); "
              "of which the audit log's (appending events, and checking earlier ones)")
        print(table(("route", "requests", "db commands", "of which events", "mean latency ms",
                     "statuses"),
                    [(k, f"{r['requests']:,}", "-" if r["db_commands_mean"] is None
                      else f"{r['db_commands_mean']:.2f}",
                      "-" if r.get("events_db_commands_mean") is None
                      else f"{r['events_db_commands_mean']:.2f}", f"{r['latency_ms_mean']:.1f}",
                      " ".join(f"{s}:{n}" for s, n in sorted(r["statuses"].items())))
                     for k, r in routes.items()]))
    met = sum(1 for t in targets if t["met"])
    print()
    print(f"targets met: {met} of {len(targets)}"
          + ("  (smoke run: sizes too small for the targets to mean anything)"
             if meta["mode"] == "smoke" else ""))
    drawn = chart(recs, meta, png)
    doc = {
        "bench": "orgd",
        "meta": meta,
        "scenarios": {label: {k: v for k, v in rec.items() if k != "window"}
                      for label, rec in recs.items()},
        "targets": targets,
        "routes_from_log": routes,
        "targets_met": met,
        "targets_total": len(targets),
        "table": [dict(zip(("scenario", "rps", "p50_ms", "p99_ms", "errors", "reference",
                            "ratio", "target", "met"), r)) for r in rows],
        "chart": png if drawn else None,
    }
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
