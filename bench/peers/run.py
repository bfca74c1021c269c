#!/usr/bin/env python3
"""kiln against the frameworks a user would pick instead, in one run on one machine.

    bash bench/peers/setup.sh                     # once: PyTorch 2 + JAX/optax in a venv
    python3 bench/peers/run.py [--kiln build/tools/kiln] [--only w3_epoch,cnn_step]
                               [--markdown OUT.md] [--json OUT.json] [--update-readme]

For every workload (peer_common.WORKLOADS) it runs kiln, then PyTorch eager, torch.compile and
JAX jit, one after the other, each (kiln too) at 1 thread and at all cores (the better one
counts), and prints a table of times, the thread setting that won, and kiln's time divided by the
best peer's (below 1: kiln is faster). The load average is printed before and after: the machines here are
shared, so quote a ratio with the load it was measured under.

kiln's figures: step times are `kiln bench MODEL --warm --no-unfused` (the whole step's p50, warm
caches like the peers' back-to-back steps); the W3 epoch is the second epoch of `kiln train
--epochs 2`'s training seconds (data in memory, shuffled batches), also shown divided by its steps
times the step's p50 (what the epoch loop costs beyond the steps) and times the steps' mean (the
same, counting the steps an interrupt slowed as the epoch does); compile time is `kiln train`'s
"compiled N entry points in Xs" (train + evaluation steps), cold (an empty KILN_CACHE_DIR) and
warm (the same again).
The peers' compile time: JAX's lower+compile of the step; torch.compile's first call (compile
plus one step). Everything runs with the machine otherwise as it is; the 1-thread runs are
pinned to one core (taskset) besides each framework's own thread setting.

--avx2 holds every framework to AVX2 and FMA on a machine that has more (AVX-512), to measure
what an AVX2-only CPU (AMD EPYC before Zen 4) would see: kiln generates x86-64-v3 code (--cpu),
PyTorch dispatches its own kernels, oneDNN's and MKL's at AVX2 (ATEN_CPU_CAPABILITY,
ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS; Inductor's generated code follows
ATEN_CPU_CAPABILITY), and XLA generates AVX2 code (--xla_cpu_max_isa). The peers report the ISA
they ran with, and the table goes to its own block of README.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import peer_common  # noqa: E402

DEFAULT_VENV = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                            "kiln", "peers-venv")
PEERS = ("torch.eager", "torch.compile", "jax.jit")
README_BEGIN = "<!-- bench/peers table: begin -->"
README_END = "<!-- bench/peers table: end -->"
README_AVX2_BEGIN = "<!-- bench/peers avx2 table: begin -->"
README_AVX2_END = "<!-- bench/peers avx2 table: end -->"
# What --avx2 sets: kiln's code generation target, and each peer's ISA limits.
KILN_AVX2_CPU = "x86-64-v3"
PEER_AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                 "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
XLA_AVX2_FLAG = "--xla_cpu_max_isa=AVX2"
# Peers whose matrix products --avx2 does not hold to AVX2: XLA's CPU GEMMs dispatch to AVX-512
# whatever --xla_cpu_max_isa says (also with --xla_cpu_use_xnnpack=false and
# --xla_cpu_use_onednn=false): JAX's W3 inference ran at 240 GFLOP/s under it, above the
# 189 GFLOP/s AVX2 multiply-add peak of `kiln bench --calibrate --cpu x86-64-v3` on the same
# Xeon. Marked, and left out of the table's second ratio.
NOT_HELD_TO_AVX2 = {"jax.jit": "XLA's CPU GEMMs ignore --xla_cpu_max_isa and run AVX-512 code"}


def log(message):
    print(message, file=sys.stderr, flush=True)


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    model, flags = "unknown", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    isa = [name for name in ("avx2", "fma", "avx512f") if name in flags]
    return "%s, %d cores, %s" % (model, os.cpu_count(), "+".join(isa) or "no AVX2")


def kiln_target(args):
    """kiln's --cpu arguments: none (native code) unless --avx2."""
    return ["--cpu", KILN_AVX2_CPU] if args.avx2 else []


