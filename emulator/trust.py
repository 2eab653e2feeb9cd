"""`python -m emulator ca`: where the local CA is, and the one step each kind of client takes to trust it.

Nothing here touches system-wide trust. `--trust-certifi` appends the CA to the certifi bundle of the
Python running this command (a virtualenv's own copy: the azure-eventhub SDK reads only
`certifi.where()`, not SSL_CERT_FILE); `--untrust-certifi` takes it out again. `--java-truststore`
writes a PKCS#12 truststore beside the CA for the JVM (Spark, the Scala connector's Java client);
with `--with-jdk-cas` that truststore also holds the JDK's own CAs (keytool copies them), which a JVM that
fetches anything from the internet needs: Spark resolving `spark.jars.packages` from Maven Central does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .tls import TRUSTSTORE_PASSWORD, LocalCA, ca_dir

_BEGIN = "# hubstream emulator local CA: {path}\n"
_END = "# end of hubstream emulator local CA\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator ca",
        description="Show the emulator's local certificate authority (made on first use) and how to "
        "trust it.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--trust-certifi",
        action="store_true",
        help="append the CA to this Python's certifi bundle (run it with the virtualenv's python)",
    )
    action.add_argument(
        "--untrust-certifi", action="store_true", help="remove the CA from this Python's certifi bundle"
    )
    action.add_argument(
        "--java-truststore",
        action="store_true",
        help=f"write {ca_dir()}/truststore.p12 (this CA only) and print Spark's JVM options for it",
    )
    parser.add_argument(
        "--with-jdk-cas",
        action="store_true",
        help=f"with --java-truststore: write {ca_dir()}/{JDK_TRUSTSTORE} instead, the JDK's CAs and this one "
        "(for a JVM that also reaches public hosts, e.g. Spark fetching --packages from Maven Central)",
    )
    return parser


JDK_TRUSTSTORE = "cacerts-and-emulator.p12"


def jdk_cacerts(java_home: Path | None = None) -> Path:
    """The JDK's own truststore: $JAVA_HOME's, else that of the `java` on PATH."""
    if java_home is None:
        if os.environ.get("JAVA_HOME"):
            java_home = Path(os.environ["JAVA_HOME"])
        else:
            java = shutil.which("java")
            if java is None:
                raise FileNotFoundError("no JDK: neither JAVA_HOME nor `java` on PATH (install Java 17+)")
            java_home = Path(java).resolve().parent.parent
    cacerts = java_home / "lib" / "security" / "cacerts"
    if not cacerts.exists():
        raise FileNotFoundError(f"{cacerts} does not exist: is {java_home} a JDK? Set JAVA_HOME to one")
    return cacerts


def java_truststore_with_jdk_cas(ca: LocalCA, java_home: Path | None = None) -> Path:
    """A PKCS#12 truststore beside the CA holding the JDK's CAs and this one (password `changeit`).

    keytool, not Python, reads the JDK's store: Debian's is a JKS file, which no Python library here reads.
    """
    cacerts = jdk_cacerts(java_home)
    keytool = shutil.which("keytool", path=str(cacerts.parent.parent.parent / "bin")) or shutil.which(
        "keytool"
    )
    if keytool is None:
        raise FileNotFoundError("keytool is not installed beside java; it comes with every JDK/JRE")
    target = ca.directory / JDK_TRUSTSTORE
    with tempfile.TemporaryDirectory(dir=ca.directory) as tmp:
        store = Path(tmp) / JDK_TRUSTSTORE
        common = ["-noprompt", "-storetype", "PKCS12", "-storepass", TRUSTSTORE_PASSWORD]
        for command in (
            [keytool, "-importkeystore", "-noprompt", "-srckeystore", str(cacerts), "-srcstorepass",
             TRUSTSTORE_PASSWORD, "-destkeystore", str(store), "-deststoretype", "PKCS12",
             "-deststorepass", TRUSTSTORE_PASSWORD],
            [keytool, "-importcert", *common, "-alias", "hubstream-emulator-ca", "-file", str(ca.cert_file),
             "-keystore", str(store)],
        ):  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stdout}{done.stderr}".strip())
        store.chmod(0o644)
        os.replace(store, target)
    return target


def certifi_bundle() -> Path:
    import certifi

    return Path(certifi.where())


def trust_certifi(bundle: Path, ca: LocalCA) -> bool:
    """Append the CA to `bundle` unless it is there already; True when it was added."""
    text = bundle.read_text()
    pem = ca.cert_file.read_text()
    if pem.strip() in text:
        return False
    block = _BEGIN.format(path=ca.cert_file) + pem + _END
    bundle.write_text(text + ("" if text.endswith("\n") else "\n") + block)
    return True


def untrust_certifi(bundle: Path) -> bool:
    """Remove every block `trust_certifi` added; True when one was there."""
    lines = bundle.read_text().splitlines(keepends=True)
    kept: list[str] = []
    inside = found = False
    for line in lines:
        if line.startswith(_BEGIN.split("{")[0]):
            inside = found = True
        elif inside and line == _END:
            inside = False
        elif not inside:
            kept.append(line)
    if found:
        bundle.write_text("".join(kept))
    return found


def java_options(truststore: Path) -> str:
    return (
        f"-Djavax.net.ssl.trustStore={truststore} -Djavax.net.ssl.trustStoreType=PKCS12 "
        f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}"
    )


def describe(ca: LocalCA) -> str:
    """The CA's path and the trust step per ecosystem."""
    cert = ca.cert_file
    return f"""Local CA: {cert}
(made once for this user; its key stays beside it. Override the folder with $HUBSTREAM_CA_DIR.)
The emulator's certificate names localhost, 127.0.0.1, ::1 and its --host name.

Python (azure-eventhub) - either of:
  EventHubProducerClient(..., connection_verify="{cert}")
  python -m emulator ca --trust-certifi     # adds it to this virtualenv's certifi bundle
                                            # (the SDK reads only certifi.where(), not SSL_CERT_FILE)
  Point a client at an emulator port other than 5671/443 with
  custom_endpoint_address="sb://localhost:PORT" (and transport_type=TransportType.Amqp for TLS).

hubstream (producers, consumers, the Spark job), in the profile's [eventhub] table:
  connection_verify = "{cert}"
  custom_endpoint_address = "sb://localhost:PORT"   # for a port other than 5671 (443 with websocket)
  The Spark source and sink take them as .option("eventhubs.connectionVerify", "{cert}") and
  .option("eventhubs.customEndpointAddress", "sb://localhost:PORT").

Node (@azure/event-hubs):
  export NODE_EXTRA_CA_CERTS="{cert}"

JVM (Spark, the Scala connector's Java client, azure-messaging-eventhubs):
  python -m emulator ca --java-truststore   # writes {ca.directory / "truststore.p12"}
  (add --with-jdk-cas for {ca.directory / JDK_TRUSTSTORE}: the JDK's CAs and this one, for a JVM
   that also reaches public hosts, e.g. Spark fetching --packages from Maven Central)
  then pass to Spark:
    --conf "spark.driver.extraJavaOptions={java_options(ca.directory / "truststore.p12")}"
    --conf "spark.executor.extraJavaOptions=<the same>"
  (that truststore holds only this CA; to keep the public CAs too, import it into a copy of the JDK's:
   keytool -importcert -noprompt -alias hubstream-emulator-ca -file "{cert}" \\
     -keystore my-cacerts -storepass changeit   # after copying $JAVA_HOME/lib/security/cacerts)

curl / openssl:
  curl --cacert "{cert}" ...
"""


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    ca = LocalCA.load_or_create(ca_dir())
    if args.trust_certifi:
        bundle = certifi_bundle()
        added = trust_certifi(bundle, ca)
        print(f"{'added' if added else 'already there'}: {ca.cert_file} in {bundle}")
        return 0
    if args.untrust_certifi:
        bundle = certifi_bundle()
        removed = untrust_certifi(bundle)
        print(f"{'removed from' if removed else 'not in'} {bundle}: the hubstream local CA")
        return 0
    if args.with_jdk_cas and not args.java_truststore:
        print("error: --with-jdk-cas goes with --java-truststore", file=sys.stderr)
        return 2
    if args.java_truststore:
        store = java_truststore_with_jdk_cas(ca) if args.with_jdk_cas else ca.java_truststore()
        print(f"wrote {store} (password {TRUSTSTORE_PASSWORD}); Spark options:")
        print(f'  --conf "spark.driver.extraJavaOptions={java_options(store)}"')
        print(f'  --conf "spark.executor.extraJavaOptions={java_options(store)}"')
        return 0
    sys.stdout.write(describe(ca))
    return 0
