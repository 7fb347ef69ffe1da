"""Console commands for the receiving party: verify, countersign, open a transfer package, create a key.
They need no Odoo.

Exit codes: 0 success (the checklist is the signed original, or the package is intact, both signed with
the pinned key); 1 it is not (tampered, re-saved, not signed, signed by an unknown or unpinned key, not
the checklist the package delivers); 2 a file cannot be read or decrypted, is not a checklist or a
package, or an option is wrong.
"""

import argparse
import json
import os
import sys

from .checklist import DESTRUCTION_CERTIFICATE_FORMAT, EVENT_LOG_FORMAT
from .checklist_countersign import countersign
from .checklist_verify import Limits, read_source, verify
from .signing import (
    ChecklistError,
    certificate_pem,
    fingerprint,
    generate_key,
    load_certificate,
    load_private_key,
    make_self_signed,
    normalise_fingerprint,
    private_key_pem,
)
from .transfer_package import Limits as PackageLimits
from .transfer_package import load_identities, new_identity, open_package

STATUS_TEXT = {
    "valid": "VALID: this file is the signed original, signed with the key you pinned.",
    "invalid": "INVALID: the checklist is not what was signed, or the file holds what a signed checklist never holds.",
    "not_signed": "NOT SIGNED: the checklist carries no signature.",
    "unknown_key": (
        "SIGNED BY AN UNKNOWN KEY (not trusted): the checklist is intact, but its signer's key is not the one "
        "you pinned, or you pinned none."
    ),
    "resaved": (
        "RE-SAVED, NOT THE ORIGINAL: the signed content is intact, but another program saved this file again: "
        "what it displays is not vouched for; ask for the original file."
    ),
    "unreadable": "UNREADABLE: the file cannot be read as a checklist.",
    "not_checklist": "NOT A CHECKLIST: the file is not a customer handover checklist.",
}
PACKAGE_TEXT = {
    "valid": "VALID: the package is intact and signed with the key you pinned.",
    "unknown_key": (
        "SIGNED BY AN UNKNOWN KEY (not trusted): the package is intact, but its signer's key is not the one you "
        "pinned, or you pinned none. Nothing was written."
    ),
    "invalid": "INVALID: the package is not what was signed, or not the checklist's. Nothing was written.",
    "unreadable": "UNREADABLE: the package cannot be decrypted or read. Nothing was written.",
}
ROLE_TEXT = {"transferring": "transferring party", "receiving": "receiving party (countersignature)"}


class UsageError(Exception):
    """A wrong option or an unreadable key or certificate file: exit 2."""


def verify_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="customer-handover-verify",
        description="Check that a customer handover checklist (.xlsx) is exactly what its signers signed.",
    )
    parser.add_argument("file", help="the signed checklist workbook")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--cert", metavar="CERT.pem", help="the transferring company's certificate")
    trust.add_argument("--fingerprint", metavar="SHA256", help="the SHA-256 fingerprint it gave you")
    parser.add_argument("--signature", metavar="FILE.sig.json", help="the detached signature file sent with it")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--max-size", type=int, default=Limits.max_bytes, help="largest file accepted, in bytes")
    args = parser.parse_args(argv)
    try:
        trusted = _trusted(args)
        detached = _read(args.signature, "detached signature") if args.signature else None
    except UsageError as error:
        return _fail(error, args.json)
    try:
        result = verify(args.file, trusted=trusted, detached=detached, limits=Limits(max_bytes=args.max_size))
    except OSError as error:
        return _fail(UsageError(f"cannot read the checklist {args.file}: {error.strerror}"), args.json)
    if args.json:
        _say(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _say(_describe(result, trusted is not None))
    return result.exit_code


def countersign_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="customer-handover-countersign",
        description="Add the receiving party's countersignature to a signed customer handover checklist.",
    )
    parser.add_argument("file", help="the checklist the transferring company signed")
    parser.add_argument("--key", required=True, metavar="KEY.pem", help="the receiving party's private key")
    parser.add_argument("--cert", required=True, metavar="CERT.pem", help="the receiving party's certificate")
    parser.add_argument("--name", required=True, help="who countersigns: the receiving party and its representative")
    parser.add_argument("--password-env", metavar="VARIABLE", help="environment variable holding the key's password")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--sender-cert", metavar="CERT.pem", help="the transferring company's certificate")
    trust.add_argument("--sender-fingerprint", metavar="SHA256", help="the transferring company's fingerprint")
    parser.add_argument("-o", "--output", help="where to write the countersigned checklist")
    args = parser.parse_args(argv)
    output = args.output or _suffixed(args.file, "-countersigned")
    try:
        if os.path.exists(output):
            raise UsageError(f"{output} exists already: choose another --output")
        password = os.environ.get(args.password_env) if args.password_env else None
        key = load_private_key(_read(args.key, "private key"), password)
        certificate = load_certificate(_read(args.cert, "certificate"))
        trusted = _trusted(argparse.Namespace(cert=args.sender_cert, fingerprint=args.sender_fingerprint))
        data = read_source(args.file)
        signed, result = countersign(data, key, certificate, args.name.strip() or "-", trusted=trusted)
    except (UsageError, ChecklistError, OSError) as error:
        return _fail(error, False)
    with open(output, "xb") as handle:
        handle.write(signed)
    manifest = result.manifest
    _say(f"Countersigned handover {manifest.get('handover')}, export {manifest.get('export')}: {output}")
    _say(f"Your fingerprint: {fingerprint(certificate)}")
    if trusted is None:
        _say(f"The sender's key was not checked; its fingerprint is {result.signers[0].fingerprint}.")
    return 0


