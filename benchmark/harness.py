#!/usr/bin/env python3
"""Helpers of benchmark/run.sh (standard library only).

  harness.py make-inputs --dir D --quick 0|1   30 KB image, multipart body, large files
  harness.py make-batch --dir D --count N --tool T
                                               N sample images (tools/make_sample_images.py) in D,
                                               D.plates (PATH PLATE); prints one image of median size
  harness.py free-ports N                      N free TCP ports on 127.0.0.1
  harness.py machine --out F ...               machine and tool versions as JSON
  harness.py run --raw F [--suite ...] -- CMD  runs CMD bounded in time, appends one record
                                               (its JSON line, wall time, rusage) to F;
                                               --jsonl-output OUT --expect-lines N: CMD writes JSON
                                               Lines to OUT (the CLI), checked and summarised instead
  harness.py report --raw F --machine M --out DIR --quick 0|1
                                               results.json, RESULTS.md and plots/*.png
  harness.py replicas --cli C --mock M --out DIR [--procs 1,2,4,8,16]
                                               N carcheck processes on one rate-limited mock key:
                                               DIR/replicas.json, plots/replicas.png and the
                                               "Replicas" section of DIR/RESULTS.md
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BOUNDARY = "carcheck-BenchBoundary0123456789abcdefghijklmnopqrstu"


# --- inputs ----------------------------------------------------------------------------------
def jpeg_like(size, seed, plate="CAR1234"):
    """A file that starts like a JPEG (SOI, COM with a plate marker, SOF0 640x480)."""
    rng = random.Random(seed)
    marker = f"plate={plate};region=us-ca".encode()
    data = b"\xff\xd8" + b"\xff\xfe" + (len(marker) + 2).to_bytes(2, "big") + marker
    data += bytes([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03,
                   0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01])
    return data + rng.randbytes(size - len(data) - 2) + b"\xff\xd9"


def cmd_make_inputs(a):
    d = a.dir
    image = jpeg_like(30 * 1024, 7)
    with open(os.path.join(d, "car.jpg"), "wb") as f:
        f.write(image)
    # The multipart body wrk and the prebuilt-body curl peer send: the same framing as
    # carcheck::multipart_file_body (boundary length, headers, closing delimiter).
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"car.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode()
    with open(os.path.join(d, "body.bin"), "wb") as f:
        f.write(head + image + f"\r\n--{BOUNDARY}--\r\n".encode())
    with open(os.path.join(d, "body.ctype"), "w") as f:
        f.write(f"multipart/form-data; boundary={BOUNDARY}")
    sizes = [2, 20] if a.quick else [20, 200]
    for mb in sizes:
        with open(os.path.join(d, f"big-{mb}.bin"), "wb") as f:
            f.write(image)
            left = mb * 1000 * 1000 - len(image)
            while left > 0:
                n = min(left, 8 << 20)
                f.write(os.urandom(n))
                left -= n


def cmd_make_batch(a):
    """The 10,000-image batch: tools/make_sample_images.py (8 KiB JPEGs, distinct plates)."""
    d = a.dir.rstrip("/")
    plates = d + ".plates"
    with open(plates, "w") as f:
        subprocess.run([sys.executable, a.tool, d, "--count", str(a.count), "--size-kb", str(a.size_kb)],
                       stdout=f, check=True)
    files = sorted((os.path.getsize(os.path.join(d, n)), n) for n in os.listdir(d))
    if len(files) != a.count:
        sys.exit(f"make-batch: {len(files)} files in {d}, expected {a.count}")
    # Printed for runs that upload one file of the batch over and over: one of median size.
    print(os.path.join(d, files[len(files) // 2][1]))


def jsonl_result(path, expect, plates_file, wall, cpu, maxrss):
    """Checks the CLI's JSON Lines output and summarises it like a load generator's JSON line."""
    want = {}
    if plates_file:
        with open(plates_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    want[os.path.basename(parts[0])] = parts[1]
    lines = ok_lines = bad_json = plates_ok = 0
    inputs = set()
    first_error = None
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        return {"tool": "carcheck_cli", "images": expect, "lines": 0, "ok_lines": 0, "errors": max(1, expect),
                "first_error": str(e), "seconds": wall, "rps": None, "cpu_s": cpu, "peak_rss_kib": maxrss}
    with f:
        for line in f:
            if not line.strip():
                continue
            lines += 1
            try:
                o = json.loads(line)
            except ValueError:
                bad_json += 1
                continue
            inputs.add(o.get("input"))
            if o.get("ok") is True:
                ok_lines += 1
                if want.get(os.path.basename(str(o.get("input")))) == o.get("plate"):
                    plates_ok += 1
            elif first_error is None:
                first_error = f"{o.get('input')}: {o.get('error')} {o.get('message')}"
    errors = max(0, expect - ok_lines) + bad_json + max(0, lines - expect)
    if want and plates_ok != ok_lines:
        errors += ok_lines - plates_ok
        first_error = first_error or f"{ok_lines - plates_ok} plate(s) differ from the generated ones"
    if len(inputs) != lines:
        errors += lines - len(inputs)
        first_error = first_error or f"{lines - len(inputs)} input(s) written more than once"
    return {"tool": "carcheck_cli", "images": expect, "lines": lines, "ok_lines": ok_lines,
            "distinct_inputs": len(inputs), "plates_checked": bool(want), "plates_matched": plates_ok,
            "bad_json": bad_json, "errors": errors, "first_error": first_error,
            "seconds": wall, "rps": ok_lines / wall if wall > 0 and not errors else None,
            "cpu_s": cpu, "cpu_us_per_req": cpu * 1e6 / ok_lines if ok_lines else None,
            "peak_rss_kib": maxrss}


def cmd_free_ports(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


# --- machine ---------------------------------------------------------------------------------
def sh(cmd):
    try:
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)
        return (p.stdout + p.stderr).strip()
    except Exception as e:  # noqa: BLE001
        return f"({e})"


def cmd_machine(a):
    lscpu = sh("lscpu")
    model = re.search(r"Model name:\s*(.*)", lscpu)
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    osr = sh(". /etc/os-release && echo $PRETTY_NAME")
    m = {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cpus": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "os": osr,
        "virtualization": (re.search(r"Hypervisor vendor:\s*(.*)", lscpu) or [None, "none"])[1],
        "server_cpu": a.server_cpu,
        "client_cpu": a.client_cpu,
        "quick": bool(a.quick),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": {
            "g++": sh("g++ --version | head -1"),
            "cmake": sh("cmake --version | head -1"),
            "boost": sh("dpkg-query -W -f='${Version}' libboost1.81-dev"),
            "openssl": sh("openssl version"),
            "nginx": sh("nginx -v"),
            "wrk": sh("wrk -v 2>&1 | head -1"),
            "curl": sh("curl --version | head -1"),
            "libcurl (dev)": sh("dpkg-query -W -f='${Version}' libcurl4-openssl-dev"),
            "gnuplot": sh("gnuplot --version"),
        },
        "nginx_conf": open(a.nginx_conf).read() if a.nginx_conf else "",
    }
    with open(a.out, "w") as f:
        json.dump(m, f, indent=1)


# --- run -------------------------------------------------------------------------------------
def cmd_run(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    env = dict(os.environ)
    for kv in a.env or []:
        k, _, v = kv.partition("=")
        env[k] = v
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    fd, usage_file = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    launch = [a.launcher, usage_file] + cmd if a.launcher else cmd
    if a.jsonl_output and os.path.exists(a.jsonl_output):
        os.unlink(a.jsonl_output)  # the CLI appends: every run starts from an empty file
    t0 = time.monotonic()
    p = subprocess.Popen(launch, stdout=out, stderr=err, env=env, start_new_session=True)
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(a.timeout, kill)
    timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    cpu, maxrss = ru.ru_utime + ru.ru_stime, ru.ru_maxrss
    try:
        with open(usage_file) as f:
            u = json.load(f)
        wall, cpu, maxrss = u["wall_s"], u["user_s"] + u["sys_s"], u["maxrss_kib"]
    except (OSError, ValueError, KeyError):
        if a.launcher:
            print("    (no figures from the launcher: killed?)", file=sys.stderr)
    finally:
        os.unlink(usage_file)
    ru = None
    out.seek(0)
    err.seek(0)
    stdout = out.read().decode(errors="replace")
    stderr = err.read().decode(errors="replace")
    result = None
    if a.jsonl_output:
        result = jsonl_result(a.jsonl_output, a.expect_lines, a.expect_plates, wall, cpu, maxrss)
        if result.get("first_error"):
            stderr += f"\njsonl check: {result['errors']} error(s); first: {result['first_error']}"
    for line in ([] if a.jsonl_output else reversed(stdout.splitlines())):
        line = line.strip()
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                pass
    ok = p.returncode == 0 and not timed_out.is_set()
    if a.expect_stdout is not None:
        ok = ok and stdout.strip() == a.expect_stdout
    elif result is None:
        ok = False
    if result is not None and result.get("errors"):
        ok = False
    rec = {
        "suite": a.suite, "client": a.client, "conc": a.conc, "size_mb": a.size_mb, "rep": a.rep,
        "ok": ok, "rc": p.returncode, "timed_out": timed_out.is_set(),
        "wall_s": wall, "cpu_s": cpu, "maxrss_kib": maxrss,
        "result": result, "cmd": " ".join(shlex.quote(c) for c in cmd),
        "stderr_tail": stderr[-600:],
    }
    with open(a.raw, "a") as f:
        f.write(json.dumps(rec) + "\n")
    label = f"{a.suite}/{a.client}" + (f" c={a.conc}" if a.conc else "") + (f" {a.size_mb}MB" if a.size_mb else "")
    summary = ""
    if a.jsonl_output and result:
        summary = (f"{result['ok_lines']}/{result['images']} lines ok, {wall:.2f} s, "
                   f"{result['ok_lines'] / wall if wall > 0 else 0:.0f} images/s, CPU {cpu:.2f} s, "
                   f"peak RSS {maxrss / 1024:.1f} MiB")
    elif result and "rps" in result:
        summary = f"{result['rps']:.0f} req/s p99 {result.get('p99_ms', 0):.2f} ms"
    elif a.suite == "large":
        summary = f"{wall:.2f} s, peak RSS {maxrss / 1024:.1f} MiB"
    print(f"  {label:38s} run {a.rep}: {'ok ' if ok else 'FAILED'} {summary}", file=sys.stderr)
    if not ok:
        print("    " + stderr[-400:].replace("\n", "\n    "), file=sys.stderr)


# --- report ----------------------------------------------------------------------------------
def stats(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}


def fmt(x, digits=0):
    if x is None:
        return "–"
    if isinstance(x, float) and digits == 0 and abs(x) < 10:
        digits = 2
    return f"{x:,.{digits}f}"


def mmm(s, digits=0, scale=1.0):
    if not s:
        return "–"
    return " / ".join(fmt(s[k] * scale, digits) for k in ("min", "median", "max"))


def metric(rec, name):
    r = rec.get("result") or {}
    if name == "cpu_us_per_req":
        if r.get("cpu_us_per_req") is not None:
            return r["cpu_us_per_req"]
        # wrk: its own process CPU (external rusage) per request.
        return rec["cpu_s"] * 1e6 / r["requests"] if r.get("requests") else None
    if name == "ext_rss_mib":
        return rec["maxrss_kib"] / 1024
    if name == "wall_s":
        return rec["wall_s"]
    return r.get(name)


def group(recs, **keys):
    return [r for r in recs if r["ok"] and all(r.get(k) == v for k, v in keys.items())]


def gnuplot(script):
    if not shutil.which("gnuplot"):
        return False
    p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    if p.returncode != 0:
        print("gnuplot: " + p.stderr, file=sys.stderr)
    return p.returncode == 0


def cmd_report(a):
    recs = [json.loads(l) for l in open(a.raw) if l.strip()]
    machine = json.load(open(a.machine))
    quick = bool(a.quick)
    out_dir = a.out
    plots = os.path.join(out_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    failed = [r for r in recs if not r["ok"]]

    summary = {}
    targets = []

    def target(name, value, goal, met, note=""):
        targets.append({"target": name, "value": value, "goal": goal, "met": met, "note": note})

    # 1. small uploads
    small_clients = ["carcheck", "curl_multi", "wrk"]
    concs = sorted({r["conc"] for r in recs if r["suite"] == "small"})
    small = {}
    for c in concs:
        for cl in small_clients:
            g = group(recs, suite="small", client=cl, conc=c)
            small[f"{cl}@{c}"] = {m: stats([metric(r, m) for r in g]) for m in
                                  ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "allocs_per_req", "ext_rss_mib",
                                   "handshakes_full", "handshakes_resumed")}
    summary["small"] = small
    variant_clients = ["carcheck_bytes", "carcheck_threads2", "carcheck_noreuse", "curl_multi_noreuse",
                       "curl_multi_prebuilt"]
    vconcs = sorted({r["conc"] for r in recs if r["suite"] == "variant"})
    variants = {}
    for c in vconcs:
        for cl in variant_clients:
            g = group(recs, suite="variant", client=cl, conc=c)
            variants[f"{cl}@{c}"] = {m: stats([metric(r, m) for r in g]) for m in
                                     ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "allocs_per_req", "ext_rss_mib",
                                      "handshakes_full", "handshakes_resumed")}
    summary["variants"] = variants

    def med(d, key, m="rps"):
        s = d.get(key, {}).get(m)
        return s["median"] if s else None

    for c in (8, 64):
        cc, cu, wk = med(small, f"carcheck@{c}"), med(small, f"curl_multi@{c}"), med(small, f"wrk@{c}")
        r1 = cc / cu if cc and cu else None
        r2 = cc / wk if cc and wk else None
        target(f"small uploads, {c} concurrent: carcheck / libcurl multi requests/s", r1, "≥ 2×",
               r1 is not None and r1 >= 2.0)
        target(f"small uploads, {c} concurrent: carcheck / wrk -t1 requests/s", r2, "≥ 0.7×",
               r2 is not None and r2 >= 0.7)
        allocs = med(small, f"carcheck@{c}", "allocs_per_req")
        peer = med(small, f"curl_multi@{c}", "allocs_per_req")
        target(f"small uploads, {c} concurrent: carcheck heap allocations per request", allocs, "≤ 30",
               allocs is not None and allocs <= 30,
               f"libcurl multi: {fmt(peer, 1)}" if peer is not None else "")

    # 3. large uploads
    sizes = sorted({r["size_mb"] for r in recs if r["suite"] == "large"})
    large_clients = ["carcheck_multipart", "curl_form", "carcheck_base64", "base64_pipe_curl"]
    titles = {"carcheck_multipart": "carcheck multipart", "curl_form": "curl -F",
              "carcheck_base64": "carcheck base64", "base64_pipe_curl": "base64 | curl -T -"}
    large = {}
    for mb in sizes:
        for cl in large_clients:
            g = group(recs, suite="large", client=cl, size_mb=mb)
            large[f"{cl}@{mb}"] = {"wall_s": stats([metric(r, "wall_s") for r in g]),
                                   "rss_mib": stats([metric(r, "ext_rss_mib") for r in g]),
                                   "cpu_s": stats([r["cpu_s"] for r in g])}
    summary["large"] = large

    def lmed(key, m):
        s = large.get(key, {}).get(m)
        return s["median"] if s else None

    for mb in sizes:
        a_, b_ = lmed(f"carcheck_multipart@{mb}", "wall_s"), lmed(f"curl_form@{mb}", "wall_s")
        r = a_ / b_ if a_ and b_ else None
        target(f"{mb} MB multipart upload: wall time carcheck / curl -F", r, "≤ 1.0×", r is not None and r <= 1.0)
        a_, b_ = lmed(f"carcheck_multipart@{mb}", "rss_mib"), lmed(f"curl_form@{mb}", "rss_mib")
        target(f"{mb} MB multipart upload: peak RSS carcheck vs curl -F (MiB)",
               f"{fmt(a_, 1)} vs {fmt(b_, 1)}" if a_ and b_ else None, "≤ curl's",
               a_ is not None and b_ is not None and a_ <= b_)
        a_, b_ = lmed(f"carcheck_base64@{mb}", "wall_s"), lmed(f"base64_pipe_curl@{mb}", "wall_s")
        r = a_ / b_ if a_ and b_ else None
        target(f"{mb} MB base64 upload: wall time carcheck / (base64 -w0 | curl -T -)", r, "≤ 1.0×",
               r is not None and r <= 1.0)
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        for cl in ("carcheck_multipart", "carcheck_base64"):
            a_, b_ = lmed(f"{cl}@{lo}", "rss_mib"), lmed(f"{cl}@{hi}", "rss_mib")
            d = (b_ - a_) if a_ is not None and b_ is not None else None
            target(f"{cl.replace('carcheck_', 'carcheck ')}: peak RSS growth {lo} MB → {hi} MB (MiB)", d,
                   "< 1 MB", d is not None and d < 1000 * 1000 / 1048576)

    # 4. encoders
    enc_recs = group(recs, suite="encode")
    enc_keys = ["base64_carcheck_mbps", "base64_carcheck_incremental_mbps", "base64_openssl_mbps",
                "base64_openssl_blocks_mbps", "framing_read_file_us", "framing_multipart_file_us",
                "framing_base64_file_us", "framing_multipart_memory_us", "framing_multipart_overhead_us"]
    enc = {k: stats([metric(r, k) for r in enc_recs]) for k in enc_keys}
    summary["encode"] = enc
    cc = enc["base64_carcheck_mbps"]["median"] if enc["base64_carcheck_mbps"] else None
    os_ = enc["base64_openssl_mbps"]["median"] if enc["base64_openssl_mbps"] else None
    r = cc / os_ if cc and os_ else None
    target("base64 encoder: carcheck / EVP_EncodeBlock throughput", r, "≥ 1.0×", r is not None and r >= 1.0)
    identical = all((x.get("result") or {}).get("outputs_identical") for x in enc_recs) if enc_recs else None

    # 5. scheduler
    sch = group(recs, suite="scheduler")
    summary["scheduler"] = {k: stats([metric(r, k) for r in sch]) for k in
                            ("achieved_ratio", "overall_rps", "allowed_rps", "responses_403",
                             "responses_403_after_first_window", "throttled_seconds", "seconds")}
    ratios = [metric(r, "achieved_ratio") for r in sch]
    late403 = [metric(r, "responses_403_after_first_window") for r in sch]
    worst = min(ratios) if ratios and None not in ratios else None
    target("scheduler: achieved / allowed rate (worst run, full windows)", worst, "≥ 95 %",
           worst is not None and worst >= 0.95)
    target("scheduler: 403s after the first window (all runs)", sum(late403) if sch else None, "0",
           bool(sch) and sum(late403) == 0)

    # 6. pool
    pool = group(recs, suite="pool")
    summary["pool"] = {k: stats([metric(r, k) for r in pool]) for k in
                       ("requests", "connects", "handshakes_full", "handshakes_resumed", "reuses", "rps")}
    worst_full = max((metric(r, "handshakes_full") for r in pool), default=None)
    maxc = (pool[0].get("result") or {}).get("max_connections") if pool else None
    target("pool: full TLS handshakes per run (worst run)", worst_full, f"≤ max_connections ({maxc})",
           worst_full is not None and maxc is not None and worst_full <= maxc)

    # 7. batch: the command-line tool over a folder vs the library, same mock, same concurrency
    bcli = group(recs, suite="batch", client="carcheck_cli")
    blib = group(recs, suite="batch", client="carcheck_library")
    batch = {
        "cli": {k: stats(v) for k, v in (
            ("images", [metric(r, "ok_lines") for r in bcli]),
            ("images_per_s", [metric(r, "rps") for r in bcli]),
            ("wall_s", [r["wall_s"] for r in bcli]),
            ("cpu_s", [r["cpu_s"] for r in bcli]),
            ("cpu_us_per_image", [metric(r, "cpu_us_per_req") for r in bcli]),
            ("rss_mib", [metric(r, "ext_rss_mib") for r in bcli]))},
        "library": {k: stats(v) for k, v in (
            ("requests", [metric(r, "requests") for r in blib]),
            ("rps", [metric(r, "rps") for r in blib]),
            ("wall_s", [r["wall_s"] for r in blib]),
            ("cpu_s", [r["cpu_s"] for r in blib]),
            ("cpu_us_per_req", [metric(r, "cpu_us_per_req") for r in blib]),
            ("rss_mib", [metric(r, "ext_rss_mib") for r in blib]),
            ("p99_ms", [metric(r, "p99_ms") for r in blib]))},
    }
    # Paired: each run's CLI against the library run next to it (the VM's speed drifts
    # between pairs more than within one), then the median over the pairs.
    paired = []
    for rep in sorted({r["rep"] for r in bcli} & {r["rep"] for r in blib}):
        cr = metric(next(r for r in bcli if r["rep"] == rep), "rps")
        lr = metric(next(r for r in blib if r["rep"] == rep), "rps")
        if cr and lr:
            paired.append(cr / lr)
    batch["paired_ratios"] = paired
    # 7b. the same batch from a cold page cache: the CLI with its read-ahead and without
    cold = {}
    for name, client in (("read_ahead", "carcheck_cli"), ("no_read_ahead", "carcheck_cli_no_read_ahead")):
        rs = group(recs, suite="batch_cold", client=client)
        cold[name] = {k: stats(v) for k, v in (
            ("wall_s", [r["wall_s"] for r in rs]),
            ("images_per_s", [metric(r, "rps") for r in rs]),
            ("cpu_s", [r["cpu_s"] for r in rs]))}
    batch["cold"] = cold
    bratio = statistics.median(paired) if paired else None
    batch["ratio"] = bratio
    summary["batch"] = batch
    bconc = (bcli or blib or [{}])[0].get("conc")
    bn = fmt(batch["cli"]["images"]["max"]) if batch["cli"]["images"] else "–"
    target(f"{bn}-image batch, {bconc} concurrent (carcheck-mock): carcheck CLI images/s / library requests/s",
           bratio, "≥ 0.9×", bratio is not None and bratio >= 0.9,
           f"CLI median: CPU {fmt(batch['cli']['cpu_s']['median'], 2)} s, peak RSS "
           f"{fmt(batch['cli']['rss_mib']['median'], 1)} MiB" if bcli else "")

    plot_files = []
    with tempfile.TemporaryDirectory() as td:
        if concs:
            for cl in small_clients:
                with open(os.path.join(td, f"{cl}.dat"), "w") as f:
                    for c in concs:
                        s = small[f"{cl}@{c}"]["rps"]
                        if s:
                            f.write(f"{c} {s['median']} {s['min']} {s['max']}\n")
            png = os.path.join(plots, "rps_vs_concurrency.png")
            if gnuplot(f"""
