#!/usr/bin/env python3
"""Peak RSS of a command and of each process it starts, one figure per process (Linux).

    python3 benchmarks/rss_per_process.py [--timeline FILE.jsonl] -- COMMAND [ARGS...]

Why: an in-process run forks its chunk workers (poc_tasks/parallel_chunks.py), and the ru_maxrss that wait4 or
`/usr/bin/time` report for a command is the largest of its process tree, not each process's own. This polls
/proc every 0.2 s for the command and all its descendants and keeps each one's VmHWM, the kernel's exact
high-water mark of that process (a forked child starts with its parent's resident pages, shared copy-on-write,
counted in both). A process that lives less than one poll is missed; the last poll before a process exits may
miss its final 0.2 s, which is why the figure is read from VmHWM (monotonic) rather than sampled VmRSS.

At the end it prints one JSON line on stderr: exit code, wall seconds, and per pid its peak MiB, its parent pid
and its command line (shortened). `--timeline` writes VmRSS of every process once a second, to see which stage
(compute in the chunk workers, COPY in the parent) holds the memory. Exit code: the command's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import IO


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(x) for x in f.read().split()]
    except OSError:  # the process ended between two reads
        pass
    return found


def _status(pid: int) -> dict[str, int] | None:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "PPid"):
                    out[key] = int(value.split()[0])
    except OSError:
        return None
    return out if "VmHWM" in out else None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return ""


def watch(cmd: list[str], timeline: IO[str] | None = None, poll_s: float = 0.2) -> dict:
    """Run `cmd` to its end; its exit code, wall seconds and each process's peak RSS (MiB), parent and command."""
    t0 = time.monotonic()
    child = subprocess.Popen(cmd)
    peaks: dict[int, dict] = {}
    last_line = -1.0
    while child.poll() is None:
        tree, todo = [], [child.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += _children(pid)
        rss = []
        for pid in tree:
            st = _status(pid)
            if st is None:
                continue
            seen = peaks.setdefault(pid, {"peak_mib": 0.0, "ppid": st.get("PPid"), "cmd": _cmdline(pid)})
            seen["peak_mib"] = max(seen["peak_mib"], round(st["VmHWM"] / 1024, 1))
            seen["cmd"] = seen["cmd"] or _cmdline(pid)  # empty until the new process has exec'd
            rss.append([pid, round(st.get("VmRSS", 0) / 1024, 1)])
        now = time.monotonic() - t0
        if timeline is not None and now - last_line >= 1:
            timeline.write(json.dumps({"t": round(now, 1), "rss_mib": rss}) + "\n")
            timeline.flush()
            last_line = now
        time.sleep(poll_s)
    return {"rc": child.wait(), "wall_s": round(time.monotonic() - t0, 1), "root": child.pid,
            "peak_mib_per_pid": peaks}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeline", type=argparse.FileType("w"), help="VmRSS of every process once a second (jsonl)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given")
    result = watch(cmd, args.timeline)
    print(json.dumps(result), file=sys.stderr)
    return result["rc"]


if __name__ == "__main__":
    sys.exit(main())
