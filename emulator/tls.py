"""The emulator's certificates: a local certificate authority made once per user, as mkcert does.

Clients built as for Azure (a host name, any credential) speak TLS; to check the emulator's certificate
they trust one CA kept in a user-level folder (never in the repository, never in system-wide trust):
`$HUBSTREAM_CA_DIR`, else `$XDG_DATA_HOME/hubstream/ca`, else `~/.local/share/hubstream/ca`. The CA's
key stays there (mode 0600); each emulator start issues a fresh leaf certificate for localhost,
127.0.0.1, ::1 and the `--host` name, valid for a year, held only in memory and a temporary file that
the SSL context reads once. `--tls-cert`/`--tls-key` replace all of this with the user's own pair.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DIR_VARIABLE = "HUBSTREAM_CA_DIR"
CA_CERT = "rootCA.pem"  # mkcert's names
CA_KEY = "rootCA-key.pem"
TRUSTSTORE = "truststore.p12"
TRUSTSTORE_PASSWORD = "changeit"  # the JDK's own default; a truststore holds no secret
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
CA_YEARS = 10
LEAF_DAYS = 365


def ca_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the local CA lives (created on first use)."""
    env = os.environ if environ is None else environ
    if env.get(CA_DIR_VARIABLE):
        return Path(env[CA_DIR_VARIABLE]).expanduser()
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "hubstream" / "ca"


@dataclass(frozen=True)
class LocalCA:
    """The CA's certificate (what clients trust) and its key (what signs the emulator's certificates)."""

    directory: Path
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_file(self) -> Path:
        return self.directory / CA_CERT

    @classmethod
    def load_or_create(cls, directory: Path) -> LocalCA:
        """The CA in `directory`, made there first if absent; emulators starting at once share one."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cert_path, key_path = directory / CA_CERT, directory / CA_KEY
            if not (cert_path.exists() and key_path.exists()):
                new_cert, new_key = _new_ca()
                _write(key_path, _key_pem(new_key), 0o600)
                _write(cert_path, new_cert.public_bytes(serialization.Encoding.PEM), 0o644)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not the EC key hubstream made; remove {directory} to start over")
        return cls(directory, cert, loaded)

    def issue(self, names: Sequence[str]) -> tuple[bytes, bytes]:
        """(certificate chain PEM, key PEM) of a server certificate for `names` (DNS names or IPs)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        alt: list[x509.GeneralName] = []
        for name in dict.fromkeys(names):
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))  # a client clock a little behind
            .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def java_truststore(self) -> Path:
        """A PKCS#12 truststore holding only this CA (password `changeit`), beside the CA."""
        path = self.directory / TRUSTSTORE
        data = pkcs12.serialize_java_truststore(
            [pkcs12.PKCS12Certificate(self.certificate, b"hubstream-emulator-ca")],
            serialization.BestAvailableEncryption(TRUSTSTORE_PASSWORD.encode()),
        )
        _write(path, data, 0o644)
        return path


def server_names(host: str) -> list[str]:
    """What the certificate names: the local names, and the listening host when it is a real name."""
    names = list(LOCAL_NAMES)
    if host not in ("0.0.0.0", "::", "") and host not in names:
        names.append(host)
    return names


def server_context(
    host: str, cert_file: Path | None = None, key_file: Path | None = None, directory: Path | None = None
) -> tuple[ssl.SSLContext, Path | None]:
    """The server's SSL context, and the CA file clients should trust (None with the user's own pair)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
        return context, None
    ca = LocalCA.load_or_create(directory or ca_dir())
    chain, key = ca.issue(server_names(host))
    with tempfile.TemporaryDirectory(prefix="hubstream-tls-") as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        _write(cert_path, chain, 0o600)
        _write(key_path, key, 0o600)
        context.load_cert_chain(cert_path, key_path)
    return context, ca.cert_file


def _new_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    user = os.environ.get("USER") or "user"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hubstream development CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"hubstream emulator local CA ({user})"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    flags = (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
    )  # fmt: skip
    return x509.KeyUsage(**{flag: allowed.get(flag, False) for flag in flags})


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a temporary file and rename, so no reader sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