set terminal pngcairo size 800,500 font ",10"
set output '{png}'
set title 'Small uploads (30 KB multipart, TLS keep-alive): requests/s vs concurrency (median, min-max)'
set logscale x 2
set xrange [0.8:80]
set xlabel 'concurrent requests'
set ylabel 'requests/s'
set yrange [0:*]
set key top left
set grid
plot '{td}/carcheck.dat' using 1:2:3:4 with yerrorlines lw 2 title 'carcheck', \\
     '{td}/curl_multi.dat' using 1:2:3:4 with yerrorlines lw 2 title 'libcurl multi', \\
     '{td}/wrk.dat' using 1:2:3:4 with yerrorlines lw 2 title 'wrk -t1 (ceiling)'
"""):
                plot_files.append(("Requests/s vs concurrency", "plots/rps_vs_concurrency.png"))
            for cl in small_clients:
                with open(os.path.join(td, f"{cl}.lat"), "w") as f:
                    for c in concs:
                        s = small[f"{cl}@{c}"]["p99_ms"]
                        if s:
                            f.write(f"{c} {s['median']} {s['min']} {s['max']}\n")
            png = os.path.join(plots, "p99_vs_concurrency.png")
            if gnuplot(f"""
set terminal pngcairo size 800,500 font ",10"
set output '{png}'
set title 'Small uploads: p99 latency vs concurrency (median, min-max)'
set logscale x 2
set xrange [0.8:80]
set xlabel 'concurrent requests'
set ylabel 'p99 latency (ms)'
set yrange [0:*]
set key top left
set grid
plot '{td}/carcheck.lat' using 1:2:3:4 with yerrorlines lw 2 title 'carcheck', \\
     '{td}/curl_multi.lat' using 1:2:3:4 with yerrorlines lw 2 title 'libcurl multi', \\
     '{td}/wrk.lat' using 1:2:3:4 with yerrorlines lw 2 title 'wrk -t1'
