"""PostgreSQL's TLS settings: ``verify-full`` against the shipped RDS CA bundle by default, ``require`` the floor,
anything weaker refused at cold start, the URL's own ``sslmode`` overridden, and a unix socket (the embedded local
PostgreSQL) the only exception. A real TLS handshake: tests/integration/test_postgres_tls.py."""
from __future__ import annotations

import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from cruddur_messaging.config import RDS_CA_BUNDLE, ConfigurationError, DatabaseTls
from cruddur_messaging.data.postgres import connection_parameters
from devtools.environment import LocalResources, function_environment, local_function_specs
from devtools.functions import load_handler_module
from tests.support.containers import cold_start

REMOTE = "postgresql://cruddur:secret@cruddur.abc123.us-east-1.rds.amazonaws.com:5432/cruddur"
VERIFY_FULL = DatabaseTls(sslmode="verify-full", root_cert=RDS_CA_BUNDLE)


def test_by_default_a_remote_server_is_verified_against_the_shipped_bundle() -> None:
    tls = DatabaseTls.from_environment({})
    assert tls == VERIFY_FULL
    parameters = connection_parameters(REMOTE, tls)
    assert (parameters["sslmode"], parameters["sslrootcert"]) == ("verify-full", str(RDS_CA_BUNDLE))
    assert parameters["host"] == "cruddur.abc123.us-east-1.rds.amazonaws.com"


def test_require_encrypts_without_a_root_certificate() -> None:
    tls = DatabaseTls.from_environment({"DATABASE_SSLMODE": "require"})
    parameters = connection_parameters(REMOTE, tls)
    assert parameters["sslmode"] == "require" and "sslrootcert" not in parameters


@pytest.mark.parametrize("url_tls", ["sslmode=disable", "sslmode=prefer&sslrootcert=/nowhere.pem",
                                     "sslmode=allow"])
def test_the_urls_own_tls_settings_are_overridden(url_tls: str) -> None:
    parameters = connection_parameters(f"{REMOTE}?{url_tls}", VERIFY_FULL)
    assert (parameters["sslmode"], parameters["sslrootcert"]) == ("verify-full", str(RDS_CA_BUNDLE))


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer", "verify-ca", "VERIFY-FULL", "on"])
def test_a_mode_weaker_than_require_or_unknown_is_refused(sslmode: str) -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_SSLMODE"):
        DatabaseTls.from_environment({"DATABASE_SSLMODE": sslmode})


def test_verify_full_without_its_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_SSLROOTCERT"):
        DatabaseTls.from_environment({"DATABASE_SSLROOTCERT": str(tmp_path / "missing.pem")})
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    assert DatabaseTls.from_environment({"DATABASE_SSLROOTCERT": str(bundle)}).root_cert == bundle


@pytest.mark.parametrize("url, over_tcp", [
    pytest.param("postgresql://postgres:@/cruddur?host=/tmp/pg-data", False, id="socket-directory"),
    pytest.param("postgresql:///cruddur", False, id="libpq-default-socket"),
    pytest.param("host=/tmp/a,/tmp/b dbname=cruddur", False, id="two-sockets"),
    pytest.param("postgresql://postgres@localhost/cruddur", True, id="localhost"),
    pytest.param("postgresql://postgres@127.0.0.1:5433/cruddur", True, id="loopback"),
    pytest.param("host=/tmp/a,db.example dbname=cruddur", True, id="a-socket-or-a-host"),
    pytest.param("host=/tmp/a hostaddr=10.0.0.5 dbname=cruddur", True, id="hostaddr"),
])
def test_only_a_unix_socket_goes_without_tls(url: str, over_tcp: bool) -> None:
    parameters = connection_parameters(url, VERIFY_FULL)
    assert ("sslmode" in parameters) == over_tcp
    assert parameters.get("sslmode") in ({"verify-full"} if over_tcp else {None})


def test_a_bad_sslmode_fails_the_cold_start(monkeypatch) -> None:
    """Validated when the container is built (Lambda's init), before any request and any connection."""
    resources = LocalResources(table_name="cruddur-messages")
    for logical_id in ("UsersShortFunction", "LiveAuthorizerFunction"):
        for name, value in function_environment(resources, "http://127.0.0.1:9", logical_id).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DATABASE_SSLMODE", "prefer")
        cold_start()
        with pytest.raises(ConfigurationError, match="DATABASE_SSLMODE"):
            load_handler_module(local_function_specs(resources, "no-stream")[logical_id])
    cold_start()


def test_the_template_sets_the_mode_from_its_parameter_for_every_function() -> None:
    resources = LocalResources(table_name="cruddur-messages")
    assert function_environment(resources, None, "UsersShortFunction")["DATABASE_SSLMODE"] == "verify-full"
    required = LocalResources(table_name="cruddur-messages", parameters={"DatabaseSslMode": "require"})
    assert function_environment(required, None, "LiveAuthorizerFunction")["DATABASE_SSLMODE"] == "require"


def test_the_shipped_bundle_holds_the_rds_and_rds_proxy_roots_all_valid() -> None:
    with warnings.catch_warnings():  # the Starfield Services root's serial number is 0, which cryptography warns of
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        certificates = x509.load_pem_x509_certificates(RDS_CA_BUNDLE.read_bytes())
    subjects = {certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
                for certificate in certificates}
    for kind in ("RSA2048 G1", "RSA4096 G1", "ECC384 G1"):  # rds-ca-rsa2048-g1 (RDS's default), -rsa4096-, -ecc384-
        assert f"Amazon RDS us-east-1 Root CA {kind}" in subjects
        assert f"Amazon RDS eu-west-1 Root CA {kind}" in subjects
    assert {f"Amazon Root CA {number}" for number in range(1, 5)} <= subjects  # RDS Proxy: Amazon Trust Services
    now = datetime.now(timezone.utc)
    assert all(certificate.not_valid_after_utc > now for certificate in certificates)
    assert all(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
               for certificate in certificates)