def open_main(argv=None):
    defaults = PackageLimits()
    parser = argparse.ArgumentParser(
        prog="customer-handover-open",
        description="Decrypt and check a customer handover transfer package (.age); write its contents to a new "
        "folder only if every check passed.",
    )
    parser.add_argument("package", help="the transfer package (…-package-N.age)")
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--identity", metavar="FILE", help="your age identity file (customer-handover-keygen --age)")
    secret.add_argument("--passphrase-file", metavar="FILE", help="a file whose first line is the passphrase")
    parser.add_argument("--fingerprint", metavar="SHA256", help="the transferring company's key fingerprint")
    parser.add_argument("--checklist", metavar="FILE.xlsx", help="the signed checklist this package must deliver")
    parser.add_argument("--out", metavar="DIR", help="the folder to create (default: beside the package)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--max-size", type=int, default=defaults.max_bytes, help="largest package, in bytes")
    parser.add_argument("--max-members", type=int, default=defaults.max_members, help="most members")
    parser.add_argument("--max-ratio", type=int, default=defaults.max_ratio, help="largest expansion per member")
    parser.add_argument("--max-json-bytes", type=int, default=defaults.max_json_bytes,
                        help="largest JSON value (manifest, one customer), in bytes")
    parser.add_argument("--max-json-depth", type=int, default=defaults.max_json_depth, help="deepest JSON nesting")
    parser.add_argument("--max-number-length", type=int, default=defaults.max_number_chars,
                        help="longest JSON number, in characters")
    args = parser.parse_args(argv)
    limits = PackageLimits(
        max_bytes=args.max_size, max_members=args.max_members, max_ratio=args.max_ratio,
        max_json_bytes=args.max_json_bytes, max_json_depth=args.max_json_depth,
        max_number_chars=args.max_number_length,
    )
    try:
        identity = passphrase = None
        if args.identity:
            identity = load_identities(_read(args.identity, "identity file").decode("utf-8", "replace"))
        else:
            passphrase = _passphrase(_read(args.passphrase_file, "passphrase file"))
        pinned = normalise_fingerprint(args.fingerprint) if args.fingerprint else None
        if args.checklist and not os.path.isfile(args.checklist):
            raise UsageError(f"cannot read the checklist {args.checklist}")
        result = open_package(args.package, identity=identity, passphrase=passphrase, fingerprint=pinned,
                              checklist=args.checklist, out=args.out, limits=limits)
    except (UsageError, ChecklistError) as error:
        return _fail(error, args.json)
    except OSError as error:
        return _fail(UsageError(f"cannot read {error.filename or args.package}: {error.strerror}"), args.json)
    if args.json:
        _say(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _say(_describe_package(result))
    return result.exit_code


def keygen_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="customer-handover-keygen",
        description="Create a private key and a self-signed certificate for countersigning checklists, or (--age) "
        "an age identity for receiving transfer packages.",
    )
    parser.add_argument("--name", help="the holder named in the certificate")
    parser.add_argument("--key-out", metavar="KEY.pem")
    parser.add_argument("--cert-out", metavar="CERT.pem")
    parser.add_argument("--type", choices=("ec", "rsa"), default="ec")
    parser.add_argument("--days", type=int, default=1095, help="how long the certificate is valid")
    parser.add_argument("--age", metavar="IDENTITY.txt",
                        help="create an age identity file instead, and print its recipient (age1…)")
    args = parser.parse_args(argv)
    if args.age:
        return _age_keygen(args.age)
    if not (args.name and args.key_out and args.cert_out):
        return _fail(UsageError("give --name, --key-out and --cert-out, or --age"), False)
    try:
        if args.days <= 0:
            raise UsageError("--days must be positive")
        for path in (args.key_out, args.cert_out):
            if os.path.exists(path):
                raise UsageError(f"{path} exists already: it is not overwritten")
        key = generate_key(args.type)
        certificate = make_self_signed(key, args.name, days=args.days)
        descriptor = os.open(args.key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private_key_pem(key))
        with open(args.cert_out, "x", encoding="ascii") as handle:
            handle.write(certificate_pem(certificate))
    except (UsageError, ChecklistError, OSError) as error:
        return _fail(error, False)
    _say(f"Key: {args.key_out} (keep it private)\nCertificate: {args.cert_out}")
    _say(f"Fingerprint: {fingerprint(certificate)}")
    return 0