"""):
                plot_files.append(("p99 latency vs concurrency", "plots/p99_vs_concurrency.png"))
        if sizes:
            for what, ylabel, fname in (("rss_mib", "peak RSS (MiB)", "rss_vs_size.png"),
                                        ("wall_s", "wall time (s)", "upload_time_vs_size.png")):
                for cl in large_clients:
                    with open(os.path.join(td, f"{cl}.{what}"), "w") as f:
                        for mb in sizes:
                            s = large[f"{cl}@{mb}"][what]
                            if s:
                                f.write(f"{mb} {s['median']} {s['min']} {s['max']}\n")
                png = os.path.join(plots, fname)
                lines = ", \\\n     ".join(
                    f"'{td}/{cl}.{what}' using 1:2:3:4 with yerrorlines lw 2 title '{titles[cl]}'"
                    for cl in large_clients)
                if gnuplot(f"""
set terminal pngcairo size 800,500 font ",10"
set output '{png}'
set title 'Large uploads: {ylabel} vs file size (median, min-max)'
set logscale x 10
set xlabel 'file size (MB)'
set ylabel '{ylabel}'
set yrange [0:*]
set xrange [{sizes[0] * 0.7}:{sizes[-1] * 1.4}]
set key top left
set grid
plot {lines}
"""):
                    plot_files.append((f"Large uploads: {ylabel} vs file size", f"plots/{fname}"))

    # 9. compile time of a user's file
    compile_ = compile_summary(recs)
    summary["compile"] = compile_
    ref = compile_["boost_only"]["wall_s"]
    cmp_ = compile_["quick_start_compiled"]["wall_s"]
    ratio = cmp_["median"] / ref["median"] if ref and cmp_ else None
    target("compile time: quick start with the compiled library / Asio+SSL+JSON-only file", ratio, "≤ 2×",
           ratio is not None and ratio <= 2.0)

    # --- results.json ------------------------------------------------------------------------
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"machine": machine, "quick": quick, "summary": summary, "targets": targets, "runs": recs},
                  f, indent=1)

    # --- RESULTS.md --------------------------------------------------------------------------
    md = []
    w = md.append
    w("# carcheck benchmark results\n")
    w("Generated by `bash benchmark/run.sh" + (" --quick" if quick else "") + f"` on {machine['date']}. "
      "Do not edit by hand: rerun the command (see [README.md](README.md) for what each figure means).\n")
    if quick:
        w("> **Smoke run (`--quick`)**: one short run per measurement and small files. The figures only show "
          "that the programs work; they are not measurements and the targets below are not meaningful.\n")
    runs_n = max(((r["rep"] or 0) for r in recs if r["suite"] != "small" and not r["suite"].startswith("batch")), default=0)
    small_n = max(((r["rep"] or 0) for r in recs if r["suite"] == "small"), default=0)
    w(f"Every figure is **min / median / max of {runs_n} run(s)** (section 1: of {small_n}; section 7: of its "
      "pairs); ratios use medians. "
      f"Server (nginx, one worker; carcheck-mock) on core {machine['server_cpu']}, every client "
      f"pinned to core {machine['client_cpu']} with `taskset`. Loopback only.\n")
    if failed:
        w(f"**{len(failed)} run(s) failed** and are excluded from the figures: " +
          ", ".join(f"{r['suite']}/{r['client']}" + (f"@{r['conc']}" if r['conc'] else "") +
                    (f"@{r['size_mb']}MB" if r['size_mb'] else "") + f" run {r['rep']}" for r in failed) + ".\n")

    w("## Targets\n")
    w("| target | measured | goal | |")
    w("|---|---|---|---|")
    for t in targets:
        v = t["value"]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and ("×" in t["goal"] or "%" in t["goal"]):
            v = float(v)
        if isinstance(v, float):
            v = f"{v:.2f}" + ("×" if "×" in t["goal"] else "")
            if "%" in t["goal"]:
                v = f"{t['value'] * 100:.1f} %"
        if t.get("note"):
            v = f"{v if v is not None else '–'} ({t['note']})"
        w(f"| {t['target'].replace('|', chr(92) + '|')} | {v if v is not None else '–'} | {t['goal']} | "
          f"{'**met**' if t['met'] else '**not met**'} |")
    w("")
    analysis = os.path.join(out_dir, "analysis.md")
    if os.path.exists(analysis):
        w("## Where targets are missed: analysis\n")
        w(open(analysis).read().strip() + "\n")

    w("## Machine\n")
    w(f"- CPU: {machine['cpu']}, {machine['cpus']} logical CPUs (hypervisor: {machine['virtualization']}), "
      f"{machine['memory']} RAM")
    w(f"- {machine['os']}, Linux {machine['kernel']}")
    for k, v in machine["versions"].items():
        w(f"- {k}: `{v.splitlines()[0] if v else ''}`")
    w("")

    def small_table(title, data, clients, cs, names):
        w(f"### {title}\n")
        w("| client | concurrent | requests/s | p50 (ms) | p99 (ms) | CPU µs / request | allocations / request | "
          "peak RSS (MiB) | TLS handshakes full / resumed |")
        w("|---|---|---|---|---|---|---|---|---|")
        for c in cs:
            for cl in clients:
                s = data.get(f"{cl}@{c}")
                if not s or not s["rps"]:
                    continue
                hs = "–"
                if s["handshakes_full"]:
                    hs = f"{fmt(s['handshakes_full']['median'])} / {fmt(s['handshakes_resumed']['median'])}"
                w(f"| {names.get(cl, cl)} | {c} | {mmm(s['rps'])} | {mmm(s['p50_ms'], 2)} | {mmm(s['p99_ms'], 2)} | "
                  f"{mmm(s['cpu_us_per_req'], 1)} | {mmm(s.get('allocs_per_req'), 1)} | {mmm(s['ext_rss_mib'], 1)} | {hs} |")
        w("")

    w("## 1. Small uploads (POST /v3/recognize, 30 KB image, multipart, TLS keep-alive)\n")
    names = {"carcheck": "carcheck (`recognize_file`, 1 thread)", "curl_multi": "libcurl multi (`curl_mime` file part)",
             "wrk": "wrk -t1 (prebuilt body)", "carcheck_bytes": "carcheck `recognize_bytes` (base64 JSON)",
             "carcheck_threads2": "carcheck, io_context on 2 threads", "carcheck_noreuse": "carcheck, fresh client per request",
             "curl_multi_noreuse": "libcurl multi, fresh connection, no session cache",
             "curl_multi_prebuilt": "libcurl multi, prebuilt body in memory"}
    small_table("Side by side", small, small_clients, concs, names)
    w("Handshakes are counted after the warm-up (which opens the pool), so 0 / 0 means every measured request "
      "reused a connection.\n")
    w("## 2. Variants\n")
    small_table("recognize_bytes, 2 threads, no connection reuse, curl with a prebuilt body", variants,
                variant_clients, vconcs, names)

    w("## 3. Large uploads (one file, TLS)\n")
    w("Wall time of the whole process (start to exit) and its peak RSS (`ru_maxrss` from `wait4`; for the "
      "pipeline the largest of `base64` and `curl`).\n")
    w("| client | file | wall time (s) | peak RSS (MiB) | CPU time (s) |")
    w("|---|---|---|---|---|")
    for mb in sizes:
        for cl in large_clients:
            s = large[f"{cl}@{mb}"]
            w(f"| {titles[cl].replace('|', chr(92) + '|')} | {mb} MB | {mmm(s['wall_s'], 3)} | {mmm(s['rss_mib'], 1)} | "
              f"{mmm(s['cpu_s'], 3)} |")
    w("")

    w("## 4. Encoders (no network)\n")
    w(f"Buffer: {fmt(((enc_recs[0].get('result') or {}).get('buffer_bytes', 0)) / 1048576)} MiB of random bytes; "
      f"MB/s of input, best of the repetitions inside a run. Outputs identical to OpenSSL's: "
      f"{'yes' if identical else 'NO'}.\n")
    w("| encoder | MB/s |")
    w("|---|---|")
    for k, label in (("base64_carcheck_mbps", "carcheck `detail::base64::encode` (one call)"),
                     ("base64_carcheck_incremental_mbps", "carcheck incremental encoder, 48 KiB blocks (what base64_body does)"),
                     ("base64_openssl_mbps", "OpenSSL `EVP_EncodeBlock` (one call)"),
                     ("base64_openssl_blocks_mbps", "OpenSSL `EVP_EncodeBlock`, 48 KiB blocks")):
        w(f"| {label} | {mmm(enc[k])} |")
    w("")
    w("Framing cost per request of the 30 KB image (construct the body, open the file, run the Beast "
      "BodyWriter to the end; no network):\n")
    w("| body | µs per request |")
    w("|---|---|")
    for k, label in (("framing_read_file_us", "floor: open + read + close the file"),
                     ("framing_multipart_file_us", "`multipart_file_body` from the file"),
                     ("framing_multipart_overhead_us", "multipart framing overhead over the floor"),
                     ("framing_multipart_memory_us", "`multipart_file_body` over a memory buffer (framing only)"),
                     ("framing_base64_file_us", "`base64_body` from the file (includes encoding)")):
        w(f"| {label} | {mmm(enc[k], 2)} |")
    w("")

    w("## 5. Scheduler (carcheck-mock key limited to N requests per window)\n")
    if sch:
        r0 = sch[0]["result"]
        w(f"Batch of {r0['requests']} recognitions submitted at once through one client (default scheduler options, "
          f"16 connections, plain HTTP on loopback); key limited to {r0['rate']} requests per {r0['window_s']} s "
          f"(allowed rate {r0['allowed_rps']:.1f}/s). Achieved rate = mean requests per full window (not the first, "
          f"entered at a random point, nor the last, where the batch runs out) / N.\n")
        w("| run | seconds | requests per window | achieved / allowed | overall req/s | 403s | 403s after first window | throttled time (s, summed over requests) |")
        w("|---|---|---|---|---|---|---|---|")
        for r in sch:
            x = r["result"]
            ratio = x.get("achieved_ratio")
            w(f"| {r['rep']} | {x['seconds']:.1f} | {x['per_window']} | "
              f"{(f'{ratio * 100:.1f} %' if ratio is not None else '–')} | {x['overall_rps']:.1f} | "
              f"{x['responses_403']} | {x['responses_403_after_first_window']} | {x['throttled_seconds']:.1f} |")
        w("")

    w("## 6. Pool (handshakes)\n")
    if pool:
        r0 = pool[0]["result"]
        w(f"{r0['requests']} requests, 16 concurrent, `max_connections` {maxc}, TLS to carcheck-mock, which answers "
          "the 250th request of a connection with `Connection: close` (so the pool must reconnect; new "
          "connections should resume a TLS session).\n")
        w("| run | requests | connects | full handshakes | resumed handshakes | full per 10,000 requests | "
          "resumed per 10,000 requests |")
        w("|---|---|---|---|---|---|---|")
        for r in pool:
            x = r["result"]
            n = max(1, x["requests"])
            w(f"| {r['rep']} | {x['requests']} | {x['connects']} | {x['handshakes_full']} | {x['handshakes_resumed']} | "
              f"{x['handshakes_full'] * 10000 / n:.1f} | {x['handshakes_resumed'] * 10000 / n:.1f} |")
        w("")

    w("## 7. Batch: the `carcheck` command-line tool vs the library (carcheck-mock, TLS)\n")
    if bcli or blib:
        imgs = (bcli[0].get("result") or {}).get("images") if bcli else None
        w(f"A folder of {fmt(imgs) if imgs else '–'} sample images (`tools/make_sample_images.py --size-kb 8`: "
          "JPEGs of ~8 KiB, each with its own plate) recognized by `carcheck recognize --concurrency "
          f"{bconc} --quiet --output FILE DIR` against carcheck-mock (TLS, a key with enough credits and no "
          "rate limit, its own instance on the server core), and in the same run `carcheck_bench_client "
          f"--mode multipart --concurrency {bconc} --files-in DIR --warmup 0` uploading the same images in turn "
          f"against the same mock: the library doing the same job, {len(batch['paired_ratios'])} pairs of runs "
          "(min / median / max below are over those). CLI images/s = output lines / wall time of "
          "the whole process (start, folder scan, connects and exit included); library requests/s = requests "
          "/ time from the first request to the last reply (connects included, no warm-up). "
          "CPU time is user + system of the whole process (`wait4`), peak RSS its `ru_maxrss`.\n")
        checked = all((r.get("result") or {}).get("plates_checked") for r in bcli) if bcli else False
        w(f"Output check (every counted run): exactly one line per image, every line `\"ok\":true`, no input "
          f"twice{', the plate of every line the one generated for its image' if checked else ''}.\n")
        w(f"**CLI / library: {f'{bratio:.2f}×' if bratio is not None else '–'}** (median over the runs of each "
          f"run's CLI / library; the two take turns going first, after the folder is read into the page cache; "
          f"goal ≥ 0.9×: "
          f"{'met' if bratio is not None and bratio >= 0.9 else 'not met'}).\n")
        w("| client | images / requests | images/s or requests/s | wall time (s) | CPU time (s) | "
          "CPU µs / image | peak RSS (MiB) |")
        w("|---|---|---|---|---|---|---|")
        c_, l_ = batch["cli"], batch["library"]
        w(f"| `carcheck recognize` (CLI) | {mmm(c_['images'])} | {mmm(c_['images_per_s'])} | {mmm(c_['wall_s'], 2)} | "
          f"{mmm(c_['cpu_s'], 2)} | {mmm(c_['cpu_us_per_image'], 1)} | {mmm(c_['rss_mib'], 1)} |")
        w(f"| library (`carcheck_bench_client`, `recognize_file`) | {mmm(l_['requests'])} | {mmm(l_['rps'])} | "
          f"{mmm(l_['wall_s'], 2)} | {mmm(l_['cpu_s'], 2)} | {mmm(l_['cpu_us_per_req'], 1)} | "
          f"{mmm(l_['rss_mib'], 1)} |")
        w("")
        w("Wall and CPU time are the whole process for both; CPU µs / image is the whole process for the CLI "
          "and the requests phase (connects included) for the library.\n")
        w("| run | CLI lines ok | CLI images/s | CLI CPU (s) | CLI peak RSS (MiB) | library requests/s | "
          "CLI / library |")
        w("|---|---|---|---|---|---|---|")
        for rep in sorted({r["rep"] for r in bcli + blib}):
            c1 = next((r for r in bcli if r["rep"] == rep), None)
            l1 = next((r for r in blib if r["rep"] == rep), None)
            cr = metric(c1, "rps") if c1 else None
            lr = metric(l1, "rps") if l1 else None
            w(f"| {rep} | {fmt((c1['result'] or {}).get('ok_lines')) if c1 else '–'} | {fmt(cr)} | "
              f"{fmt(c1['cpu_s'], 2) if c1 else '–'} | {fmt(metric(c1, 'ext_rss_mib'), 1) if c1 else '–'} | "
              f"{fmt(lr)} | {f'{cr / lr:.2f}×' if cr and lr else '–'} |")
        w("")
        cr_, cn_ = batch["cold"]["read_ahead"], batch["cold"]["no_read_ahead"]
        if cr_["wall_s"] and cn_["wall_s"]:
            w("**From a cold page cache** (`echo 3 > /proc/sys/vm/drop_caches` before each run; the same "
              "command, and the same with `--read-ahead 0`). The client reads files on its io thread, so "
              "without read-ahead every cold open and read stalls all requests in flight. On a virtual "
              "machine this empties the guest's cache only; the host may still hold the files, so a real "
              "disk is slower than this:\n")
            w("| `carcheck recognize` | wall time (s) | images/s | CPU time (s) |")
            w("|---|---|---|---|")
            for label, c in (("read-ahead (default)", cr_), ("`--read-ahead 0`", cn_)):
                w(f"| {label} | {mmm(c['wall_s'], 2)} | {mmm(c['images_per_s'])} | {mmm(c['cpu_s'], 2)} |")
            w(f"\nWith read-ahead the cold batch takes {cr_['wall_s']['median'] / cn_['wall_s']['median']:.2f}× the "
              f"time without (medians over {cr_['wall_s']['n']} runs).\n")

    if ref:
        for line in render_compile(compile_):
            w(line)

    if plot_files:
        w("## Plots\n")
        for title, path in plot_files:
            w(f"![{title}]({path})\n")

    for line in replicas_section(out_dir): # measured by `run.sh --only replicas`
        w(line)
    w("")
    w("## Command lines\n")
    w("One of each kind (the secret key is a dummy; every URL is 127.0.0.1):\n")
    w("```")
    seen = set()
    for r in recs:
        k = (r["suite"], r["client"])
        if k in seen:
            continue
        seen.add(k)
        w(r["cmd"])
    w("```\n")
    w("<details><summary>nginx configuration (generated)</summary>\n")
    w("```nginx")
    conf = machine.get("nginx_conf", "")
    conf = re.sub(r"return 200 '.*';", "return 200 '<benchmark/reply.json>';", conf)
    w(conf.strip())
    w("```\n</details>\n")
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    met = sum(1 for t in targets if t["met"])
    print(f"report: {met} of {len(targets)} targets met; {len(failed)} failed runs", file=sys.stderr)


# --- replicas: several carcheck processes sharing one key's rate window --------------------
REPLICAS_BEGIN = "<!-- replicas:begin -->"
REPLICAS_END = "<!-- replicas:end -->"


def replicas_once(a, procs, work):
    """One run: `procs` CLI processes, images_total / procs images each, one mock key."""
    key = f"replicas-{procs}-key"
    log_path = os.path.join(work, f"mock-{procs}.log")
    mock_log = open(log_path, "w")
    mock = subprocess.Popen([a.mock, "--http-port", "0", "--no-https", "--bind", "127.0.0.1",
                             "--key", f"{key}:100000000:{a.limit}:{a.window}"],
                            stdout=subprocess.PIPE, stderr=mock_log, text=True)
    try:
        line = mock.stdout.readline()
        m = re.search(r"http=(\d+)", line)
        if not m:
            raise RuntimeError(f"carcheck-mock did not start: {line!r}")
        endpoint = f"http://127.0.0.1:{m.group(1)}/v3"
        each = a.images_total // procs
        cmds, outs = [], []
        for r in range(procs):
            folder = os.path.join(work, f"p{procs}-r{r}")
            os.makedirs(folder, exist_ok=True)
            for i in range(each):
                with open(os.path.join(folder, f"R{r}N{i}.jpg"), "wb") as f:
                    f.write(jpeg_like(2048, r * 100000 + i, plate=f"R{r}N{i}"))
            out = os.path.join(work, f"p{procs}-r{r}.jsonl")
            outs.append(out)
            cmds.append([a.cli, "recognize", "--endpoint", endpoint, "--concurrency", str(a.concurrency),
                         "--quiet", "--output", out, folder])
        env = dict(os.environ, CARCHECK_SECRET_KEY=key)
        env.pop("CARCHECK_ENDPOINT", None)
        start = time.monotonic()
        children = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    for c in cmds]
        codes = [c.wait(timeout=600) for c in children]
        wall = time.monotonic() - start
        ok = failed = 0
        for out in outs:
            for l in open(out):
                if l.strip():
                    if json.loads(l).get("ok"):
                        ok += 1
                    else:
                        failed += 1
    finally:
        mock.send_signal(signal.SIGTERM)
        mock.wait(timeout=30)
        mock_log.close()
    statuses = {}
    for l in open(log_path):
        m = re.search(r" (\d{3}) fault=", l)
        if m and "/recognize" in l:
            statuses[m.group(1)] = statuses.get(m.group(1), 0) + 1
    requests = sum(statuses.values())
    images = each * procs
    allowed_rate = a.limit / a.window
    return {"procs": procs, "images": images, "ok": ok, "failed": failed, "exit_codes": codes,
            "wall_s": wall, "ideal_s": images / allowed_rate, "share": ok / (wall * allowed_rate),
            "requests": requests, "r403": statuses.get("403", 0),
            "r403_per_request": statuses.get("403", 0) / requests if requests else 0.0,
            "cmd": shlex.join(cmds[0]).replace(key, "KEY").replace(work, "WORK")}


def render_replicas(data, plots_dir):
    """The RESULTS.md section (between markers) and its plot."""
    runs = data["runs"]
    md = [REPLICAS_BEGIN, "## Replicas: several processes on one key\n"]
    md.append(f"`carcheck recognize --concurrency {data['concurrency']}` processes started together, "
              f"{data['images_total']} images split between them, on one carcheck-mock key allowed "
              f"{data['limit']} requests per {data['window']} s (`--key NAME:100000000:{data['limit']}:"
              f"{data['window']}`); {data['date']}. Share = images done / (wall time × allowed rate), "
              "wall time from the start of the first process to the end of the last (process start-up "
              "included; a run that starts mid-window gets that window's requests as a bonus, so a "
              f"share can pass 100 %). 403s counted by the mock. Binaries: `{data.get('binaries', '')}`.\n")
    md.append("| processes | images | ok | failed | wall s | ideal s | share of allowed rate | requests | 403 | 403 / request |")
    md.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        md.append(f"| {r['procs']} | {r['images']} | {r['ok']} | {r['failed']} | {r['wall_s']:.2f} | "
                  f"{r['ideal_s']:.1f} | {100 * r['share']:.1f} % | {r['requests']} | {r['r403']} | "
                  f"{100 * r['r403_per_request']:.2f} % |")
    md.append("")
    png = os.path.join(plots_dir, "replicas.png")
    with tempfile.TemporaryDirectory() as td:
        with open(os.path.join(td, "r.dat"), "w") as f:
            for r in runs:
                f.write(f"{r['procs']} {100 * r['share']:.2f} {100 * r['r403_per_request']:.3f}\n")
        if gnuplot(f"""
