"""Send-rate, CPU and memory benchmark: one command, everything it needs started here.

    python bench/run.py [--subscribers 20000] [--connections 16] [--sink auto]

It builds a project in a temp folder (the seeds plus generated articles, so the message is
about 57 KB), generates a subscriber list, starts a sink
(Postfix's C ``smtp-sink`` when installed, else aiosmtpd, and says which), then measures
in the same run:

1. ceilings: the same pre-built bytes sent over the same connections by aiosmtplib's
   ``sendmail`` (the usual way to send, which re-scans every body), by aiosmtplib
   with bytes in wire form through ``execute_command``, and by newsletter's own transport
   alone (bench/ceiling.py says more);
2. ``newsletter send`` end to end (CSV → personalize → submit → ledger) into the sink;
3. the per-subscriber personalization cost, in-process.

and prints messages/s, CPU µs per message, peak RSS, and the ratios against the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# Run a command and report its own CPU time and peak RSS on the last stderr line.
MEASURE = textwrap.dedent(
    """
    import json, resource, runpy, sys, time
    start = time.perf_counter()
    sys.argv = sys.argv[1:]
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__") if sys.argv[0].endswith(".py") \\
            else runpy.run_module(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code or 0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": time.perf_counter() - start, "cpu": usage.ru_utime
          + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024, "code": code}), file=sys.stderr)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink(kind: str, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start the sink; return the process and a description."""
    if kind in ("auto", "smtp-sink") and shutil.which("smtp-sink"):
        cmd = ["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1024"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        description = "Postfix smtp-sink (C)"
    else:
        if kind == "smtp-sink":
            sys.exit("smtp-sink is not installed (Debian package postfix)")
        cmd = [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        description = "aiosmtpd Sink (Python; smtp-sink not installed: figures are lower)"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, description
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("the sink did not start")


def make_project(path: Path, subscribers: int, articles: int) -> Path:
    """Seeds + ``articles`` generated ones (40: a ~57 KB message), a CSV of subscribers."""
    shutil.copytree(ROOT / "seeds", path / "seeds")
    lead = (
        "The council said the plan would take effect next spring, after a consultation "
        "in which residents, businesses and schools can comment on every part of it. "
    )
    for i in range(articles):
        (path / "seeds" / f"900_bench_{i:02d}.md").write_text(
            f"---\ntitle: Bench story {i} about a plan for the city centre\n"
            f"section: {['Local', 'Business', 'Science', 'Culture'][i % 4]}\n"
            f"url: https://news.example.com/2026/11/27/bench-{i}\nauthor: Staff reporter\n"
            f"summary: {lead * 2}\n---\n{lead * 6}\n",
            encoding="utf-8",
        )
    names = ["Ada Lovelace", "Zoë Ñúñez", "Grace Hopper", "Linus Torvalds", "Alan Turing"]
    with (path / "subscribers.csv").open("w", encoding="utf-8") as handle:
        handle.write("email,name,city\n")
        for i in range(subscribers):
            handle.write(f"reader{i}@example.com,{names[i % 5]},City {i % 97}\n")
    return path


def run_measured(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    figures = json.loads(proc.stderr.strip().splitlines()[-1])
    figures["stdout"] = proc.stdout.strip()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sink", choices=("auto", "smtp-sink", "aiosmtpd"), default="auto")
    parser.add_argument(
        "--articles", type=int, default=40, help="generated articles (40: a ~57 KB message)"
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--bounce-address", default="",
        help="bounces@example.org: a VERP envelope sender per message (bounce_address)",
    )  # fmt: skip
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
    project = make_project(work, opts.subscribers, opts.articles)
    port = free_port()
    sink, sink_name = start_sink(opts.sink, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_SMTP_URL=f"smtp://127.0.0.1:{port}",
        # over SMTP the shipped placeholder identity is refused
        NEWSLETTER_FROM_ADDRESS="Bench Newsletter <news@example.com>",
        NEWSLETTER_POSTAL_ADDRESS="Bench Newsletter, 2 Test Road, Testville",
        NEWSLETTER_SMTP_CONNECTIONS=str(opts.connections),
        NEWSLETTER_SMTP_MESSAGES_PER_CONNECTION="100000",
        NEWSLETTER_SUBSCRIBERS=str(project / "subscribers.csv"),
        NEWSLETTER_MAX_ARTICLES="30",
        NEWSLETTER_BOUNCE_ADDRESS=opts.bounce_address,
    )
    try:
        run_measured(["newsletter", "preview", "--date", "2026-11-27"], project, env)
        eml = project / "previews" / "2026-11-27.eml"
        size = eml.stat().st_size
        print(
            f"sink: {sink_name}; {opts.subscribers} subscribers; {opts.connections} "
            f"connections; message {size / 1024:.1f} KB (HTML "
            f"{(project / 'previews/2026-11-27.html').stat().st_size / 1024:.1f} KB)"
        )
        results: dict[str, object] = {"sink": sink_name, "message_bytes": size}
        raw: dict[str, dict[str, float]] = {}
        baselines = {
            "sendmail": "aiosmtplib sendmail       ",
            "wire": "aiosmtplib, wire-form     ",
            "session": "newsletter transport only ",
        }
        for mode, label in baselines.items() if not opts.skip_baseline else ():
            raw[mode] = run_measured(
                [
                    str(HERE / "ceiling.py"),
                    str(eml),
                    str(port),
                    str(opts.connections),
                    str(opts.subscribers),
                    mode,
                ],
                project,
                env,
            )
            print(
                f"{label} : {opts.subscribers / raw[mode]['wall']:8.0f} msg/s  "
                f"{raw[mode]['cpu'] / opts.subscribers * 1e6:6.0f} µs CPU/msg  "
                f"{raw[mode]['rss_mb']:5.0f} MB peak RSS"
            )
        results["raw"] = raw
        e2e = run_measured(["newsletter", "send", "--date", "2026-11-27"], project, env)
        results["e2e"] = e2e
        rate = opts.subscribers / e2e["wall"]
        print(
            f"newsletter send, end to end: {rate:8.0f} msg/s  "
            f"{e2e['cpu'] / opts.subscribers * 1e6:6.0f} µs CPU/msg  "
            f"{e2e['rss_mb']:5.0f} MB peak RSS   ({e2e['stdout'].splitlines()[-1]})"
        )
        per = personalize_cost(project, env)
        results["personalize_us"] = per
        print(f"personalize one message    : {per:8.1f} µs (target < 50)")
        # The send's own rate (its summary line) leaves out start-up: collecting,
        # rendering, and (for big lists) the child process that renders.
        match = re.search(r"\((\d+)/s\)", e2e["stdout"])
        send_rate = int(match.group(1)) if match else rate
        for mode, figures in raw.items():
            raw_rate = opts.subscribers / figures["wall"]
            results[f"ratio_{mode}"] = rate / raw_rate
            results[f"send_ratio_{mode}"] = send_rate / raw_rate
            target = " (target ≥ 90%)" if mode == "sendmail" else ""
            print(
                f"e2e / {mode:8} ceiling   : {rate / raw_rate:8.0%} whole "
                f"command, {send_rate / raw_rate:.0%} send phase{target}"
            )
        out = HERE / "results"
        out.mkdir(exist_ok=True)
        (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)


def personalize_cost(project: Path, env: dict[str, str]) -> float:
    code = textwrap.dedent(
        """
        import time
        from datetime import UTC, datetime
        from newsletter.settings.config import load_settings
        from newsletter.store.database import Store
        from newsletter.edition.freeze import plan_from
        from newsletter.settings.values import mail_context, secret_key
        from newsletter.mail.personalize import MessageTemplate
        from newsletter.subscribers.csvfile import read_subscribers
        settings, _ = load_settings()
        with Store(settings.database) as store:
            plan = plan_from(store.edition_for(datetime(2026, 11, 27).date()))
            context = mail_context(settings, plan, secret_key(settings, store))
            template = MessageTemplate(plan.rendered, context)
        subs = [s for s, _ in zip(read_subscribers(settings.subscribers), range(2000))]
        passes = []  # the best of several passes, as timeit advises: the rest is noise
        for _ in range(7):
            start = time.perf_counter()
            for s in subs:
                template.build(s, "Fri, 27 Nov 2026 07:00:00 +0000")
            passes.append((time.perf_counter() - start) / len(subs) * 1e6)
        print(min(passes))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(proc.stdout.strip())


if __name__ == "__main__":
    main()
