"""The local CA: made once, certificates that clients accept for the local names, trust steps that
change only what they say (a certifi bundle given to them, a truststore beside the CA)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509

from emulator.process import EmulatorProcess
from emulator.tls import LocalCA, ca_dir, server_context, server_names
from emulator.trust import java_options, trust_certifi, untrust_certifi


def test_the_ca_folder_is_per_user_and_overridable(tmp_path: Path) -> None:
    assert ca_dir({"HUBSTREAM_CA_DIR": str(tmp_path)}) == tmp_path
    assert ca_dir({"XDG_DATA_HOME": "/data"}) == Path("/data/hubstream/ca")
    assert ca_dir({}) == Path.home() / ".local/share/hubstream/ca"


def test_the_ca_is_made_once_and_its_key_is_private(tmp_path: Path) -> None:
    first = LocalCA.load_or_create(tmp_path)
    again = LocalCA.load_or_create(tmp_path)
    assert first.certificate == again.certificate
    assert (tmp_path / "rootCA-key.pem").stat().st_mode & 0o077 == 0
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca


def serve_once(context: ssl.SSLContext) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return port, thread


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "events.local"])
def test_the_certificate_names_the_local_names_and_the_host(tmp_path: Path, name: str) -> None:
    context, ca_file = server_context("events.local", directory=tmp_path)
    assert ca_file == tmp_path / "rootCA.pem"
    port, thread = serve_once(context)
    client = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with client.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(b"x")
    thread.join(5)


def test_another_name_is_refused(tmp_path: Path) -> None:
    context, ca_file = server_context("127.0.0.1", directory=tmp_path)
    assert server_names("0.0.0.0") == ["localhost", "127.0.0.1", "::1"]
    port, thread = serve_once(context)
    client = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            client.wrap_socket(raw, server_hostname="example.com")
    thread.join(5)


def test_trusting_certifi_appends_once_and_untrusting_restores_the_bundle(tmp_path: Path) -> None:
    import certifi

    bundle = tmp_path / "cacert.pem"
    shutil.copy(certifi.where(), bundle)
    original = bundle.read_bytes()
    ca = LocalCA.load_or_create(tmp_path / "ca")
    assert trust_certifi(bundle, ca)
    assert not trust_certifi(bundle, ca)
    assert bundle.read_text().count(ca.cert_file.read_text().strip()) == 1
    ssl.create_default_context(cafile=str(bundle))  # still a valid bundle
    assert untrust_certifi(bundle)
    assert bundle.read_bytes() == original
    assert not untrust_certifi(bundle)


@pytest.mark.skipif(shutil.which("keytool") is None, reason="needs a JDK's keytool")
def test_the_java_truststore_holds_the_ca_as_a_trusted_entry(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path)
    store = ca.java_truststore()
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", str(store), "-storepass", "changeit", "-storetype", "PKCS12"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hubstream-emulator-ca" in listing and "trustedCertEntry" in listing


def test_the_users_own_certificate_and_key(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path / "their-ca")
    chain, key = ca.issue(["localhost"])
    (tmp_path / "cert.pem").write_bytes(chain)
    (tmp_path / "key.pem").write_bytes(key)
    args = ["--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")]
    with EmulatorProcess(extra_args=args, ca_dir=tmp_path / "unused") as process:
        assert f"(certificate: {tmp_path / 'cert.pem'};" in "".join(process.output)
        client = ssl.create_default_context(cafile=str(ca.cert_file))
        with socket.create_connection(("127.0.0.1", process.tls_port)) as raw:
            with client.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.version() is not None
    assert not (tmp_path / "unused").exists()


def test_taken_default_ports_are_left_out_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A second emulator (5671 taken) or no root (443 refused): the rest is served, and the note says how."""
    import asyncio
    import os
    import signal

    import emulator.__main__ as cli

    held = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    try:
        monkeypatch.setattr(cli, "AMQPS_PORT", held[0].getsockname()[1])
        monkeypatch.setattr(cli, "WEBSOCKET_PORT", held[1].getsockname()[1])
        args = cli.build_parser().parse_args(["--port", "0"])

        async def run() -> int:
            task = asyncio.create_task(cli.serve(args))
            for _ in range(100):
                seen.append(capsys.readouterr().out)
                if "Connection string" in "".join(seen):
                    break
                await asyncio.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)
            return await task

        seen: list[str] = []
        code = asyncio.run(run())
    finally:
        for sock in held:
            sock.close()
    out = "".join(seen) + capsys.readouterr().out
    assert code == 0
    assert "TLS: not served: port" in out and "--tls-port N" in out
    assert "WebSockets: not served: port" in out and "--ws-port 8443" in out


def test_a_taken_port_asked_for_by_flag_is_an_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "emulator", "--port", "0", "--tls-port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot listen for amqps on 127.0.0.1:{port}" in result.stderr and "--tls-port" in result.stderr


JAVA_CHECK = """
import javax.net.ssl.*;

public class TlsCheck {
    public static void main(String[] args) throws Exception {
        SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
        SSLSocket socket = (SSLSocket) factory.createSocket(args[0], Integer.parseInt(args[1]));
        SSLParameters params = socket.getSSLParameters();
        params.setEndpointIdentificationAlgorithm("HTTPS");  // check the name, as clients do
        socket.setSSLParameters(params);
        socket.startHandshake();
        System.out.println("trusted " + socket.getSession().getPeerPrincipal());
        socket.close();
    }
}
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK")
def test_a_jvm_trusts_the_emulator_with_the_printed_truststore_options(tmp_path: Path) -> None:
    """What Spark's extraJavaOptions do: JSSE with the truststore, hostname checked, on the TLS port."""
    source = tmp_path / "TlsCheck.java"
    source.write_text(JAVA_CHECK)
    with EmulatorProcess(ca_dir=tmp_path / "ca") as process:
        store = LocalCA.load_or_create(tmp_path / "ca").java_truststore()
        options = java_options(store).split()
        for host in ("localhost", "127.0.0.1"):
            trusted = subprocess.run(
                ["java", *options, str(source), host, str(process.tls_port)],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert trusted.returncode == 0, trusted.stderr
            assert "trusted CN=localhost" in trusted.stdout
        untrusted = subprocess.run(
            ["java", str(source), "localhost", str(process.tls_port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert untrusted.returncode != 0 and "PKIX path building failed" in untrusted.stderr


NODE_CHECK = """
const tls = require("tls");
const [host, port] = process.argv.slice(1);
const socket = tls.connect({ host, port: Number(port), servername: host }, () => {
  console.log("trusted " + socket.getPeerCertificate().subject.CN);
  socket.end();
});
socket.on("error", (err) => { console.error(err.code); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_node_trusts_the_emulator_with_node_extra_ca_certs(tmp_path: Path) -> None:
    import os

    with EmulatorProcess(ca_dir=tmp_path / "ca") as process:
        assert process.ca_file is not None
        command = ["node", "-e", NODE_CHECK, "localhost", str(process.tls_port)]
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(process.ca_file)}
        trusted = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
        env.pop("NODE_EXTRA_CA_CERTS")
        untrusted = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert trusted.returncode == 0 and "trusted localhost" in trusted.stdout, trusted.stderr
    assert untrusted.returncode != 0 and "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in untrusted.stderr