set terminal pngcairo size 800,450
set output '{png}'
set title 'Processes sharing one key ({data['limit']} requests / {data['window']} s)'
set xlabel 'processes'
set logscale x 2
set xrange [0.8:20]
set xtics (1,2,4,8,16)
set ylabel 'share of the allowed rate (%)'
set y2label '403s per request (%)'
set yrange [0:120]
set y2range [0:20]
set ytics nomirror
set y2tics
set key bottom left
set grid
plot '{td}/r.dat' using 1:2 with linespoints lw 2 pt 7 title 'share of allowed rate' axes x1y1, \\
     '{td}/r.dat' using 1:3 with linespoints lw 2 pt 5 title '403s per request' axes x1y2
"""):
            md.append("![Processes on one key](plots/replicas.png)\n")
    md.append("```")
    md.append(runs[0]["cmd"] if runs else "")
    md.append("```")
    md.append(REPLICAS_END)
    return md


def replicas_section(out_dir):
    path = os.path.join(out_dir, "replicas.json")
    if not os.path.exists(path):
        return []
    return render_replicas(json.load(open(path)), os.path.join(out_dir, "plots"))


def cmd_replicas(a):
    if a.render_only: # the section and plot again from replicas.json, nothing measured
        data = json.load(open(os.path.join(a.out, "replicas.json")))
        write_replicas_section(a.out, data)
        return
    work = tempfile.mkdtemp(prefix="carcheck-replicas.")
    try:
        runs = []
        for n in [int(x) for x in a.procs.split(",")]:
            r = replicas_once(a, n, work)
            print(f"replicas: {n} processes: {r['ok']}/{r['images']} ok in {r['wall_s']:.2f} s "
                  f"(ideal {r['ideal_s']:.1f} s), {r['r403']} 403 of {r['requests']} requests", file=sys.stderr)
            runs.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "limit": a.limit, "window": a.window, "images_total": a.images_total,
            "concurrency": a.concurrency, "binaries": os.path.dirname(os.path.dirname(os.path.dirname(a.cli))),
            "runs": runs}
    with open(os.path.join(a.out, "replicas.json"), "w") as f:
        json.dump(data, f, indent=1)
    write_replicas_section(a.out, data)


def write_replicas_section(out_dir, data):
    """Writes the section into RESULTS.md: in place of the last one, else before the command lines."""
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    section = "\n".join(render_replicas(data, os.path.join(out_dir, "plots")))
    replace_section(os.path.join(out_dir, "RESULTS.md"), REPLICAS_BEGIN, REPLICAS_END, section)


def replace_section(results, begin, end, section):
    """Puts `section` (which starts with `begin` and ends with `end`) into the file `results`:
    in place of the last one, else before the command lines, else at the end."""
    text = open(results).read() if os.path.exists(results) else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    elif "## Command lines" in text:
        head, rest = text.split("## Command lines", 1)
        text = head + section + "\n\n## Command lines" + rest
    else:
        text += "\n" + section + "\n"
    with open(results, "w") as f:
        f.write(text)


# --- latency: a latency-bound batch (the mock takes --latency-ms per recognition) ----------
LATENCY_BEGIN = "<!-- latency:begin -->"
LATENCY_END = "<!-- latency:end -->"


def latency_once(a, limit, mode, work):
    """One CLI run on limit x seconds images against a mock key of `limit` requests per 1 s
    window, answering each recognition a.latency_ms later. Samples the progress lines'
    "in flight N/L" with their arrival times."""
    key = f"latency-{limit}-key"
    mock = subprocess.Popen([a.mock, "--http-port", "0", "--no-https", "--bind", "127.0.0.1", "--quiet",
                             "--latency-ms", str(a.latency_ms), "--key", f"{key}:100000000:{limit}:1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = mock.stdout.readline()
        m = re.search(r"http=(\d+)", line)
        if not m:
            raise RuntimeError(f"carcheck-mock did not start: {line!r}")
        endpoint = f"http://127.0.0.1:{m.group(1)}/v3"
        images = limit * a.seconds
        folder = os.path.join(work, f"l{limit}")
        if not os.path.isdir(folder):
            os.makedirs(folder)
            for i in range(images):
                with open(os.path.join(folder, f"L{i}.jpg"), "wb") as f:
                    f.write(jpeg_like(2048, i, plate=f"L{i}"))
        out = os.path.join(work, f"l{limit}-{mode}.jsonl")
        if os.path.exists(out):
            os.remove(out)
        cmd = [a.cli, "recognize", "--endpoint", endpoint, "--progress-interval", "0.1", "--output", out]
        if mode != "adaptive":
            cmd += ["--concurrency", mode]
        cmd.append(folder)
        env = dict(os.environ, CARCHECK_SECRET_KEY=key)
        env.pop("CARCHECK_ENDPOINT", None)
        start = time.monotonic()
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples, summary = [], []
        for l in child.stderr:
            t = time.monotonic() - start
            m = re.search(r", in flight (\d+)(?:/(\d+))?, ", l)
            if m:
                samples.append([round(t, 3), int(m.group(1)), int(m.group(2) or 0)])
            else:
                summary.append(l.rstrip())
        code = child.wait(timeout=600)
        wall = time.monotonic() - start
        ok = sum(1 for l in open(out) if l.strip() and json.loads(l).get("ok"))
    finally:
        mock.send_signal(signal.SIGTERM)
        mock.wait(timeout=30)
    row = next((m.group(1) for m in (re.match(r"^\s+in flight\s+(.*)", l) for l in summary) if m), "")
    return {"limit": limit, "mode": mode, "images": images, "ok": ok, "exit_code": code, "wall_s": wall,
            "ideal_s": images / limit, "images_per_s": ok / wall if wall > 0 else 0.0,
            "in_flight_summary": row.strip(), "samples": samples,
            "cmd": shlex.join(cmd).replace(key, "KEY").replace(work, "WORK")}


def render_latency(data, plots_dir):
    runs = data["runs"]
    md = [LATENCY_BEGIN, "## Latency-bound batch: requests in flight sized to the latency\n"]
    md.append(f"`carcheck recognize` on limit x {data['seconds']} images against carcheck-mock with "
              f"`--latency-ms {data['latency_ms']}` (every recognition answered {data['latency_ms']} ms after it "
              "arrived, on a timer) and a key allowed LIMIT requests per 1 s window (`--key NAME:100000000:LIMIT:1`); "
              f"{data['date']}. `adaptive` is the CLI's default (no `--concurrency`: the number in flight follows "
              "allowed rate × observed latency, capped at `--max-concurrency` 64); `8` is `--concurrency 8`, the "
              "old default, which caps the batch at 8 / 0.2 s = 40 images/s whatever the key allows. Wall time "
              "includes process start-up and the first request, sent alone to learn the limit. "
              f"Binaries: `{data.get('binaries', '')}`.\n")
    md.append("| allowed rate (/s) | `--concurrency` | images | ok | wall s | ideal s | images/s | share of allowed rate | in flight (summary) |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        md.append(f"| {r['limit']} | {r['mode']} | {r['images']} | {r['ok']} | {r['wall_s']:.2f} | {r['ideal_s']:.1f} | "
                  f"{r['images_per_s']:.1f} | {100 * r['images_per_s'] / r['limit']:.0f} % | {r['in_flight_summary']} |")
    md.append("")
    png = os.path.join(plots_dir, "latency_in_flight.png")
    with tempfile.TemporaryDirectory() as td:
        series = []
        for i, r in enumerate(runs):
            if not r["samples"]:
                continue
            with open(os.path.join(td, f"{i}.dat"), "w") as f:
                for t, n, lim in r["samples"]:
                    f.write(f"{t} {n} {lim}\n")
            series.append(f"'{td}/{i}.dat' using 1:2 with lines lw 2 title '{r['limit']}/s, {r['mode']}: in flight'")
            if r["mode"] == "adaptive":
                series.append(f"'{td}/{i}.dat' using 1:3 with lines lw 1 dt 2 title '{r['limit']}/s, adaptive: limit'")
        if series and gnuplot(f"""
