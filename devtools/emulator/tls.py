"""The emulator's TLS for its Entra authority: azure-identity accepts only an https authority, so the emulator
makes, at start-up, a certificate authority of its own and a server certificate for 127.0.0.1 and localhost
signed by it. The authority's certificate is written to a file the app trusts (SNAPSHOT_AUTHORITY_CA_FILE);
nothing else trusts it, and the keys never leave memory.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.add_extension(usage, critical=True).sign(signer, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def server_context(ca_file: Path) -> ssl.SSLContext:
    """A server SSLContext with a fresh certificate; the authority's certificate is written to `ca_file`."""
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("devtools emulator local CA", "devtools emulator local CA", ca_key, ca_key, ca=True)
    server = _certificate("127.0.0.1", "devtools emulator local CA", server_key, ca_key, ca=False)
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    partial = ca_file.with_suffix(".tmp")
    partial.write_bytes(_pem(ca))
    partial.replace(ca_file)  # a reader never sees half a file
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # load_cert_chain reads files only: a private temporary file, removed at once.
    with tempfile.NamedTemporaryFile(suffix=".pem") as chain:
        chain.write(key_pem + _pem(server))
        chain.flush()
        context.load_cert_chain(chain.name)
    return context