def pinned(command, threads):
    """A 1-thread run stays on one core (taskset), so no framework's helper threads spread out."""
    if threads == 1 and shutil.which("taskset"):
        return ["taskset", "-c", str(min(os.sched_getaffinity(0)))] + command
    return command


# ---------------------------------------------------------------- kiln

def kiln_step_ms(args, workload, threads, budget_ms=None):
    spec = peer_common.WORKLOADS[workload]
    # As long as a peer's figure is timed (--budget-s): a short budget lets one slow second of a
    # shared machine decide kiln's figure alone (a 100 ms budget once read 14.9 ms for a CNN step
    # that measured 8.6-9.8 ms just before and after).
    if budget_ms is None:
        budget_ms = args.budget_s * 1e3
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "bench.json")
        command = [args.kiln, "bench", os.path.join(ROOT, spec["model"]), "--warm",
                   "--no-unfused", "--budget-ms", str(budget_ms), "--json", report,
                   "--batch-size", str(spec["batch"])]
        if workload == "w3_inference":
            command += ["--mode", "eval"]
        command += ["--threads", str(threads)] + kiln_target(args)
        run = subprocess.run(pinned(command, threads), cwd=ROOT, capture_output=True, text=True,
                             timeout=args.timeout)
        if run.returncode != 0:
            raise RuntimeError("kiln bench failed: " + (run.stderr or run.stdout)[-500:])
        with open(report) as f:
            data = json.load(f)
    return {"p50_ms": data["step"]["p50_us"] / 1e3, "p10_ms": data["step"]["p10_us"] / 1e3,
            "p90_ms": data["step"]["p90_us"] / 1e3, "mean_ms": data["step"]["mean_us"] / 1e3,
            "threads": data["threads"]}


def kiln_train(args, model, extra, cache_dir):
    command = ([args.kiln, "train", os.path.join(ROOT, model), "--epochs", "1"] + extra +
               kiln_target(args))
    env = dict(os.environ, KILN_CACHE_DIR=cache_dir)
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=args.timeout)
    if run.returncode != 0:
        raise RuntimeError("kiln train failed: " + (run.stderr or run.stdout)[-500:])
    compiled = re.search(r"compiled \d+ entry points in ([0-9.]+)s", run.stdout)
    return float(compiled.group(1)) if compiled else None


def kiln_compile_s(args, workload):
    """Cold (empty cache) and warm compile of the train and evaluation steps."""
    spec = peer_common.WORKLOADS[workload]
    limits = ["--train-limit", str(spec["batch"]), "--test-limit", str(spec["batch"])]
    with tempfile.TemporaryDirectory() as cache:
        cold = kiln_train(args, spec["model"], limits, cache)
        warm = kiln_train(args, spec["model"], limits, cache)
    return {"cold_s": cold, "warm_s": warm}


