"""A throw-away Samba AD domain controller for tests and benchmarks.

Provisioning takes a few seconds (``samba-tool domain provision`` with no DNS backend);
seeding writes one LDIF straight into ``sam.ldb`` with ``ldbadd`` in batch mode while the
DC is stopped (about a second per thousand users, versus minutes over LDAP). The DC
then runs in the foreground (``samba -i -M single``) with only the LDAP service, bound
to a loopback address of its own (127.0.0.2, 127.0.0.3, ...) so that it may use the
standard ports 389 and 636 without colliding with anything on 127.0.0.1.

TLS: a CA and a server certificate (SAN: the loopback IP and dc1.<realm>) are generated
here, so certificate validation against a CA file is real; a second, unrelated CA is
written too, for "untrusted certificate" tests.

Passwords are generated per run; nothing secret is committed.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.ldap.escaping import escape_dn_value

REALM = "STS.TEST"
DOMAIN = "STS"
BASE_DN = "DC=sts,DC=test"
KOMMUNE = f"OU=Kommune,{BASE_DN}"
CVR = "29189846"


class SambaUnavailable(RuntimeError):
    """Samba is not installed or the DC could not be started."""


def samba_missing() -> str | None:
    """Why a DC cannot be run here, or None."""
    for tool in ("samba", "samba-tool", "ldbadd"):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install samba samba-ad-dc ldb-tools)"
    if os.geteuid() != 0:
        return "the Samba DC must run as root (it binds ports 389 and 636)"
    return None


def make_password() -> str:
    """A password that meets AD's complexity rules; new for every run."""
    return f"Aa1!{secrets.token_urlsafe(12)}"


def _port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_loopback_address(start: int = 2) -> str:
    for last in range(start, 250):
        ip = f"127.0.0.{last}"
        if not any(_port_open(ip, port) for port in (389, 636)):
            return ip
    raise SambaUnavailable("no free loopback address for a test DC")


# -- TLS ---------------------------------------------------------------------------------


