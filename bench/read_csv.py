"""How long reading the subscriber CSV takes: one streamed pass over a large list.

    python bench/read_csv.py [--rows 1000000] [--repeat 3]

Writes a list like a real one (plain addresses, accented names, a quoted name with a comma,
a status column) into a temp folder and times ``read_subscribers`` over all of it (best of
``--repeat``), with the peak memory of the process. Run it on two checkouts (PYTHONPATH) to
compare them; CPU time is steadier than wall time on a busy machine.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from newsletter.subscribers.csvfile import read_subscribers

try:
    from newsletter.subscribers.csvfile import encoding_problems
except ImportError:  # an older checkout, for comparison
    encoding_problems = None  # type: ignore[assignment]

NAMES = ["Ada Lovelace", "Zoë Ñúñez", '"Torvalds, Linus"', "Grace Hopper", "Alan Turing"]
STATUSES = ["active", "", "active", "unsubscribed", "active"]


def write_list(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,name,status,city\n")
        for i in range(rows):
            handle.write(f"reader{i}@example.com,{NAMES[i % 5]},{STATUSES[i % 5]},City {i % 97}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "subscribers.csv"
        write_list(path, opts.rows)
        size = path.stat().st_size
        best = cpu = scan = float("inf")
        for _ in range(opts.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            count = sum(1 for _ in read_subscribers(path, opts.rows))
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - start_cpu)
            if encoding_problems is not None:
                start = time.perf_counter()
                assert not list(encoding_problems(path))
                scan = min(scan, time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{count} rows ({size / 1e6:.0f} MB): {best:.2f} s best of {opts.repeat} "
        f"({best / count * 1e6:.2f} µs a row; CPU {cpu:.2f} s), peak RSS {rss:.0f} MB"
        + (f"; encoding scan {scan:.3f} s" if encoding_problems is not None else "")
    )


if __name__ == "__main__":
    main()
