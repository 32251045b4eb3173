"""A sweep's local cluster serves no one else: it listens on 127.0.0.1 only, every connection
is TLS with the credentials made for it, a client without them is refused, and it serves no
dashboard unless asked (grokscan/sweep/runner.py, local_cluster)."""

import asyncio
import gc
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.request

import psutil
import pytest
from conftest import cli, one_line_error

from grokscan.sweep.runner import SweepOptions, connect


def listening() -> set:
    """(pid, address, port) of every listening socket of this process and its children."""
    me = psutil.Process()
    out = set()
    for p in [me, *me.children(recursive=True)]:
        try:
            sockets = p.net_connections(kind="inet")
        except psutil.Error:  # a child that ended meanwhile
            continue
        out |= {(p.pid, s.laddr.ip, s.laddr.port) for s in sockets
                if s.status == psutil.CONN_LISTEN}
    return out


@pytest.fixture(scope="module")
def sweep_cluster():
    """The local cluster a sweep makes (one worker): (its client, the sockets it opened)."""
    before = listening()
    with connect(SweepOptions(jobs=1, quiet=True)) as client:
        yield client, listening() - before


def http_status(port: int, route: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{route}", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_it_listens_on_loopback_only(sweep_cluster):
    client, sockets = sweep_cluster
    workers = set(client.run(os.getpid).values())
    pids = {pid for pid, _, _ in sockets}
    assert workers <= pids and os.getpid() in pids  # the workers' and the scheduler's
    assert len(sockets) >= 5  # scheduler, its HTTP server, nanny, worker, its HTTP server
    assert {ip for _, ip, _ in sockets} == {"127.0.0.1"}, sockets
    assert re.fullmatch(r"tls://127\.0\.0\.1:\d+", client.scheduler.address)


def http_ports(client) -> set:
    """The ports of the scheduler's and the workers' HTTP servers (which Dask always starts)."""
    info = client.scheduler_info()
    return {info["services"]["dashboard"],
            *(w["services"]["dashboard"] for w in info["workers"].values())}


def join(address: str, **kw) -> str | None:
    """What a stranger on the machine would try: a Dask client on ``address`` that runs code
    on the scheduler. The error it gets (None if it got in)."""
    from distributed import Client

    try:
        with Client(address, timeout=5, **kw) as c:
            c.run_on_scheduler(os.getpid)
    except (OSError, TypeError) as e:  # TypeError: Dask has no TLS context to offer
        return f"{type(e).__name__}: {e}"
    finally:
        gc.collect()  # the Client that failed, now (grokscan/sweep/runner.py, _client)
    return None


def test_a_client_without_its_credentials_is_refused(sweep_cluster):
    from distributed.comm import connect as dask_connect
    from distributed.security import Security

    client, sockets = sweep_cluster
    address = client.scheduler.address
    other = Security.temporary()  # valid TLS credentials, but not the cluster's
    t0 = time.perf_counter()
    assert join(address) is not None
    assert "certificate" in join(address, security=other)
    assert join(address.replace("tls://", "tcp://")) is not None
    comms = {port for _, _, port in sockets} - http_ports(client)
    assert len(comms) >= 3  # the scheduler, a nanny, a worker: none takes a stranger
    for port in comms:
        with pytest.raises(OSError):
            asyncio.run(dask_connect(f"tls://127.0.0.1:{port}", timeout=5,
                                     **other.get_connection_args("client")))
        # a stranger who trusts the certificate the server shows anyone, with none of its own
        trusting = ssl.create_default_context(
            cadata=ssl.get_server_certificate(("127.0.0.1", port)))
        trusting.check_hostname = False
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                pytest.raises((ssl.SSLError, ConnectionError)):  # an alert, or closed
            with trusting.wrap_socket(raw) as tls:
                tls.sendall(b"\0" * 8)
                tls.recv(1)
    assert time.perf_counter() - t0 < 10  # refused at once, not left to time out
    assert client.run_on_scheduler(os.getpid) == os.getpid()  # its own client is served


def test_a_sweep_on_it_without_its_credentials_is_one_line(sweep_cluster, tmp_path):
    client, _ = sweep_cluster
    grid = tmp_path / "g.toml"
    grid.write_text("p = 23\nsteps = 20\n[axes]\nwd = [0.5, 1.0]\n")
    r = cli("sweep", grid, "-o", tmp_path / "S", "--scheduler", client.scheduler.address,
            "--timeout", "5")
    one_line_error(r, "cannot reach a Dask scheduler")
    assert not (tmp_path / "S").exists()


def test_a_tls_scheduler_takes_its_credentials_from_dasks_config(sweep_cluster, tmp_path):
    """--scheduler on a cluster with TLS: the client reads the CA, its certificate and key
    from Dask's config (distributed.comm.tls.*), as docs/howto/dask.md says."""
    import dask

    client, _ = sweep_cluster
    files = {}
    for key, pem in (("ca-file", client.security.tls_ca_file),
                     ("client.cert", client.security.tls_client_cert),
                     ("client.key", client.security.tls_client_key)):
        files[f"distributed.comm.tls.{key}"] = str(tmp_path / f"{key}.pem")
        (tmp_path / f"{key}.pem").write_text(pem)
    opts = SweepOptions(scheduler=client.scheduler.address, timeout=10, quiet=True)
    with dask.config.set(files), connect(opts) as other:
        assert other.run_on_scheduler(os.getpid) == os.getpid()


def test_no_dashboard_unless_asked(sweep_cluster):
    client, _ = sweep_cluster
    for port in http_ports(client):  # the scheduler's and the worker's: /health only
        assert http_status(port, "health") == 200
        for route in ("status", "info/main/workers.html", "json/identity.json", "metrics"):
            assert http_status(port, route) == 404, (port, route)


def test_the_dashboard_when_asked_is_on_loopback_and_printed(capsys):
    before = listening()
    with connect(SweepOptions(jobs=1, quiet=True, dashboard=True)) as client:
        sockets = listening() - before
        port = client.scheduler_info()["services"]["dashboard"]
        assert http_status(port, "info/main/workers.html") == 200
    assert sockets and {ip for _, ip, _ in sockets} == {"127.0.0.1"}, sockets
    assert f"dashboard: http://127.0.0.1:{port}/status" in capsys.readouterr().err


def test_a_dashboard_is_for_local_processes_only(tmp_path):
    grid = tmp_path / "g.toml"
    grid.write_text("p = 23\n")
    r = cli("sweep", grid, "-o", tmp_path / "S", "--scheduler", "tls://127.0.0.1:9",
            "--dashboard")
    assert r.exit_code == 2 and "--dashboard is for local processes" in r.output
