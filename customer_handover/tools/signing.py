"""Keys, certificates and signatures: what the checklist, the event log and the transfer package sign with.

Needs cryptography, never Odoo. RSA (PKCS#1 v1.5) and ECDSA over SHA-256 only; a signature travels in
base64, a certificate in PEM, a fingerprint as the SHA-256 of the certificate's DER bytes.
"""

import base64
import re
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

ALGORITHMS = ("RSA-SHA256", "ECDSA-SHA256")


class ChecklistError(Exception):
    """A checklist, package or key that cannot be used; the message says why, in English.

    The one error of the offline tools: the checklist, the event log and the package raise it or a subclass.
    """


def utc_timestamp(moment=None):
    """``moment`` (default: now) as the UTC text every signed format carries: ``2024-05-01T09:30:00Z``."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_certificate(data):
    """Load a PEM or DER certificate."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    for loader in (x509.load_pem_x509_certificate, x509.load_der_x509_certificate):
        try:
            return loader(data)
        except ValueError:
            continue
    raise ChecklistError("this is not a PEM or DER certificate")


def certificate_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def fingerprint(certificate):
    """SHA-256 of the certificate's DER bytes, as ``AB:CD:...`` (the form ``openssl x509 -fingerprint`` prints)."""
    return ":".join(f"{byte:02X}" for byte in certificate.fingerprint(hashes.SHA256()))


def normalise_fingerprint(text):
    """Accept a fingerprint with or without colons or spaces, in any case."""
    cleaned = re.sub(r"[\s:]", "", text or "").upper()
    if not re.fullmatch(r"[0-9A-F]{64}", cleaned):
        raise ChecklistError("a SHA-256 fingerprint has 64 hexadecimal digits")
    return ":".join(cleaned[index:index + 2] for index in range(0, 64, 2))


def validity(certificate):
    """The certificate's validity period as two aware UTC datetimes, on any cryptography release."""
    start = getattr(certificate, "not_valid_before_utc", None)
    end = getattr(certificate, "not_valid_after_utc", None)
    if start is None:
        start = certificate.not_valid_before.replace(tzinfo=timezone.utc)
        end = certificate.not_valid_after.replace(tzinfo=timezone.utc)
    return start, end


def common_name(certificate):
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return names[0].value if names else certificate.subject.rfc4514_string()


def load_private_key(data, password=None):
    if isinstance(password, str):
        password = password.encode("utf-8")
    for loader in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            key = loader(data, password)
        except TypeError as error:
            raise ChecklistError("the private key is protected by a password: give it") from error
        except ValueError:
            continue
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ChecklistError("only RSA and elliptic-curve keys can sign a checklist")
        return key
    raise ChecklistError("this is not a PEM or DER private key, or its password is wrong")


def key_algorithm(key):
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA-SHA256"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ECDSA-SHA256"
    raise ChecklistError("only RSA and elliptic-curve keys can sign a checklist")


def public_key_bytes(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_self_signed(private_key, name, days=3650, now=None):
    """A self-signed certificate for ``private_key``, naming its holder ``name``."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        ), critical=True)
    )
    return builder.sign(private_key, hashes.SHA256())


def generate_key(kind="ec"):
    """A new private key: ``ec`` (P-256) or ``rsa`` (3072 bits)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ChecklistError(f"unknown key type {kind!r}: use ec or rsa")


def private_key_pem(private_key):
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def sign_bytes(private_key, payload):
    """``(algorithm, signature in base64)`` of ``payload`` signed with ``private_key``."""
    algorithm = key_algorithm(private_key)
    if algorithm == "RSA-SHA256":
        signature = private_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = private_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return algorithm, base64.b64encode(signature).decode("ascii")


def check_signature(payload, signature_b64, certificate, algorithm):
    """True when ``signature_b64`` is ``certificate``'s signature of ``payload`` with ``algorithm``."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    public_key = certificate.public_key()
    try:
        if algorithm == "RSA-SHA256" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "ECDSA-SHA256" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True