def _age_keygen(path):
    try:
        text, recipient = new_identity()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(text)
    except FileExistsError:
        return _fail(UsageError(f"{path} exists already: it is not overwritten"), False)
    except OSError as error:
        return _fail(UsageError(f"cannot write {path}: {error.strerror}"), False)
    _say(f"Identity: {path} (keep it private: it opens the packages sent to you)")
    _say(f"Recipient (give it to the transferring company): {recipient}")
    return 0


def _passphrase(data):
    """A passphrase file's first line; its line end (a newline, or a carriage return and newline) is not part of it."""
    try:
        line = data.decode("utf-8").split("\n", 1)[0]
    except UnicodeDecodeError as error:
        raise UsageError("the passphrase file is not UTF-8 text") from error
    line = line[:-1] if line.endswith("\r") else line
    if not line:
        raise UsageError("the passphrase file's first line is empty")
    return line


def _describe_package(result):
    lines = [PACKAGE_TEXT[result.status]]
    if result.handover:
        lines.append(
            f"Handover {result.handover}, package {result.package} delivering export {result.export}, "
            f"company {result.company}, created {result.created_at}."
        )
        lines.append(f"Checklist SHA-256: {result.checklist_sha256}")
        lines.append("Counts: " + ", ".join(f"{count} {key.replace('_', ' ')}" for key, count in result.counts.items()))
    if result.fingerprint:
        lines.append(f"Signer's fingerprint: {result.fingerprint}")
    lines.extend(f"- {problem.message}" for problem in result.problems)
    if result.out:
        lines.append(f"Written to {result.out}")
    return "\n".join(lines)


def _trusted(args):
    if args.cert:
        try:
            return {fingerprint(load_certificate(_read(args.cert, "certificate")))}
        except ChecklistError as error:
            raise UsageError(f"{args.cert}: {error}") from error
    if args.fingerprint:
        try:
            return {normalise_fingerprint(args.fingerprint)}
        except ChecklistError as error:
            raise UsageError(f"--fingerprint: {error}") from error
    return None


def _read(path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read(1024 * 1024)
    except OSError as error:
        raise UsageError(f"cannot read the {what} {path}: {error.strerror}") from error


def _suffixed(path, suffix):
    stem, extension = os.path.splitext(path)
    return f"{stem}{suffix}{extension or '.xlsx'}"


def _fail(error, as_json):
    if as_json:
        _say(json.dumps({"status": "error", "valid": False, "message": str(error)}, ensure_ascii=False))
    _say(f"error: {error}", sys.stderr)
    return 2


def _describe(result, checked_signer):
    lines = [STATUS_TEXT[result.status]]
    manifest = result.manifest
    if manifest.get("format") == EVENT_LOG_FORMAT:
        lines.append(
            f"Event log of {manifest.get('company', '?')}, entries 1 to {manifest.get('export', '?')}, "
            f"exported {manifest.get('exported_at', '?')}."
        )
    elif manifest.get("format") == DESTRUCTION_CERTIFICATE_FORMAT:
        lines.append(
            f"Destruction certificate of {manifest.get('company', '?')}, request {manifest.get('handover', '?')}, "
            f"run {manifest.get('export', '?')}, signed {manifest.get('exported_at', '?')}."
        )
    elif manifest:
        lines.append(
            f"Handover {manifest.get('handover', '?')}, export {manifest.get('export', '?')}, "
            f"company {manifest.get('company', '?')}, exported {manifest.get('exported_at', '?')}."
        )
    for signer in result.signers:
        state = "signature valid" if signer.valid else "SIGNATURE BROKEN"
        lines.append(
            f"Signature {signer.number}, {ROLE_TEXT.get(signer.role, signer.role)}: {signer.name} "
            f"({signer.subject}), signed {signer.signed_at}, {signer.algorithm}, {state}."
        )
        lines.append(f"  fingerprint {signer.fingerprint}")
    if result.signers and not checked_signer:
        lines.append(
            "The signer is NOT verified: compare the fingerprint of signature 1 with the one the transferring "
            "company gave you, or pass --cert or --fingerprint."
        )
    lines.extend(f"- {finding.message}" for finding in result.findings)
    return "\n".join(lines)


def _say(text, stream=None):
    """Write one line for the person at the console (a command's output is not a log)."""
    (stream or sys.stdout).write(f"{text}\n")


def _entry(main):
    def run():
        sys.exit(main())

    return run


verify_command = _entry(verify_main)
countersign_command = _entry(countersign_main)
keygen_command = _entry(keygen_main)
open_command = _entry(open_main)
