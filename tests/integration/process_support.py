"""Real processes for the fault and monitoring tests: a `celery worker` of the poc_tasks app (prefork pool, task
events), Flower, a Redis server and a PostgreSQL cluster of the test's own on free ports (the machine's shared
services are never stopped or restarted), and a task-event recorder."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from poc_tasks.embedded import free_port

WORKER = """
import os, sys, time
from celery.signals import task_prerun
from poc_tasks.app import app

# test hook: the first time a task named POC_TEST_PAUSE_AT starts, its pool process writes its pid to
# POC_TEST_PAUSE_FILE and sleeps, so the test can kill it there (the redelivered task then runs normally)
pause_at, pause_file = os.environ.get("POC_TEST_PAUSE_AT"), os.environ.get("POC_TEST_PAUSE_FILE")

def pause(sender=None, **_kw):
    if pause_at and getattr(sender, "name", "") == pause_at and not os.path.exists(pause_file):
        with open(pause_file, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(300)

task_prerun.connect(pause, weak=False)
prefix = sys.argv[1]
# the rest of the broker settings are celeryconfig's (POC_VISIBILITY_TIMEOUT from the environment, as deployed)
app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}), "global_keyprefix": prefix}
app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
app.worker_main(["worker", "-Q", "poc_aggregation", "--pool", "prefork", "--concurrency", sys.argv[2], "-E",
                 "-n", f"child{sys.argv[3]}@faults", "--without-gossip", "--without-mingle", "--loglevel", "INFO"])
"""

FLOWER = """
import sys
from poc_tasks.app import app
prefix = sys.argv[1]
app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}), "global_keyprefix": prefix}
app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
app.start(["flower", "--address=127.0.0.1", f"--port={sys.argv[2]}"])
"""


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Child:
    """A child process with its log file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def pool_pids(self) -> list[int]:
        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.pool_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _spawn(code: str, args: list[str], env: dict[str, str], log: Path) -> Child:
    with log.open("ab") as fh:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    return Child(proc, log)


@contextmanager
def celery_worker(env: dict[str, str], prefix: str, log: Path, concurrency: int = 1,
                  name: str = "") -> Iterator[Child]:
    """A `celery worker -E` child process of the poc_tasks app, ready to consume when this yields."""
    child = _spawn(WORKER, [prefix, str(concurrency), name], env, log)
    try:
        wait_until(lambda: child.proc.poll() is not None or " ready." in child.text(), 90, "the worker to be ready")
        if child.proc.poll() is not None:
            pytest.fail(f"worker exited {child.proc.returncode}:\n{child.text()[-3000:]}")
        yield child
    finally:
        child.stop()


@contextmanager
def flower(env: dict[str, str], prefix: str, log: Path) -> Iterator[str]:
    """Flower on a free port, its API open (FLOWER_UNAUTHENTICATED_API); yields its base URL."""
    port = free_port()
    child = _spawn(FLOWER, [prefix, str(port)], {**env, "FLOWER_UNAUTHENTICATED_API": "true"}, log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if child.proc.poll() is not None:
            pytest.fail(f"flower exited {child.proc.returncode}:\n{child.text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthcheck", timeout=1):  # noqa: S310 - our own localhost
                return True
        except OSError:
            return False

    try:
        wait_until(up, 60, "Flower to answer")
        yield url
    finally:
        child.stop()


class EventLog:
    """Every task event the broker carries while the block runs (Celery's own event receiver)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.ready = threading.Event()

    def of(self, uuid: str, type_: str | None = None) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("uuid") == uuid and (type_ is None or e["type"] == type_)]


@contextmanager
def recorded_events(app: Any) -> Iterator[EventLog]:
    log = EventLog()
    stop = threading.Event()

    def run() -> None:
        with app.connection_for_read() as conn:
            receiver = app.events.Receiver(conn, handlers={"*": log.events.append})
            log.ready.set()
            while not stop.is_set():
                try:
                    receiver.capture(limit=None, timeout=0.5, wakeup=False)
                except (TimeoutError, OSError):
                    continue

    thread = threading.Thread(target=run, name="event-log", daemon=True)
    thread.start()
    log.ready.wait(10)
    time.sleep(0.5)  # the receiver's queue is bound before the run starts
    try:
        yield log
    finally:
        stop.set()
        thread.join(5)


# --- services of the test's own ---------------------------------------------------------------------------------


@contextmanager
def own_redis(tmp: Path, persist: bool = False) -> Iterator[tuple[str, Any]]:
    """A redis-server on a free port without persistence; yields (url, restart()) -- restart() stops it and starts
    it again on the same port (everything it held is gone, as on a Redis restarted without persistence). With
    `persist` every write goes to an append-only file first, so a restart keeps everything (a blip)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    state: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        keep = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
        state["proc"] = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *keep,
                                          "--dir", str(tmp)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=port, socket_connect_timeout=0.5)

        def ping() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(ping, 20, "redis-server to answer")
        client.close()

    def stop() -> None:
        proc = state["proc"]
        proc.terminate()
        proc.wait(10)

    def restart(down_s: float = 0.0) -> None:
        stop()
        time.sleep(down_s)
        start()

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        stop()


@contextmanager
def own_postgres(tmp: Path) -> Iterator[tuple[str, Any]]:
    """A PostgreSQL cluster of this test (initdb + pg_ctl, a free port, trust auth); yields (url, pg_ctl(*args))."""
    pg_ctl = shutil.which("pg_ctl")
    initdb = shutil.which("initdb") or (str(Path(pg_ctl).parent / "initdb") if pg_ctl else None)
    if not pg_ctl or not initdb or not Path(initdb).exists():
        pytest.skip("pg_ctl/initdb are not installed")
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as the postgres user when there is one
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user: cannot start a PostgreSQL of the test's own")
        run_as = ["runuser", "-u", "postgres", "--"]
        tmp = Path(tempfile.mkdtemp(prefix="poc_pg_"))  # pytest's tmp dirs are private to root
        tmp.chmod(0o777)
    data, port = tmp / "pgdata", free_port()
    subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp / "pg.log"

    def ctl(*args: str) -> None:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60",
                        "-o", f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", *args],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ctl("start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", ctl
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


class Blinker:
    """A TCP proxy on a free 127.0.0.1 port to `target_port` that can go away for a while: while it is down it
    accepts every connection and closes it at once (the client sees the server drop it, as when an endpoint is
    restarted) and cuts the connections it carried. It counts the connections it dropped, so a test knows the
    client met the outage."""

    def __init__(self, target_port: int) -> None:
        self.port, self._target = free_port(), target_port
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._open: list[Any] = []
        self._lock = threading.Lock()
        self.down = False
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.down:
                self.dropped += 1
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        _cut(source, sink)
        source.close()  # each socket is the source of exactly one pipe

    def go_down(self) -> None:
        self.down = True
        with self._lock:
            cut, self._open = self._open, []
        _cut(*cut)

    def come_back(self) -> None:
        self.down = False

    def close(self) -> None:
        self.go_down()
        _cut(self._listener)  # wakes accept() on Linux
        self._listener.close()


def _cut(*sockets: Any) -> None:
    """Shut both directions of each socket down (a thread blocked in recv or accept on it returns)."""
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
