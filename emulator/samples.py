"""`python -m emulator.samples DIR`: run azure-eventhub's official samples, unmodified, against the emulator.

The samples are not in the wheel: they are in the package's sdist (`samples/sync_samples`,
`samples/async_samples`; `pip download --no-deps --no-binary :all: azure-eventhub==<version>`) and in
the SDK's repository. Each `*.py` under DIR runs as its own process, configured by environment only,
as a user configures them for Azure:

- an emulator on the ports clients built from a host name dial (TLS 5671, WebSockets 443), with
  `--entra-id`, so that `DefaultAzureCredential` works;
- `DefaultAzureCredential` gets its token from the loopback managed identity stand-in
  (`emulator/identity.py`, the App Service `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` contract);
- the local CA trusted with the documented step, `python -m emulator ca --trust-certifi`, run by a
  throwaway virtualenv with its own copy of certifi (this virtualenv's bundle is never touched); that
  virtualenv sees this one's packages and runs the samples.

Samples that need what this machine cannot have (Blob Storage, an IoT Hub, an Entra ID app
registration, an HTTP proxy, placeholders to edit) are reported as such, not run. Prints a table:
sample, result, why. Nothing here is used by the tests: it needs the samples, fetched by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .identity import OTHER_IDENTITY_VARS, ManagedIdentityEndpoint
from .process import EmulatorProcess

HUB = "eventhub-samples"
INTERRUPT_GRACE_S = 15.0
OUTCOMES = ("ran", "ran (^C)", "failed", "timed out", "not run")
KEY_NAME, KEY = "RootManageSharedAccessKey", "SAS_KEY_VALUE"
CONFIG = f"""
[keys]
{KEY_NAME} = "{KEY}"
[[hubs]]
name = "{HUB}"
partitions = 4
"""

# What a sample needs that the emulator cannot stand in for, found by what the sample's code reads.
OUTSIDE = (
    (
        r"BlobCheckpointStore|AZURE_STORAGE_ACCOUNT",
        "needs Azure Blob Storage (no Azurite in the project yet)",
    ),
    (r"IOTHUB_CONN_STR", "needs an Azure IoT Hub connection string"),
    (
        r"EnvironmentCredential",
        "needs an Entra ID app registration (AZURE_TENANT_ID/CLIENT_ID/CLIENT_SECRET)",
    ),
    (r"http_proxy\s*=", "needs an HTTP proxy at the address written in it (127.0.0.1:3128, with a password)"),
    (r"<[a-z_]+>", "has placeholders (<...>) in its code to edit before it can run"),
)


@dataclass(frozen=True)
class Result:
    sample: str
    outcome: str  # one of OUTCOMES; "ran (^C)": ended by SIGINT, as it is written to be
    why: str
    seconds: float = 0.0


def outside_need(source: str) -> str | None:
    for pattern, why in OUTSIDE:
        if re.search(pattern, source):
            return why
    return None


def throwaway_venv(folder: Path) -> Path:
    """A virtualenv that sees this one's packages, but with its own certifi (first on sys.path)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    own = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    import certifi

    shutil.copytree(Path(certifi.__file__).parent, own / "certifi")
    # addsitedir (not a bare path), so the parent's .pth files (hubstream's editable install) apply too.
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (own / "hubstream-parent.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    )
    return python


def sample_env(identity: ManagedIdentityEndpoint, ca_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OTHER_IDENTITY_VARS}
    env.update(
        EVENT_HUB_HOSTNAME="localhost",
        EVENT_HUB_NAME=HUB,
        EVENT_HUB_CONN_STR=f"Endpoint=sb://localhost/;SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY};EntityPath={HUB}",
        EVENT_HUB_SAS_POLICY=KEY_NAME,
        EVENT_HUB_SAS_KEY=KEY,
        IDENTITY_ENDPOINT=identity.url,
        IDENTITY_HEADER=identity.secret,
        PYTHONUNBUFFERED="1",
    )
    env["HUBSTREAM_CA_DIR"] = ca_dir
    return env


def last_error(output: str) -> str:
    """The exception line of a traceback, else the last line printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Expired|Timeout)\b.*", line):
            return line[:200]
    return lines[-1][:200] if lines else "(no output)"


def run_one(
    python: Path, path: Path, root: Path, env: dict[str, str], timeout_s: float, logs: Path
) -> Result:
    name = str(path.relative_to(root))
    need = outside_need(path.read_text())
    if need:
        return Result(name, "not run", need)
    started = time.monotonic()
    log = logs / (name.replace("/", "__") + ".log")
    with log.open("w+") as out:
        process = subprocess.Popen(
            [str(python), path.name], cwd=path.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        interrupted = False
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            # Many samples receive until Ctrl-C, as they are written: give them that.
            interrupted = True
            process.send_signal(signal.SIGINT)
            try:
                code = process.wait(INTERRUPT_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
        seconds = time.monotonic() - started
        out.seek(0)
        output = out.read()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = f", last: {lines[-1][:100]!r}" if lines else ""
    if interrupted:
        if code in (0, -signal.SIGINT, 130) or "KeyboardInterrupt" in output:
            why = f"receives until Ctrl-C: stopped by SIGINT after {timeout_s:.0f}s"
            return Result(name, "ran (^C)", f"{why}; printed {len(lines)} line(s){last}", seconds)
        why = "did not end on SIGINT (killed)"
        return Result(name, "timed out", f"{why}; printed {len(lines)} line(s){last}", seconds)
    if code == 0:
        return Result(name, "ran", f"exit 0, printed {len(lines)} line(s){last}", seconds)
    return Result(name, "failed", f"exit {code}: {last_error(output)}", seconds)


def table(results: list[Result]) -> str:
    width = max(len(r.sample) for r in results)
    rows = [f"{'sample':<{width}}  {'result':<9}  {'s':>5}  why", "-" * (width + 40)]
    rows += [f"{r.sample:<{width}}  {r.outcome:<9}  {r.seconds:5.1f}  {r.why}" for r in results]
    counts = {o: sum(r.outcome == o for r in results) for o in OUTCOMES}
    rows.append(", ".join(f"{n} {o}" for o, n in counts.items()) + f" (of {len(results)})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.samples", description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path, help="folder of samples (e.g. the sdist's samples/)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per sample (default 60)")
    parser.add_argument("--jobs", type=int, default=2, help="samples run at once (default 2)")
    parser.add_argument("--logs", type=Path, help="folder for each sample's output (default: a temp folder)")
    parser.add_argument("--tls-port", type=int, default=5671)
    parser.add_argument("--ws-port", type=int, default=443)
    args = parser.parse_args(argv)
    samples = sorted(p for p in args.dir.rglob("*.py") if not p.name.startswith("_"))
    if not samples:
        parser.error(f"no *.py under {args.dir}")
    with tempfile.TemporaryDirectory(prefix="hubstream-samples-") as tmp:
        work = Path(tmp)
        logs = args.logs or work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        python = throwaway_venv(work / "venv")
        # A CA of this run's own, unless one is named: the user's own folder is left as it was.
        ca_dir = os.environ.get("HUBSTREAM_CA_DIR") or str(work / "ca")
        trust = subprocess.run(
            [str(python), "-m", "emulator", "ca", "--trust-certifi"], capture_output=True, text=True,
            check=True, env={**os.environ, "HUBSTREAM_CA_DIR": ca_dir},
        )  # fmt: skip
        print(trust.stdout.strip())
        config = work / "samples.toml"
        config.write_text(CONFIG)
        emulator = EmulatorProcess(config=config, extra_args=["--entra-id", "--health-port", "-1"],
                                   log_file=work / "emulator.log", ca_dir=Path(ca_dir))  # fmt: skip
        emulator.tls_port, emulator.ws_port = args.tls_port, args.ws_port
        with emulator, ManagedIdentityEndpoint() as identity:
            if (emulator.tls_port, emulator.ws_port) != (args.tls_port, args.ws_port):
                print(f"warning: the emulator serves TLS on {emulator.tls_port} and WebSockets on "
                      f"{emulator.ws_port}, not {args.tls_port}/{args.ws_port}: samples miss it")  # fmt: skip
            env = sample_env(identity, ca_dir)
            with ThreadPoolExecutor(max(1, args.jobs)) as pool:
                results = list(pool.map(
                    lambda p: run_one(python, p, args.dir, env, args.timeout, logs), samples
                ))  # fmt: skip
            print(table(results))
            print(f"each sample's output: {logs}" + ("" if args.logs else " (removed on exit)"))
    return 0 if not any(r.outcome == "failed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
