"""A real TLS handshake between the functions' PostgreSQL client (libpq through ``PostgresDatabase``) and a server
over TCP whose certificate a test CA signed.

The embedded PostgreSQL listens on a unix socket only, so the server side is a small front end on 127.0.0.1 that
speaks PostgreSQL's own TLS negotiation (the client's ``SSLRequest``, answered ``S``, then the TLS handshake, as
the protocol's "SSL Session Encryption" describes) with the test's certificate, and relays the decrypted protocol
to the embedded server's socket. It depends on nothing but the server's URL, and counts the sessions it encrypted.
"""
from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psycopg2.extensions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cruddur_messaging.config import DatabaseTls
from cruddur_messaging.data.postgres import PostgresDatabase
from cruddur_messaging.errors import DependencyUnavailable

SSL_REQUEST = struct.pack("!II", 8, 80877103)
PASSWORD = "tls-test-password"


@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    name: str = "Cruddur test CA"

    def __post_init__(self) -> None:
        self.certificate = self._sign(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)]),
                                      self.key.public_key(), [(x509.BasicConstraints(ca=True, path_length=None), True)])

    def _sign(self, subject: x509.Name, public_key, extensions) -> x509.Certificate:
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)]))
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(self.key, hashes.SHA256())

    def server_files(self, directory: Path, names: list[str]) -> tuple[Path, Path]:
        """A server certificate for ``names`` (DNS names or IP addresses) and its key, as PEM files."""
        key = ec.generate_private_key(ec.SECP256R1())
        alternatives = [x509.IPAddress(ipaddress.ip_address(name)) if name[0].isdigit() else x509.DNSName(name)
                        for name in names]
        certificate = self._sign(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]), key.public_key(),
                                 [(x509.SubjectAlternativeName(alternatives), False),
                                  (x509.BasicConstraints(ca=False, path_length=None), True)])
        certificate_file, key_file = directory / "server.pem", directory / "server.key"
        certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return certificate_file, key_file

    def bundle(self, directory: Path) -> Path:
        path = directory / f"{self.name.replace(' ', '-')}.pem"
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path


class TlsFrontEnd:
    """PostgreSQL's TLS on 127.0.0.1 in front of a server that has none (the embedded one, on its socket)."""

    def __init__(self, backend_url: str, certificate: Path, key: Path) -> None:
        parameters = psycopg2.extensions.parse_dsn(backend_url)
        host, port = parameters.get("host", ""), int(parameters.get("port", 5432))
        self._backend = (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/") else (
            socket.AF_INET, (host, port))
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certificate, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.encrypted_sessions = 0
        self.plain_sessions = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        backend = socket.socket(self._backend[0])
        try:
            first = client.recv(8, socket.MSG_WAITALL)
            if first == SSL_REQUEST:
                client.sendall(b"S")
                client = self._context.wrap_socket(client, server_side=True)
                self.encrypted_sessions += 1
                first = b""
            else:
                self.plain_sessions += 1
            backend.connect(self._backend[1])
            backend.sendall(first)
            threading.Thread(target=_relay, args=(backend, client), daemon=True).start()
            _relay(client, backend)
        except (OSError, ssl.SSLError):
            pass  # a client that refused our certificate hangs up mid-handshake
        finally:
            client.close()
            backend.close()

    def close(self) -> None:
        self._listener.close()


def _relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority()


@pytest.fixture
def front_end(postgres, authority, tmp_path) -> Iterator[TlsFrontEnd]:
    server = TlsFrontEnd(postgres.database_url, *authority.server_files(tmp_path, ["localhost", "127.0.0.1"]))
    yield server
    server.close()


def url(front_end: TlsFrontEnd, host: str = "localhost", query: str = "") -> str:
    return f"postgresql://postgres:{PASSWORD}@{host}:{front_end.port}/cruddur{query}"


def one(database: PostgresDatabase) -> tuple | None:
    try:
        return database.fetch_one("SELECT handle FROM users WHERE handle = %(handle)s", {"handle": "bayko"})
    finally:
        database.close()


def test_verify_full_connects_over_tls_to_a_server_the_bundle_vouches_for(front_end, authority, tmp_path) -> None:
    tls = DatabaseTls(sslmode="verify-full", root_cert=authority.bundle(tmp_path))
    assert one(PostgresDatabase(lambda: url(front_end), tls)) == ("bayko",)
    assert one(PostgresDatabase(lambda: url(front_end, host="127.0.0.1"), tls)) == ("bayko",)  # its IP address
    # The URL asks for no TLS at all: the configured mode wins.
    assert one(PostgresDatabase(lambda: url(front_end, query="?sslmode=disable"), tls)) == ("bayko",)
    assert (front_end.encrypted_sessions, front_end.plain_sessions) == (3, 0)


def test_verify_full_refuses_a_certificate_of_another_authority(front_end, tmp_path, caplog) -> None:
    impostor = Authority(name="Another CA")
    tls = DatabaseTls(sslmode="verify-full", root_cert=impostor.bundle(tmp_path))
    with pytest.raises(DependencyUnavailable):
        one(PostgresDatabase(lambda: url(front_end), tls))
    [record] = [record for record in caplog.records if record.getMessage() == "cannot connect to PostgreSQL"]
    logged = f"{record.getMessage()} {vars(record)}"  # the message and every extra the JSON line carries
    assert "certificate verify failed" in record.error and PASSWORD not in logged


def test_verify_full_refuses_a_certificate_for_another_host_which_require_accepts(postgres, authority,
                                                                                  tmp_path) -> None:
    """``require`` is the floor: encrypted, the certificate unchecked."""
    front_end = TlsFrontEnd(postgres.database_url, *authority.server_files(tmp_path, ["db.example"]))
    try:
        with pytest.raises(DependencyUnavailable):
            one(PostgresDatabase(lambda: url(front_end), DatabaseTls("verify-full", authority.bundle(tmp_path))))
        assert one(PostgresDatabase(lambda: url(front_end), DatabaseTls("require", tmp_path / "unused"))) == (
            "bayko",)
        assert front_end.encrypted_sessions == 2 and front_end.plain_sessions == 0
    finally:
        front_end.close()


def test_the_embedded_server_on_its_unix_socket_needs_no_tls(postgres, tmp_path) -> None:
    tls = DatabaseTls(sslmode="verify-full", root_cert=tmp_path / "no-bundle-needed.pem")
    assert one(PostgresDatabase(lambda: postgres.database_url, tls)) == ("bayko",)