def kiln_w3_epoch_s(args, threads):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "metrics.json")
        command = [args.kiln, "train", os.path.join(ROOT, "examples/fashion_mlp.kiln"),
                   "--epochs", "2", "--metrics-out", metrics, "--threads", str(threads)]
        command += kiln_target(args)
        run = subprocess.run(pinned(command, threads), cwd=ROOT, capture_output=True, text=True,
                             timeout=args.timeout)
        if run.returncode != 0:
            raise RuntimeError("kiln train failed: " + (run.stderr or run.stdout)[-500:])
        with open(metrics) as f:
            epochs = json.load(f)["epochs"]
    # The second epoch: the first also pays page faults of freshly allocated buffers, which the
    # peers' warm-up steps absorb before their clocks start.
    epoch_s = epochs[-1]["seconds"]
    # What the epoch costs beyond its steps (gathering shuffled batches, the short last batch,
    # the loss read back): the epoch over steps x `kiln bench --warm`'s step at the same threads.
    # Against the steps' mean as well: the p50 leaves out the steps an interrupt or a lost core
    # slowed down, which an epoch's steps include like any other loop of steps. Timed for about
    # as many steps as the epoch has, so that one stall weighs in both as it does in either (100
    # ms of steps once caught a stall that lifted their mean 26% above the p50).
    step = kiln_step_ms(args, "w3_epoch", threads, budget_ms=1000)
    steps = -(-peer_common.W3_TRAIN_SAMPLES // peer_common.WORKLOADS["w3_epoch"]["batch"])
    return {"epoch_s": epoch_s, "step_ms": step["p50_ms"], "step_mean_ms": step["mean_ms"],
            "steps": steps, "overhead": epoch_s / (steps * step["p50_ms"] / 1e3),
            "overhead_vs_mean": epoch_s / (steps * step["mean_ms"] / 1e3)}


# ---------------------------------------------------------------- peers

def peer_run(args, peer, workload, threads):
    script, mode = {"torch.eager": ("torch_peer.py", ["--mode", "eager"]),
                    "torch.compile": ("torch_peer.py", ["--mode", "compile"]),
                    "jax.jit": ("jax_peer.py", [])}[peer]
    command = [os.path.join(args.venv, "bin", "python"), os.path.join(HERE, script), workload,
               "--threads", str(threads), "--budget-s", str(args.budget_s)] + mode
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), TF_CPP_MIN_LOG_LEVEL="2")
    xla_flags = []
    if threads == 1:
        xla_flags += ["--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1"]
    if args.avx2:
        env.update(PEER_AVX2_ENV)
        xla_flags.append(XLA_AVX2_FLAG)
    if xla_flags:
        env["XLA_FLAGS"] = " ".join(xla_flags)
    command = pinned(command, threads)
    # An empty Inductor cache each time: torch.compile's first call is then a cold compile,
    # as kiln's cold figure is.
    with tempfile.TemporaryDirectory() as inductor_cache:
        env["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache
        try:
            run = subprocess.run(command, capture_output=True, text=True, env=env,
                                 timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {"error": "timeout after %d s" % args.timeout}
    for line in run.stdout.splitlines():
        if line.startswith("PEER_RESULT "):
            return json.loads(line[len("PEER_RESULT "):])
    tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": "exit %d: %s" % (run.returncode, tail[0][:200])}


def figure(result):
    """The seconds (W3 epoch) or milliseconds a result is compared by; None if it failed."""
    if "error" in result:
        return None
    return result.get("epoch_s", result.get("p50_ms"))


def thread_settings(args):
    return [args.threads] if args.threads else sorted({1, os.cpu_count()})


def best_of_threads(args, name, workload, run):
    """`run(threads)` at each thread setting; the fastest result, with every setting's figure."""
    tried = {}
    for threads in thread_settings(args):
        log("  %s %s, %d thread(s)" % (name, workload, threads))
        try:
            tried[threads] = run(threads)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            tried[threads] = {"error": str(error)[:300]}
    ok = {t: r for t, r in tried.items() if figure(r) is not None}
    if not ok:
        return next(iter(tried.values()))
    threads = min(ok, key=lambda t: figure(ok[t]))
    best = dict(ok[threads], threads=threads)
    best["all_threads"] = {str(t): figure(r) for t, r in tried.items()}
    return best


# ---------------------------------------------------------------- the table

def show(workload, value):
    """A time as the table shows it: throughput rows invert milliseconds."""
    if value is None:
        return "—"
    batch = peer_common.WORKLOADS[workload]["batch"]
    if workload.endswith("_steps"):
        return "{:,.0f}".format(1e3 / value)
    if workload == "w3_inference":
        return "{:,.0f}".format(batch * 1e3 / value)
    if workload == "w3_epoch":
        return "%.2f" % value
    return "%.1f" % value if value < 100 else "{:,.0f}".format(value)


def table(results):
    uncapped = NOT_HELD_TO_AVX2 if results.get("avx2") else {}
    # With --avx2, a second ratio against the peers that were held to AVX2 (the first one counts
    # every peer, so it leans against kiln where a peer ran AVX-512 GEMMs after all).
    extra = " kiln / best peer held to AVX2 |" if uncapped else ""
    lines = ["| workload | kiln | PyTorch eager | torch.compile | JAX jit | kiln / best peer |" +
             extra, "|---|---|---|---|---|---|" + ("---|" if uncapped else "")]
    for workload, row in results["workloads"].items():
        kiln = figure(row["kiln"]) if "kiln" in row else None
        cells, peers, capped = [], [], []
        for peer in PEERS:
            result = row.get(peer, {"error": "not run"})
            value = figure(result)
            if value is None:
                cells.append("— (%s)" % result.get("error", "failed")[:40])
                continue
            peers.append(value)
            if peer not in uncapped:
                capped.append(value)
            mark = " †" if peer in uncapped else ""
            cells.append("%s (%d thr)%s" % (show(workload, value), result["threads"], mark))
        ratio = "%.2f" % (kiln / min(peers)) if kiln is not None and peers else "—"
        if uncapped:
            held = "%.2f" % (kiln / min(capped)) if kiln is not None and capped else "—"
            ratio += " | " + held
        kiln_cell = ("%s (%d thr)" % (show(workload, kiln), row["kiln"]["threads"])
                     if kiln is not None else "— (%s)" % row["kiln"].get("error", "")[:40])
        lines.append("| %s | %s | %s | %s |" % (peer_common.WORKLOADS[workload]["what"],
                                               kiln_cell, " | ".join(cells), ratio))
    for peer, why in uncapped.items():
        lines += ["", "† %s is not held to AVX2 (%s): counted in the first ratio, not in the "
                  "second." % (peer, why)]
    epoch = results["workloads"].get("w3_epoch", {}).get("kiln", {})
    if "overhead" in epoch:
        lines += ["", "W3 epoch against its steps: %.3f s / (%d steps x %.1f us, `kiln bench "
                  "--warm`'s p50) = %.3f (%d thr); against the steps' mean (%.1f us): %.3f"
                  % (epoch["epoch_s"], epoch["steps"], epoch["step_ms"] * 1e3,
                     epoch["overhead"], epoch["threads"], epoch["step_mean_ms"] * 1e3,
                     epoch["overhead_vs_mean"])]
    compile_rows = [(w, row) for w, row in results["workloads"].items() if "kiln_compile" in row]
    if compile_rows:
        lines += ["", "| compile, s | kiln cold | kiln warm (cache) | torch.compile first call "
                  "| JAX jit lower+compile |", "|---|---|---|---|---|"]
        for workload, row in compile_rows:
            cold, warm = row["kiln_compile"].get("cold_s"), row["kiln_compile"].get("warm_s")
            torch_first = row.get("torch.compile", {}).get("first_call_s")
            jax_compile = row.get("jax.jit", {}).get("compile_s")
            fmt = lambda v: "—" if v is None else "%.2f" % v
            lines.append("| %s | %s | %s | %s | %s |" % (
                peer_common.WORKLOADS[workload]["model"], fmt(cold), fmt(warm),
                fmt(torch_first), fmt(jax_compile)))
    return "\n".join(lines)


def header(results):
    isa = ""
    if results.get("avx2"):
        isa = (" Everyone asked for AVX2 and FMA only: kiln's code for %s; %s for PyTorch; %s for JAX "
               "(the peers reported running %s)." % (
                   KILN_AVX2_CPU, ", ".join("%s=%s" % kv for kv in PEER_AVX2_ENV.items()),
                   XLA_AVX2_FLAG, ", ".join(sorted(results.get("peer_isa", {}).values())) or "?"))
    return ("Measured %s on %s; load average %s before, %s after. kiln %s and each peer at "
            "its better of 1 and %d threads (torch %s, JAX %s).%s "
            "Ratios are kiln's time / the best peer's (below 1: kiln is faster). Command: "
            "`%s`." % (results["date"], results["machine"], results["load_before"],
                       results["load_after"], results["kiln_version"], os.cpu_count(),
                       results["versions"].get("torch", "?"), results["versions"].get("jax", "?"),
                       isa, results["command"]))


def update_readme(text, avx2):
    begin, end = (README_AVX2_BEGIN, README_AVX2_END) if avx2 else (README_BEGIN, README_END)
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        readme = f.read()
    if begin not in readme or end not in readme:
        raise SystemExit("README.md has no %s ... %s block" % (begin, end))
    before, rest = readme.split(begin, 1)
    after = rest.split(end, 1)[1]
    with open(path, "w") as f:
        f.write(before + begin + "\n" + text + "\n" + end + after)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiln", default=os.path.join(ROOT, "build/tools/kiln"))
    parser.add_argument("--venv", default=os.environ.get("KILN_PEERS_VENV", DEFAULT_VENV))
    parser.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--threads", type=int, default=0,
                        help="run everyone at this thread count only (default: 1 and all cores)")
    parser.add_argument("--budget-s", type=float, default=2.0, help="timed seconds per step figure")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per run before giving up")
    parser.add_argument("--markdown", help="also write the table (with its header) here")
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--update-readme", action="store_true",
                        help="replace README.md's bench/peers table with this run's")
    parser.add_argument("--avx2", action="store_true",
                        help="hold kiln and every peer to AVX2+FMA (an AVX2-only CPU's view)")
    args = parser.parse_args()
    if not os.access(args.kiln, os.X_OK):
        raise SystemExit("%s is not built (bash scripts/build.sh)" % args.kiln)
    python = os.path.join(args.venv, "bin", "python")
    if not os.access(python, os.X_OK):
        raise SystemExit("no peers' environment at %s: run bash bench/peers/setup.sh" % args.venv)
    workloads = [w for w in args.only.split(",") if w] or list(peer_common.WORKLOADS)
    unknown = [w for w in workloads if w not in peer_common.WORKLOADS]
    if unknown:
        raise SystemExit("unknown workload(s) %s; known: %s" % (
            ",".join(unknown), ",".join(peer_common.WORKLOADS)))
    peers = [p for p in args.peers.split(",") if p]

    versions = subprocess.run(
        [python, "-c", "import json, torch, jax, optax; print(json.dumps({'torch': "
         "torch.__version__, 'jax': jax.__version__, 'optax': optax.__version__}))"],
        capture_output=True, text=True)
    kiln_version = subprocess.run([args.kiln, "--version"], capture_output=True, text=True)
    results = {
        "date": datetime.date.today().isoformat(), "machine": cpu_model(),
        "kernel": platform.release(), "load_before": load_average(),
        "versions": json.loads(versions.stdout) if versions.returncode == 0 else {},
        "kiln_version": (kiln_version.stdout.strip() or "?").replace("kiln ", ""),
        "command": "python3 bench/peers/run.py " + " ".join(sys.argv[1:]), "avx2": args.avx2,
        "peer_isa": {}, "workloads": {}}
    log("machine: %s; load %s; peers %s" % (results["machine"], results["load_before"],
                                             results["versions"]))
    for workload in workloads:
        row = results["workloads"].setdefault(workload, {})
        log("%s:" % workload)
        try:
            if workload == "w3_epoch":
                row["kiln"] = best_of_threads(args, "kiln", workload,
                                              lambda t: kiln_w3_epoch_s(args, t))
            else:
                row["kiln"] = best_of_threads(args, "kiln", workload,
                                              lambda t: kiln_step_ms(args, workload, t))
            if workload not in ("w3_epoch", "w3_inference"):
                row["kiln_compile"] = kiln_compile_s(args, workload)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            row["kiln"] = {"error": str(error)[:300]}
        log("  kiln: %s" % json.dumps(row["kiln"]))
        for peer in peers:
            row[peer] = best_of_threads(args, peer, workload,
                                        lambda t: peer_run(args, peer, workload, t))
            if "isa" in row[peer]:
                results["peer_isa"][peer] = "%s %s" % (peer, row[peer]["isa"])
            log("  %s: %s" % (peer, json.dumps(row[peer])))
    results["load_after"] = load_average()

    text = header(results) + "\n\n" + table(results)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.update_readme:
        update_readme(text, args.avx2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
