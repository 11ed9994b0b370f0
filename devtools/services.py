"""Start and stop the local stack's processes (Azurite, the Graph emulator, the host) by PID.

Used by `make run` (devtools/run.py) and by the tests' session fixtures, so both start the stack the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
AZURITE_TABLE_MAIN = ROOT / "node_modules" / "azurite" / "dist" / "src" / "table" / "main.js"
AZURITE_QUEUE_MAIN = ROOT / "node_modules" / "azurite" / "dist" / "src" / "queue" / "main.js"
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
IDENTITY_HEADER = "local-identity-header"
# Variables that would make azure-identity pick another credential, or the app another storage account:
# cleared wherever the local stack runs the app (tests, benches).
LEAKY_ENV = (
    "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
    "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "SNAPSHOT_STORAGE",
)  # fmt: skip


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_holder(port: int) -> str:
    """Who listens on `port`, as far as /proc tells (Linux; processes of other users stay anonymous)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A = LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"pid {proc.name} ({command[:120]})"
    return "a process this user cannot see"


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (then they are delivered): for a single-threaded CLI."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _unblock_stop_signals() -> None:
    """In the child, before exec: a held signal mask is inherited, and the service must hear SIGTERM."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@dataclass
class Service:
    """A child process listening on one port, stopped by its PID."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None
    https_port: int | None = None  # the emulator's second, TLS port (its Entra authority)
    _log: IO[bytes] | None = None

    def start(self, timeout: float = 60.0, hold_signals: bool = False) -> Service:
        """Start and wait until the port answers. `hold_signals` (for `make run`, single-threaded): a Ctrl-C
        arriving while the child is being created is delivered once `process` is set, so it is never orphaned."""
        env = {**os.environ, **self.env}
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = out = self.log_path.open("ab")
        with stop_signals_held() if hold_signals else contextlib.nullcontext():
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_unblock_stop_signals if hold_signals else None,
            )  # fmt: skip
        try:
            wait_for_port(self.port, timeout, self.process)
        except Exception:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def azurite(port: int, location: Path | None = None, log_path: Path | None = None) -> Service:
    if not AZURITE_TABLE_MAIN.exists():
        raise RuntimeError("Azurite is not installed: run `npm ci` (make does it) in the project folder")
    storage = ["--location", str(location)] if location else ["--inMemoryPersistence"]
    argv = [
        "node", str(AZURITE_TABLE_MAIN), "--tableHost", "127.0.0.1", "--tablePort", str(port),
        *storage, "--disableTelemetry", "--skipApiVersionCheck", "--silent",
    ]  # fmt: skip
    # Azurite saves its --location data on SIGINT; on SIGTERM it may lose the last seconds of writes.
    return Service("azurite", argv, port, log_path=log_path, stop_signal=signal.SIGINT)


def azurite_queue(port: int, location: Path | None = None, log_path: Path | None = None) -> Service:
    """Azurite's queue service (the fan-out's queues and the queue triggers'), beside the table service."""
    if not AZURITE_QUEUE_MAIN.exists():
        raise RuntimeError("Azurite is not installed: run `npm ci` (make does it) in the project folder")
    storage = ["--location", str(location)] if location else ["--inMemoryPersistence"]
    argv = [
        "node", str(AZURITE_QUEUE_MAIN), "--queueHost", "127.0.0.1", "--queuePort", str(port),
        *storage, "--disableTelemetry", "--skipApiVersionCheck", "--silent",
    ]  # fmt: skip
    return Service("azurite-queue", argv, port, log_path=log_path, stop_signal=signal.SIGINT)


def azurite_connection_string(port: int, queue_port: int | None = None) -> str:
    """The development account on this Azurite: its table service, and its queue service when given."""
    queues = f"QueueEndpoint=http://127.0.0.1:{queue_port}/{DEV_ACCOUNT};" if queue_port else ""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};{queues}"
    )


def emulator_ca_file(https_port: int) -> Path:
    """Where an emulator serving TLS on `https_port` writes its certificate authority (made at its start)."""
    return ROOT / ".local" / "emulator-tls" / f"ca-{https_port}.pem"


def emulator(
    port: int,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
    https_port: int | None = None,
    tenants: tuple[str, ...] = (),
) -> Service:
    """The emulator on `port`; with `https_port`, also its Entra authority over TLS; `tenants` held from start-up
    (GUID[:displayName][:unconsented])."""
    argv = [sys.executable, "-m", "devtools.emulator", "--port", str(port), *(extra_args or [])]
    if https_port is not None:
        argv += ["--https-port", str(https_port), "--ca-file", str(emulator_ca_file(https_port))]
    for tenant in tenants:
        argv += ["--tenant", tenant]
    return Service("emulator", argv, port, env={"PYTHONUNBUFFERED": "1"}, log_path=log_path, https_port=https_port)


def emulator_env(port: int, https_port: int | None = None) -> dict[str, str]:
    """The settings that point the app's Graph client and managed identity at the emulator (and, when it serves
    TLS, the Entra authority of the tenants' tokens, trusting its certificate)."""
    env = {
        "GRAPH_BASE_URL": f"http://127.0.0.1:{port}/v1.0",
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{port}/msi/token",
        "IDENTITY_HEADER": IDENTITY_HEADER,
    }
    if https_port is not None:
        env["SNAPSHOT_AUTHORITY_HOST"] = f"https://127.0.0.1:{https_port}"
        env["SNAPSHOT_AUTHORITY_CA_FILE"] = str(emulator_ca_file(https_port))
    return env


def multi_tenant_env() -> dict[str, str]:
    """tenancy=multi with the emulator's app registration and home tenant (devtools/emulator/identity.py)."""
    from devtools.emulator.identity import APP_CLIENT_ID
    from devtools.emulator.state import DEFAULT_TENANT_ID

    return {
        "SNAPSHOT_TENANCY": "multi",
        "SNAPSHOT_APP_CLIENT_ID": APP_CLIENT_ID,
        "SNAPSHOT_HOME_TENANT_ID": DEFAULT_TENANT_ID,
    }


def host(port: int, env: dict[str, str], log_path: Path | None = None, extra_args: list[str] | None = None) -> Service:
    argv = [sys.executable, "-m", "devtools.host", "--port", str(port), *(extra_args or [])]
    return Service("host", argv, port, env={"PYTHONUNBUFFERED": "1", **env}, log_path=log_path)