def _write_ca(directory: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write_tls(directory: Path, ip: str, hostname: str) -> None:
    """ca.pem, cert.pem, key.pem (0600) for the DC, and untrusted-ca.pem."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _write_ca(directory, "STS test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address(ip))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (directory / "cert.pem").write_bytes(cert.public_bytes(pem))
    key_file = directory / "key.pem"
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    _, other = _write_ca(directory, "Somebody else's CA")
    (directory / "untrusted-ca.pem").write_bytes(other.public_bytes(pem))


# -- seed data ---------------------------------------------------------------------------


def _pwd(password: str) -> str:
    return base64.b64encode(f'"{password}"'.encode("utf-16-le")).decode()


def filetime(when: dt.datetime) -> int:
    return int(when.timestamp() * 10_000_000) + 116_444_736_000_000_000


@dataclass
class SeedUser:
    sam: str
    ou: str
    given: str
    surname: str
    password: bool = True
    uac: int = 512
    extra: dict[str, list[str]] = field(default_factory=dict)

    @property
    def cn(self) -> str:
        return self.extra.get("cn", [f"{self.given} {self.surname}"])[0]

    @property
    def dn(self) -> str:
        return f"CN={escape_dn_value(self.cn)},{self.ou}"


@dataclass
class Seed:
    """What the seeded directory holds; tests refer to it instead of repeating names."""

    password: str
    service_dn: str
    service_password: str
    users: dict[str, SeedUser]
    groups: dict[str, str]  # short name -> DN
    bulk_count: int
    large_group_size: int
    ous: list[str]

    @property
    def total_users(self) -> int:
        return len(self.users) + self.bulk_count


OU_SERVICE = f"OU=Service,{KOMMUNE}"
OU_FORVALTNING = f"OU=Forvaltning,{KOMMUNE}"
OU_JOBCENTER = f"OU=Jobcenter,{OU_FORVALTNING}"
OU_NORD = f"OU=Team Nord,{OU_JOBCENTER}"
OU_BORGER = f"OU=Borgerservice,{OU_FORVALTNING}"
OU_GROUPS = f"OU=Grupper,{KOMMUNE}"
OU_BULK = f"OU=Bulk,{KOMMUNE}"
OU_BENCH = f"OU=Bench,{KOMMUNE}"


def build_seed(total_users: int = 5000, large_group: int = 2500, bench_users: int = 10) -> Seed:
    password = make_password()
    past = filetime(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    users = {
        "boss": SeedUser(
            "bo.chef", OU_BORGER, "Bodil", "Chef", extra={"mail": ["bodil.chef@kommune.test"]}
        ),
        "anna": SeedUser(
            "anna.jensen",
            OU_JOBCENTER,
            "Anna",
            "Jensen",
            extra={
                "mail": ["anna@kommune.test"],
                "userPrincipalName": ["anna.jensen@sts.test"],
                "displayName": ["Anna Jensen"],
                "departmentNumber": ["27.35", "32.*junk", "27.35.04", "abc"],
                "manager": [f"CN=Bodil Chef,{OU_BORGER}"],
            },
        ),
        "comma": SeedUser(
            "bo.jensen",
            OU_NORD,
            "Bo",
            "Jensen",
            extra={"cn": ["Jensen, Bo (vikar) *"], "mail": ["bo@kommune.test"]},
        ),
        "badpw": SeedUser("karl.forkert", OU_JOBCENTER, "Karl", "Forkert"),
        "disabled": SeedUser("dora.deaktiv", OU_JOBCENTER, "Dora", "Deaktiv", uac=514),
        "locked": SeedUser("lars.laast", OU_JOBCENTER, "Lars", "Låst"),
        "expired": SeedUser(
            "eva.udloebet", OU_JOBCENTER, "Eva", "Udløbet", extra={"accountExpires": [str(past)]}
        ),
        "mustchange": SeedUser(
            "mads.skift", OU_JOBCENTER, "Mads", "Skift", extra={"pwdLastSet": ["0"]}
        ),
        "walker": SeedUser("walt.gruppe", OU_BORGER, "Walt", "Gruppe"),
    }
    for index in range(bench_users):
        name = f"bench{index:02d}"
        users[name] = SeedUser(name, OU_BENCH, "Bench", f"{index:02d}")
    bulk_count = total_users - len(users)
    groups = {
        "level1": f"CN=GG-Niveau1,{OU_GROUPS}",
        "level2": f"CN=GG-Niveau2,{OU_GROUPS}",
        "level3": f"CN=GG-Niveau3,{OU_GROUPS}",
        "large": f"CN=GG-Stor,{OU_GROUPS}",
        "jfr": f"CN=JFR_Sagsbehandler#{CVR},{OU_GROUPS}",
        "unrelated": f"CN=GG-Andet,{OU_GROUPS}",
    }
    return Seed(
        password=password,
        service_dn=f"CN=svc-sts,{OU_SERVICE}",
        service_password=make_password(),
        users=users,
        groups=groups,
        bulk_count=bulk_count,
        large_group_size=min(large_group, bulk_count),
        ous=[
            KOMMUNE,
            OU_SERVICE,
            OU_FORVALTNING,
            OU_JOBCENTER,
            OU_NORD,
            OU_BORGER,
            OU_GROUPS,
            OU_BULK,
            OU_BENCH,
        ],
    )


def bulk_dn(index: int) -> str:
    return f"CN=bulk{index:05d},{OU_BULK}"


def seed_ldif(seed: Seed) -> str:
    blocks: list[str] = []

    def entry(dn: str, attrs: Iterable[tuple[str, str]]) -> None:
        lines = [f"dn: {dn}"]
        for name, value in attrs:
            if name.endswith(":") or value.isascii():  # "name:" means already base64
                lines.append(f"{name}: {value}")
            else:
                lines.append(f"{name}:: {base64.b64encode(value.encode()).decode()}")
        blocks.append("\n".join(lines))

    for ou in seed.ous:
        entry(ou, [("objectClass", "organizationalUnit")])
    entry(
        seed.service_dn,
        [
            ("objectClass", "user"),
            ("sAMAccountName", "svc-sts"),
            ("unicodePwd:", _pwd(seed.service_password)),
            ("userAccountControl", "66048"),
        ],
    )
    boss_first = sorted(seed.users.values(), key=lambda u: u.sam != "bo.chef")
    for user in boss_first:
        attrs = [
            ("objectClass", "user"),
            ("sAMAccountName", user.sam),
            ("givenName", user.given),
            ("sn", user.surname),
            ("userAccountControl", str(user.uac)),
        ]
        if user.password:
            attrs.append(("unicodePwd:", _pwd(seed.password)))
        for name, values in user.extra.items():
            if name != "cn":
                attrs.extend((name, value) for value in values)
        if "userPrincipalName" not in user.extra:
            attrs.append(("userPrincipalName", f"{user.sam}@sts.test"))
        entry(user.dn, attrs)
    for index in range(seed.bulk_count):
        name = f"bulk{index:05d}"
        entry(
            bulk_dn(index),
            [
                ("objectClass", "user"),
                ("sAMAccountName", name),
                ("givenName", "Bulk"),
                ("sn", f"{index:05d}"),
                ("userPrincipalName", f"{name}@sts.test"),
                ("mail", f"{name}@kommune.test"),
                ("userAccountControl", "544"),
            ],
        )
    users = seed.users
    bench = [u.dn for key, u in users.items() if key.startswith("bench")]
    members = {
        "level3": [users["anna"].dn, users["walker"].dn, *bench],
        "level2": [seed.groups["level3"], users["comma"].dn],
        "level1": [seed.groups["level2"]],
        "large": [bulk_dn(i) for i in range(seed.large_group_size)],
        "jfr": [users["anna"].dn],
        "unrelated": [users["boss"].dn],
    }
    for key in ("level3", "level2", "level1", "large", "jfr", "unrelated"):
        dn = seed.groups[key]
        cn = dn.split(",", 1)[0][3:]
        entry(
            dn,
            [
                ("objectClass", "group"),
                ("sAMAccountName", cn.replace("#", "_")),
                *(("member", m) for m in members[key]),
            ],
        )
    return "\n\n".join(blocks) + "\n"


# -- the DC ------------------------------------------------------------------------------


class SambaDC:
    """One provisioned DC under ``root``; start/stop are cheap, provisioning is not."""

    def __init__(self, root: Path, ip: str | None = None) -> None:
        reason = samba_missing()
        if reason:
            raise SambaUnavailable(reason)
        self.root = root
        self.ip = ip or free_loopback_address()
        self.hostname = "dc1." + REALM.lower()
        self.admin_password = make_password()
        self.tls_dir = root / "tls"
        self.process: subprocess.Popen[bytes] | None = None
        self.base_dn = BASE_DN

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "smb.conf"

    @property
    def sam(self) -> Path:
        return self.root / "private" / "sam.ldb"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def untrusted_ca_file(self) -> Path:
        return self.tls_dir / "untrusted-ca.pem"

    @property
    def admin_dn(self) -> str:
        return f"CN=Administrator,CN=Users,{BASE_DN}"

    def url(self, scheme: str = "ldaps") -> str:
        return f"{scheme}://{self.ip}"

    def _run(self, *args: str) -> str:
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise SambaUnavailable(f"{' '.join(args[:3])} failed: {done.stderr[-2000:]}")
        return done.stdout

    def provision(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._run(
            "samba-tool",
            "domain",
            "provision",
            f"--targetdir={self.root}",
            f"--realm={REALM}",
            f"--domain={DOMAIN}",
            "--server-role=dc",
            "--dns-backend=NONE",
            "--host-name=dc1",
            f"--host-ip={self.ip}",
            f"--adminpass={self.admin_password}",
            f"--option=interfaces={self.ip}/8",
            "--option=bind interfaces only=yes",
        )
        write_tls(self.tls_dir, self.ip, self.hostname)
        (self.root / "run").mkdir(exist_ok=True)
        extra = {
            "server services": "ldap",
            "pid directory": str(self.root / "run"),
            "log file": str(self.root / "log.samba"),
            "tls enabled": "yes",
            "tls keyfile": str(self.tls_dir / "key.pem"),
            "tls certfile": str(self.tls_dir / "cert.pem"),
            "tls cafile": str(self.ca_file),
        }
        lines = []
        for line in self.conf.read_text().splitlines():
            key = line.strip().split("=", 1)[0].strip()
            if key in extra:
                continue
            lines.append(line)
            if line.strip() == "[global]":
                lines.extend(f"\t{k} = {v}" for k, v in extra.items())
        self.conf.write_text("\n".join(lines) + "\n")
        # Lockout after 3 bad passwords, so a test can lock an account for real.
        self._run(
            "samba-tool",
            "domain",
            "passwordsettings",
            "set",
            f"-H{self.sam}",
            "--account-lockout-threshold=3",
            "--account-lockout-duration=30",
            "--reset-account-lockout-after=30",
            "--min-pwd-age=0",
        )

    def load_ldif(self, ldif: str) -> None:
        """Add entries straight into sam.ldb (the DC must be stopped)."""
        if self.running:
            raise SambaUnavailable("stop the DC before loading LDIF into sam.ldb")
        path = self.root / "seed.ldif"
        path.write_text(ldif, encoding="utf-8")
        self._run("ldbadd", "-o", "batch_mode:1", f"-H{self.sam}", str(path))
        path.unlink()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        if self.running:
            return
        log = (self.root / "samba.out").open("ab")
        self.process = subprocess.Popen(
            ["samba", "-i", "-M", "single", f"--configfile={self.conf}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SambaUnavailable(
                    f"samba exited with {self.process.returncode}: "
                    f"{(self.root / 'samba.out').read_text()[-2000:]}"
                )
            if self._tls_ready():
                return
            time.sleep(0.1)
        self.stop()
        raise SambaUnavailable("samba did not start listening on 636 in time")

    def _tls_ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with (
                socket.create_connection((self.ip, 636), timeout=0.5) as raw,
                context.wrap_socket(raw, server_hostname=self.ip),
            ):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        pid_file = self.root / "run" / "samba.pid"
        pid_file.unlink(missing_ok=True)
        deadline = time.monotonic() + 5
        while _port_open(self.ip, 636) and time.monotonic() < deadline:
            time.sleep(0.05)

    def admin(self):
        """An ldap3 connection bound as Administrator over LDAPS (for test set-up)."""
        from ldap3 import NONE, Connection, Server, Tls

        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        server = Server(self.ip, port=636, use_ssl=True, tls=tls, get_info=NONE, connect_timeout=5)
        return Connection(
            server,
            self.admin_dn,
            self.admin_password,
            auto_bind=True,
            receive_timeout=30,
            auto_range=False,
        )


def provision_seeded(root: Path, seed: Seed, ip: str | None = None) -> SambaDC:
    """Provision, seed and start a DC; lock the seed's "locked" user for real."""
    dc = SambaDC(root, ip)
    dc.provision()
    dc.load_ldif(seed_ldif(seed))
    dc.start()
    lock_account(dc, seed.users["locked"].dn)
    return dc


def lock_account(dc: SambaDC, dn: str, attempts: int = 3) -> None:
    from ldap3 import NONE, Connection, Server, Tls

    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file))
    server = Server(dc.ip, port=636, use_ssl=True, tls=tls, get_info=NONE)
    for _ in range(attempts):
        connection = Connection(server, dn, make_password())
        connection.bind()
        connection.unbind()
