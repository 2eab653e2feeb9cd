"""Run Azurite's Blob service as a child process: the local Blob Storage that tests and demos need.

Azurite is the Azure Storage emulator, from npm; `make azurite-install` puts it in `<repo>/.azurite`
(`$HUBSTREAM_AZURITE_BIN` names another `azurite-blob`). It serves the well-known development account
`devstoreaccount1`, whose key Microsoft publishes: it is not a secret.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from childprocess import kill, stop

AZURITE_BIN_ENV = "HUBSTREAM_AZURITE_BIN"
REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALLED_BIN = REPO_ROOT / ".azurite" / "node_modules" / ".bin" / "azurite-blob"

# The development account every Azurite serves, with its documented key (learn.microsoft.com:
# "Use the Azurite emulator for local Azure Storage development", well-known storage account and key).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST = "127.0.0.1"
# What azurite-blob prints once it accepts connections, with the port it took (for --blobPort 0 too).
_LISTENING = re.compile(r"Blob service successfully listens on http://[^:]+:(\d+)")


class AzuriteNotInstalled(RuntimeError):
    """The azurite-blob executable is missing; the message says how to install it."""


def azurite_binary() -> Path:
    """The azurite-blob to run: $HUBSTREAM_AZURITE_BIN, else the one `make azurite-install` installed."""
    configured = os.environ.get(AZURITE_BIN_ENV)
    if configured:
        path = Path(configured).expanduser()
        found = path if path.is_file() else shutil.which(configured)
        if not found:
            raise AzuriteNotInstalled(
                f"${AZURITE_BIN_ENV} = {configured!r} is not an executable: point it at Azurite's "
                "azurite-blob, or unset it and run `make azurite-install`"
            )
        return Path(found)
    if not INSTALLED_BIN.is_file():
        raise AzuriteNotInstalled(
            f"Azurite is not installed ({INSTALLED_BIN} is missing): run `make azurite-install` "
            f"(needs Node.js 18+), or set ${AZURITE_BIN_ENV} to an azurite-blob executable"
        )
    return INSTALLED_BIN


def connection_string(blob_endpoint: str) -> str:
    """The development account's connection string for a Blob endpoint `http://host:port/devstoreaccount1`."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={blob_endpoint};"
    )


def azurite_command(binary: Path, port: int, location: Path, *, access_log: bool = False) -> list[str]:
    """azurite-blob on loopback: no telemetry, and any client API version: azure-storage-blob 12.31 sends
    a version newer than Azurite 3.35 knows, which it would otherwise refuse."""
    args = [str(binary), "--blobHost", HOST, "--blobPort", str(port), "--location", str(location)]
    args += ["--skipApiVersionCheck", "--disableTelemetry"]
    return args if access_log else [*args, "--silent"]


class AzuriteProcess:
    """azurite-blob on a free loopback port; `blob_port`, `blob_endpoint` and `connection_string` once
    `start()` returns.

    Its data goes to `data_dir`, or to a temporary folder removed by `stop()`. With `log_file`, its output
    and access log (a line per request) go there too.
    """

    def __init__(self, *, data_dir: Path | None = None, log_file: Path | None = None) -> None:
        self.data_dir = data_dir
        self.log_file = log_file
        self.process: subprocess.Popen[str] | None = None
        self.blob_port = 0
        self.output: list[str] = []
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def blob_endpoint(self) -> str:
        return f"http://{HOST}:{self.blob_port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_endpoint)

    def start(self, timeout: float = 30.0, port: int | None = None) -> AzuriteProcess:
        """Start it (on `port`, or the port it had before, or a free one) and wait until it serves."""
        binary = azurite_binary()
        location = self.data_dir
        if location is None:
            if self._temp_dir is None:
                self._temp_dir = tempfile.TemporaryDirectory(prefix="azurite-")
            location = Path(self._temp_dir.name)
        location.mkdir(parents=True, exist_ok=True)
        self.output = []
        self.process = subprocess.Popen(
            azurite_command(
                binary,
                port if port is not None else self.blob_port,
                location,
                access_log=self.log_file is not None,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            # Its own process group: a terminal's Ctrl-C reaches only the parent, which stops it in order.
            start_new_session=True,
        )
        listening = threading.Event()
        threading.Thread(target=self._read_output, args=(self.process, listening), daemon=True).start()
        try:
            started = listening.wait(timeout) and self.process.poll() is None
        except BaseException:
            # Ctrl-C while it starts: in its own process group, it would outlive us.
            started = False
            raise
        finally:
            if not started:
                self.kill()
                self._remove_temp_dir()
        if not started:
            raise RuntimeError("Azurite did not start:\n" + "".join(self.output[-40:]))
        return self

    def _read_output(self, process: subprocess.Popen[str], listening: threading.Event) -> None:
        assert process.stdout is not None
        sink = self.log_file.open("a") if self.log_file else None
        try:
            for line in process.stdout:
                if sink:
                    sink.write(line)
                    sink.flush()
                    if not _LISTENING.search(line):
                        continue  # the access log: a line per request, only for the file
                self.output.append(line)
                match = _LISTENING.search(line)
                if match and not listening.is_set():
                    self.blob_port = int(match.group(1))
                    listening.set()
        finally:
            listening.set()  # it exited: start() stops waiting
            if sink:
                sink.close()

    def stop(self, timeout: float = 10.0) -> int:
        """Stop it as Ctrl-C would (SIGINT), remove its temporary folder, and return its exit code."""
        code = 0
        if self.process is not None:
            code = stop(self.process, timeout)
        self._remove_temp_dir()
        return code

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None

    def kill(self) -> None:
        """SIGKILL: nothing flushed."""
        if self.process is not None:
            kill(self.process)

    def __enter__(self) -> AzuriteProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
