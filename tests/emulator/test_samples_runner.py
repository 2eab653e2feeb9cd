"""`python -m emulator.samples`: stand-in samples (the SDK's own are not fetched at test time) check the
environment it gives them and how it reports each way a sample can end."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.samples import main

SAMPLES = {
    # What every real sample relies on: the variables, the CA in certifi's bundle, a token for Event Hubs.
    "env_ok.py": """
import os, certifi
from azure.identity import DefaultAzureCredential
ca = open(os.path.join(os.environ["HUBSTREAM_CA_DIR"], "rootCA.pem")).read().strip()
assert ca in open(certifi.where()).read(), certifi.where()
assert os.environ["EVENT_HUB_HOSTNAME"] == "localhost"
assert os.environ["EVENT_HUB_CONN_STR"].startswith("Endpoint=sb://localhost/;")
assert "UseDevelopmentEmulator" not in os.environ["EVENT_HUB_CONN_STR"]
token = DefaultAzureCredential().get_token("https://eventhubs.azure.net/.default")
print("token", len(token.token))
""",
    "broken.py": "raise RuntimeError('the sample broke')\n",
    "forever.py": """
import time
try:
    while True:
        time.sleep(0.1)
except KeyboardInterrupt:
    print("Stopped receiving.")
""",
    "blob.py": "from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore\n",
}


def test_the_runner_reports_each_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name, source in SAMPLES.items():
        (folder / name).write_text(source)
    # Free ports: these stand-ins dial nothing, and a test must not need 5671/443.
    code = main([str(folder), "--timeout", "5", "--tls-port", "0", "--ws-port", "0", "--jobs", "2"])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in SAMPLES}
    assert "ran " in rows["env_ok.py"] and "token" in rows["env_ok.py"], out
    assert "failed" in rows["broken.py"] and "RuntimeError: the sample broke" in rows["broken.py"]
    assert "ran (^C)" in rows["forever.py"] and "Stopped receiving." in rows["forever.py"]
    assert "not run" in rows["blob.py"] and "Blob Storage" in rows["blob.py"]
    assert "1 ran, 1 ran (^C), 1 failed, 0 timed out, 1 not run (of 4)" in out
    assert code == 1  # a sample failed
