"""A real Dovecot IMAP server of the tests' own: Debian's `dovecot-imapd`, started on loopback
ports with its own configuration in a folder of its own, passwd-file users (a test adds its
mailbox user), and a self-signed certificate made at start for IMAPS and STARTTLS.

`.ci/run` starts one with `python -m tests.dovecot start DIR` and exports TEST_DOVECOT_DIR;
without it, the test session starts its own. Either way the same `Dovecot` describes it.
"""

from __future__ import annotations

import datetime
import imaplib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.smtp_server import free_port

DOVECOT = "/usr/sbin/dovecot"
MAIL_USER = "nobody"  # Dovecot will not give mail access as root
READY_SECONDS = 20

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass(frozen=True)
class Dovecot:
    root: str
    imap_port: int
    imaps_port: int
    pid: int

    @property
    def ca_file(self) -> str:
        return f"{self.root}/cert.pem"

    def add_user(self, user: str, password: str) -> None:
        """A mailbox of the test's own (passwd-file is read again when it changes)."""
        pw = Path(self.root) / "passwd"
        uid, gid = _mail_ids()
        before = pw.stat().st_mtime
        with pw.open("a") as out:
            out.write(f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{self.root}/home/{user}\n")
        # Dovecot reloads the file when its mtime (in whole seconds) changes: two users added
        # within a second must still look like a change.
        stamp = max(time.time(), before + 1)
        os.utime(pw, (stamp, stamp))
        # It also looks at the file at most once a second: wait until the user can log in.
        deadline = time.monotonic() + 10
        while True:
            with imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=5) as conn:
                try:
                    conn.login(user, password)
                    return
                except imaplib.IMAP4.error:
                    if time.monotonic() > deadline:
                        raise
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the master process we started (it stops its own children)."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _mail_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(MAIL_USER)
    return entry.pw_uid, entry.pw_gid


def _certificate(root: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost: the test trusts exactly it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = root / "key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)


def start_dovecot(root: Path) -> Dovecot:
    """Write the configuration and certificate into `root` (a fresh folder) and start Dovecot."""
    if not Path(DOVECOT).exists():
        raise RuntimeError("Dovecot is not installed: apt-get install -y dovecot-imapd")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the mail user and the login processes walk through it
    for sub in ("run", "state"):
        (root / sub).mkdir(exist_ok=True)
    uid, gid = _mail_ids()
    for sub in ("mail", "home"):
        (root / sub).mkdir(exist_ok=True)
        os.chown(root / sub, uid, gid)
    (root / "passwd").write_text("")
    _certificate(root)
    imap_port, imaps_port = free_port(), free_port()
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, imap_port=imap_port, imaps_port=imaps_port))
    # Dovecot forks into the background; its output goes to a file (a pipe would stay open).
    with (root / "start.log").open("wb") as out:
        code = subprocess.run(
            [DOVECOT, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT, timeout=30
        ).returncode
    if code != 0:
        raise RuntimeError(f"dovecot did not start: {(root / 'start.log').read_text()}")
    pid_file = root / "run" / "master.pid"
    deadline = time.monotonic() + READY_SECONDS
    while not pid_file.exists() or not _answers(imap_port):
        if time.monotonic() > deadline:
            log = root / "dovecot.log"
            raise RuntimeError(
                "dovecot did not answer: " + (log.read_text() if log.exists() else "")
            )
        time.sleep(0.1)
    server = Dovecot(str(root), imap_port, imaps_port, int(pid_file.read_text().strip()))
    (root / "server.json").write_text(json.dumps(asdict(server)))
    return server


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def running_dovecot(root: Path) -> Dovecot:
    """The instance `.ci/run` started in `root`."""
    server = Dovecot(**json.loads((root / "server.json").read_text()))
    if not _answers(server.imap_port):
        raise RuntimeError(f"the Dovecot in {root} does not answer on {server.imap_port}")
    return server


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: python -m tests.dovecot start|stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[2])
    if argv[1] == "stop":
        running_dovecot(root).stop()
        return 0
    if root.exists():
        shutil.rmtree(root)
    server = start_dovecot(root)
    print(f"Dovecot on 127.0.0.1:{server.imap_port} (IMAPS {server.imaps_port}) in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