set terminal pngcairo size 800,450
set output '{png}'
set title 'Requests in flight over time ({data['latency_ms']} ms per recognition)'
set xlabel 'seconds since start'
set ylabel 'requests in flight'
set key top right
set grid
plot {", ".join(series)}
"""):
            md.append("![Requests in flight over time](plots/latency_in_flight.png)\n")
    md.append("```")
    md += [r["cmd"] for r in runs[:2]]
    md.append("```")
    md.append(LATENCY_END)
    return md


def cmd_latency(a):
    if a.render_only:
        data = json.load(open(os.path.join(a.out, "latency.json")))
    else:
        work = tempfile.mkdtemp(prefix="carcheck-latency.")
        try:
            runs = []
            for limit in [int(x) for x in a.limits.split(",")]:
                for mode in a.modes.split(","):
                    r = latency_once(a, limit, mode, work)
                    print(f"latency: {limit}/s, concurrency {mode}: {r['ok']}/{r['images']} ok in {r['wall_s']:.2f} s "
                          f"(ideal {r['ideal_s']:.1f} s), {r['in_flight_summary']}", file=sys.stderr)
                    runs.append(r)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "latency_ms": a.latency_ms, "seconds": a.seconds,
                "binaries": os.path.dirname(os.path.dirname(os.path.dirname(a.cli))), "runs": runs}
        with open(os.path.join(a.out, "latency.json"), "w") as f:
            json.dump(data, f, indent=1)
    os.makedirs(os.path.join(a.out, "plots"), exist_ok=True)
    section = "\n".join(render_latency(data, os.path.join(a.out, "plots")))
    replace_section(os.path.join(a.out, "RESULTS.md"), LATENCY_BEGIN, LATENCY_END, section)


COMPILE_BEGIN = "<!-- compile:begin -->"
COMPILE_END = "<!-- compile:end -->"
COMPILE_CLIENTS = [("boost_only", "Asio + Asio SSL + Boost.JSON only (the reference)"),
                   ("quick_start_compiled", "quick start, compiled library (`carcheck::carcheck`)"),
                   ("quick_start_header_only", "quick start, header-only (`carcheck::header_only`)")]


def compile_summary(recs):
    out = {}
    for cl, _ in COMPILE_CLIENTS:
        g = group(recs, suite="compile", client=cl)
        out[cl] = {"wall_s": stats([r["wall_s"] for r in g]), "rss_mib": stats([r["maxrss_kib"] / 1024 for r in g])}
    return out


def render_compile(c):
    """Section 9 of RESULTS.md, between markers so that `run.sh --only compile` can replace it."""
    ref = c["boost_only"]["wall_s"]
    md = [COMPILE_BEGIN, "## 9. Compile time of a user's file\n",
          "`g++ -std=c++20 -O2 -c`, one job on the client core; the quick start is `examples/quick_start.cpp` "
          "(which includes `<carcheck/carcheck.hpp>`). min / median / max:\n",
          "| file | wall time (s) | peak compiler memory (MiB) | time / reference |", "|---|---|---|---|"]
    for cl, title in COMPILE_CLIENTS:
        x = c[cl]
        rel = x["wall_s"]["median"] / ref["median"] if x["wall_s"] and ref else None
        md.append(f"| {title} | {mmm(x['wall_s'], 2)} | {mmm(x['rss_mib'])} | {f'{rel:.2f}×' if rel else '–'} |")
    md += ["", COMPILE_END]
    return md


def cmd_compile_section(a):
    recs = [json.loads(l) for l in open(a.raw) if l.strip()]
    section = "\n".join(render_compile(compile_summary(recs)))
    replace_section(os.path.join(a.out, "RESULTS.md"), COMPILE_BEGIN, COMPILE_END, section)
    print(section)


# --- throttled large upload: a bandwidth-limited loopback link -------------------------------
THROTTLED_BEGIN = "<!-- throttled:begin -->"
THROTTLED_END = "<!-- throttled:end -->"


class ThrottledForwarder:
    """Forwards 127.0.0.1:port to 127.0.0.1:target, at most `rate` bytes/s in each direction of
    each connection (paced per 64 KiB chunk; idle time earns no burst). Threads, stdlib only."""

    def __init__(self, target, rate):
        self.target, self.rate = target, rate
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            for x in (c, u):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    def _pump(self, src, dst):
        nxt = time.monotonic()
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    dst.shutdown(socket.SHUT_WR)
                    return
                nxt = max(nxt, time.monotonic()) + len(b) / self.rate
                delay = nxt - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                dst.sendall(b)
        except OSError:
            for x in (src, dst):
                try:
                    x.close()
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def cmd_throttled(a):
    """carcheck (defaults, then with a total deadline) and curl -F upload one large file through the
    same throttled link to carcheck-mock over TLS: wall time, outcome."""
    work = tempfile.mkdtemp(prefix="carcheck-throttled.")
    size = a.size_mb * 1_000_000
    rate = a.rate_mb * 1_000_000
    image = os.path.join(work, "large.jpg")
    with open(image, "wb") as f:
        f.write(jpeg_like(2048, 7, plate="SLOW200"))
        f.truncate(size)
    cert = os.path.join(work, "mock-ca.pem")
    key = "throttled-key"
    mock = subprocess.Popen([a.mock, "--https-port", "0", "--no-http", "--bind", "127.0.0.1", "--quiet",
                             "--key", f"{key}:100000000", "--write-cert", cert,
                             "--max-body-bytes", str(size * 2)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rows = []
    try:
        line = mock.stdout.readline()
        m = re.search(r"https=(\d+)", line)
        if not m:
            raise RuntimeError(f"carcheck-mock did not start: {line!r}")
        link = ThrottledForwarder(int(m.group(1)), rate)
        endpoint = f"https://127.0.0.1:{link.port}/v3"
        env = dict(os.environ, CARCHECK_SECRET_KEY=key)
        env.pop("CARCHECK_ENDPOINT", None)
        runs = [("carcheck_defaults", "carcheck, defaults (stall 30 s, no total deadline)",
                 [a.cli, "recognize", "--endpoint", endpoint, "--ca-file", cert, "--quiet", image]),
                ("carcheck_timeout", f"carcheck --timeout {a.deadline} (a total deadline, as the old default was)",
                 [a.cli, "recognize", "--endpoint", endpoint, "--ca-file", cert, "--quiet",
                  "--timeout", str(a.deadline), image]),
                ("curl_form", "curl -F image=@file (no timeout)",
                 ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cert,
                  "-F", f"image=@{image};type=image/jpeg",
                  f"{endpoint}/recognize?secret_key={key}&country=us"])]
        for rep in range(1, a.runs + 1):
            for name, title, cmd in runs:
                start = time.monotonic()
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                wall = time.monotonic() - start
                if name == "curl_form":
                    ok, outcome = p.stdout.strip() == "200", f"HTTP {p.stdout.strip()}"
                else:
                    try:
                        v = json.loads(p.stdout.strip().splitlines()[-1])
                    except (ValueError, IndexError):
                        v = {"ok": False, "error": "no output", "message": p.stderr.strip()[-200:]}
                    ok = bool(v.get("ok"))
                    outcome = "ok" if ok else f"{v.get('error')}: {v.get('message')}"
                rows.append({"client": name, "title": title, "rep": rep, "wall_s": wall, "ok": ok,
                             "exit": p.returncode, "outcome": outcome,
                             "cmd": shlex.join(cmd).replace(work, "WORK").replace(key, "KEY")
                                    .replace(str(link.port), "PORT")})
                print(f"throttled: {name} run {rep}: {wall:.2f} s, {outcome}", flush=True)
        link.close()
    finally:
        mock.send_signal(signal.SIGTERM)
        mock.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    data = {"size_mb": a.size_mb, "rate_mb": a.rate_mb, "deadline_s": a.deadline, "rows": rows}
    with open(os.path.join(a.out, "throttled.json"), "w") as f:
        json.dump(data, f, indent=1)
    section = "\n".join(render_throttled(data))
    replace_section(os.path.join(a.out, "RESULTS.md"), THROTTLED_BEGIN, THROTTLED_END, section)
    print(section)


def render_throttled(d):
    size, rate = d["size_mb"], d["rate_mb"]
    ideal = size / rate
    md = [THROTTLED_BEGIN, "## Throttled large upload (slow link)\n",
          f"One {size} MB multipart upload to carcheck-mock over TLS through a loopback forwarder limited to "
          f"{rate} MB/s in each direction (`harness.py throttled`, python3 stdlib threads; `bash benchmark/run.sh "
          f"--only throttled`). The link alone needs {ideal:.0f} s. Wall time per run (min / median / max) "
          "and the outcome of every run:\n",
          "| client | wall time (s) | outcome |", "|---|---|---|"]
    seen = []
    for r in d["rows"]:
        if r["client"] not in seen:
            seen.append(r["client"])
    for cl in seen:
        g = [r for r in d["rows"] if r["client"] == cl]
        outcomes = sorted({r["outcome"] for r in g})
        md.append(f"| {g[0]['title']} | {mmm(stats([r['wall_s'] for r in g]), 2)} | "
                  f"{'; '.join(o.replace('|', '/') for o in outcomes)} ({sum(r['ok'] for r in g)}/{len(g)} ok) |")
    md += ["",
           f"A whole-upload deadline of 60 s (the old `timeouts.request` default) fails any upload of {size} MB "
           f"slower than {size / 60:.2f} MB/s ({size * 8 / 60:.1f} Mbit/s): at 20 Mbit/s (2.5 MB/s) it needs "
           f"{size / 2.5:.0f} s. The stall timeout (30 s without a byte moving) never fires on a link that keeps "
           "moving, whatever its speed; the total deadline is off by default.",
           "", "Command lines (first run):", "", "```"]
    for cl in seen:
        md.append(next(r for r in d["rows"] if r["client"] == cl)["cmd"])
    md += ["```", "", THROTTLED_END]
    return md


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd_name", required=True)
    s = sub.add_parser("make-inputs")
    s.add_argument("--dir", required=True)
    s.add_argument("--quick", type=int, default=0)
    s.set_defaults(f=cmd_make_inputs)
    s = sub.add_parser("make-batch")
    s.add_argument("--dir", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--size-kb", type=int, default=8)
    s.add_argument("--tool", required=True, help="tools/make_sample_images.py")
    s.set_defaults(f=cmd_make_batch)
    s = sub.add_parser("free-ports")
    s.add_argument("n", type=int)
    s.set_defaults(f=cmd_free_ports)
    s = sub.add_parser("machine")
    s.add_argument("--out", required=True)
    s.add_argument("--nginx-conf")
    s.add_argument("--server-cpu", type=int, default=0)
    s.add_argument("--client-cpu", type=int, default=1)
    s.add_argument("--quick", type=int, default=0)
    s.set_defaults(f=cmd_machine)
    s = sub.add_parser("run")
    s.add_argument("--raw", required=True)
    s.add_argument("--suite", required=True)
    s.add_argument("--client", required=True)
    s.add_argument("--conc", type=int)
    s.add_argument("--size-mb", type=int)
    s.add_argument("--rep", type=int, default=1)
    s.add_argument("--timeout", type=float, default=90)
    s.add_argument("--env", action="append")
    s.add_argument("--expect-stdout")
    s.add_argument("--launcher", help="carcheck_bench_rusage: measures the command's own peak RSS")
    s.add_argument("--jsonl-output", help="the command writes JSON Lines here (removed first, checked after)")
    s.add_argument("--expect-lines", type=int, default=0, help="with --jsonl-output: lines (all ok) expected")
    s.add_argument("--expect-plates", help="with --jsonl-output: PATH PLATE lines the plates must match")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(f=cmd_run)
    s = sub.add_parser("compile-section")
    s.add_argument("--raw", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(f=cmd_compile_section)
    s = sub.add_parser("report")
    s.add_argument("--raw", required=True)
    s.add_argument("--machine", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--quick", type=int, default=0)
    s.set_defaults(f=cmd_report)
    s = sub.add_parser("replicas")
    s.add_argument("--cli", required=True)
    s.add_argument("--mock", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--procs", default="1,2,4,8,16")
    s.add_argument("--limit", type=int, default=40)
    s.add_argument("--window", type=int, default=2)
    s.add_argument("--images-total", type=int, default=240)
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--render-only", action="store_true", help="rewrite the section from DIR/replicas.json")
    s.set_defaults(f=cmd_replicas)
    s = sub.add_parser("throttled")
    s.add_argument("--cli", required=True)
    s.add_argument("--mock", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--size-mb", type=int, default=200)
    s.add_argument("--rate-mb", type=float, default=20)
    s.add_argument("--deadline", type=float, default=5, help="the --timeout of the total-deadline run")
    s.add_argument("--runs", type=int, default=2)
    s.set_defaults(f=cmd_throttled)
    s = sub.add_parser("latency")
    s.add_argument("--cli", required=True)
    s.add_argument("--mock", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--latency-ms", type=int, default=200)
    s.add_argument("--limits", default="100,200")
    s.add_argument("--modes", default="adaptive,8")
    s.add_argument("--seconds", type=int, default=5, help="images = limit x this")
    s.add_argument("--render-only", action="store_true", help="rewrite the section from DIR/latency.json")
    s.set_defaults(f=cmd_latency)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
