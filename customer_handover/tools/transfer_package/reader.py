"""Reading a decrypted package: its zip one way only, the manifest, the signature, every member's digest, data.json."""

import hashlib
import json
import os
import shutil
import zipfile

from ..canonical import canonical_json
from ..signing import ChecklistError, check_signature, fingerprint, load_certificate
from ..strict_zip import ZipProblem, check_names, check_weight, iter_content, read_entries, stated_count, unsafe_name
from .format import (
    COUNT_KEYS,
    CUSTOMER_KEYS,
    DATA,
    DATA_HEAD,
    DATA_ITEMS,
    DATA_MIDDLE,
    DATA_TAIL_START,
    EVIDENCE,
    FORMAT,
    ITEM_KEYS,
    MANIFEST,
    MANIFEST_KEYS,
    READABLE_VERSIONS,
    SIGNATURE,
    SIGNATURE_FORMAT,
    SIGNATURE_KEYS,
    VERSION,
    data_tail,
    is_member_name,
)
from .json_limits import parse_json
from .problems import TRUST, OpenResult, Problem, Refused

# What the strict zip reader finds wrong with a member's name, as the opener names it.
_NAME_PROBLEMS = {
    "zip_absolute": "member_absolute", "zip_traversal": "member_traversal", "zip_link": "member_link",
    "zip_duplicate": "member_duplicate", "zip_name": "member_name",
}


class Reader:
    """The decrypted zip: its members checked one way only, then their digests, JSON and signature."""

    def __init__(self, stream, limits):
        self.stream = stream
        self.limits = limits
        self.size = stream.seek(0, os.SEEK_END)
        self.entries = {}
        self._check_zip()

    def _check_zip(self):
        try:
            count = stated_count(self.stream, self.size)
        except ZipProblem as problem:
            raise Refused("not_zip") from problem
        if count > self.limits.max_members:
            raise Refused("too_many_members", count=count, limit=self.limits.max_members)
        try:
            infos = zipfile.ZipFile(self.stream).infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
            raise Refused("not_zip") from error
        if len(infos) > self.limits.max_members:
            raise Refused("too_many_members", count=len(infos), limit=self.limits.max_members)
        try:
            check_names(infos, unsafe_name, is_member_name)
        except ZipProblem as problem:
            raise Refused(_NAME_PROBLEMS[problem.code], problem.params["entry"]) from problem
        try:
            entries, _unusual = read_entries(self.stream, self.size)
        except ZipProblem as problem:
            if problem.code == "not_zip":
                raise Refused("not_zip") from problem
            detail = ", ".join(f"{key} {value}" for key, value in problem.params.items())
            raise Refused("zip_structure", problem.params.get("entry", ""),
                           detail=f"{problem.code}: {detail}") from problem
        try:
            check_weight(entries, self.limits)
        except ZipProblem as problem:
            raise Refused("zip_bomb", problem.params["entry"]) from problem
        self.entries = {entry.name: entry for entry in entries}

    def _chunks(self, name):
        try:
            yield from iter_content(self.stream, self.entries[name])
        except ZipProblem as problem:
            raise Refused("zip_structure", name, detail=problem.code) from problem

    def _json(self, name):
        if name not in self.entries:
            raise Refused("not_package", name, detail=f"it has no {name}")
        if self.entries[name].info.file_size > self.limits.max_json_bytes:
            raise Refused("json_too_large", name, limit=self.limits.max_json_bytes)
        data = b"".join(self._chunks(name))
        value = parse_json(data, name, self.limits)
        if not isinstance(value, dict):
            raise Refused("not_package", name, detail=f"{name} is not a JSON object")
        return data, value

    def check(self, pinned, digests=True):
        """What is wrong with the package: its manifest and signature, then (``digests``) every member's digest and
        data.json's layout and counts. Without ``digests`` only the manifest is read: a peek, not a check."""
        manifest_bytes, manifest = self._json(MANIFEST)
        if manifest.get("format") != FORMAT:
            raise Refused("not_package", MANIFEST, detail="its manifest names another format")
        version = manifest.get("version")
        if type(version) is int and version > VERSION:
            raise Refused("newer_version", MANIFEST, version=version, known=VERSION)
        if version not in READABLE_VERSIONS or type(version) is not int:
            raise Refused("not_package", MANIFEST, detail=f"its version is {version!r}")
        result = OpenResult("valid", version=version)
        problems = result.problems
        self._check_signature(manifest_bytes, pinned, result)
        try:
            _manifest_shape(manifest)
        except Refused as refused:
            if not {problem.code for problem in problems} - TRUST:
                # Its signature vouches for this manifest: its signer wrote it so, and it is no package of this version.
                raise
            problems.insert(0, Problem("manifest_changed", MANIFEST, {"detail": refused.problem.params["detail"]}))
            return result
        result.package, result.handover, result.company = manifest["package"], manifest["handover"], manifest["company"]
        result.export, result.created_at = manifest["export"], manifest["created_at"]
        result.checklist_sha256, result.counts = manifest["checklist_sha256"], manifest["counts"]
        if canonical_json(manifest) != manifest_bytes:
            problems.insert(0, Problem("not_canonical", MANIFEST))
        if not digests:
            return result
        listed = {member["path"]: member for member in manifest["members"]}
        present = set(self.entries) - {MANIFEST, SIGNATURE}
        problems.extend(Problem("member_missing", name) for name in sorted(set(listed) - present))
        problems.extend(Problem("member_added", name) for name in sorted(present - set(listed)))
        found_counts = None
        for name in sorted(present & set(listed)):
            digest, size = hashlib.sha256(), 0
            chunks = self._chunks(name)
            if name == DATA:
                scanner = _DataScanner(self.limits, listed, data_tail(version))
                chunks = scanner.feed(chunks)
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
            if (size, digest.hexdigest()) != (listed[name]["size"], listed[name]["sha256"]):
                problems.append(Problem("member_changed", name, {"detail": "its SHA-256 or size differs"}))
            elif name == DATA and scanner.problem:
                problems.append(scanner.problem)
            elif name == DATA:
                found_counts = scanner.counts
        if found_counts is not None:
            found_counts["evidence_files"] = sum(1 for name in listed if name.startswith(EVIDENCE))
            for key in COUNT_KEYS:
                if found_counts[key] != manifest["counts"][key]:
                    problems.append(Problem("counts_mismatch", DATA, {
                        "signed": manifest["counts"][key], "count": key.replace("_", " "),
                        "found": found_counts[key],
                    }))
            problems.extend(Problem("evidence_missing", DATA, {"path": path}) for path in scanner.missing)
        return result

    def _check_signature(self, manifest_bytes, pinned, result):
        """Add to ``result`` what is wrong with the signature of the manifest: a package that decrypted and names
        this format was signed, so a signature removed or unreadable is tampering, never an unreadable file."""
        if SIGNATURE not in self.entries:
            result.problems.append(Problem("signature_missing", SIGNATURE))
            return
        try:
            _data, signature = self._json(SIGNATURE)
        except Refused as refused:
            result.problems.append(Problem("signature_broken", SIGNATURE, {"detail": refused.problem.message}))
            return
        version = signature.get("version")
        if set(signature) != set(SIGNATURE_KEYS) or signature["format"] != SIGNATURE_FORMAT or type(version) is not int:
            detail = f"its keys are {sorted(signature)}, its format {signature.get('format')!r}, version {version!r}"
            result.problems.append(Problem("signature_broken", SIGNATURE, {"detail": detail}))
            return
        if version > VERSION:
            raise Refused("newer_version", SIGNATURE, version=version, known=VERSION)
        try:
            certificate = load_certificate(str(signature["certificate"]))
        except ChecklistError as error:
            result.problems.append(Problem("signature_broken", SIGNATURE, {"detail": str(error)}))
            return
        result.fingerprint = fingerprint(certificate)
        if signature["fingerprint"] != result.fingerprint:
            result.problems.append(Problem("certificate_mismatch", SIGNATURE))
        elif not check_signature(manifest_bytes, str(signature["signature"]), certificate, signature["algorithm"]):
            result.problems.append(Problem("signature_invalid", MANIFEST))
        elif not pinned:
            result.problems.append(Problem("not_pinned", SIGNATURE, {"fingerprint": result.fingerprint}))
        elif result.fingerprint not in pinned:
            result.problems.append(Problem("untrusted", SIGNATURE, {"fingerprint": result.fingerprint}))
        else:
            result.trusted = True

    def extract(self, out):
        """Write every member into the new folder ``out``; on any failure, remove what was written."""
        os.mkdir(out, 0o700)
        try:
            for name in self.entries:
                target = os.path.join(out, *name.split("/"))
                os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    for chunk in self._chunks(name):
                        handle.write(chunk)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise


def _manifest_shape(manifest):
    """The manifest's keys and their types: anything else is not a package of this version."""
    def fail(detail):
        raise Refused("not_package", MANIFEST, detail=detail)

    if set(manifest) != set(MANIFEST_KEYS):
        fail(f"its manifest has the keys {sorted(manifest)}")
    for key in ("package", "export"):
        if not isinstance(manifest[key], int):
            fail(f"its {key} is not a number")
    for key in ("handover", "company", "created_at", "checklist_sha256"):
        if not isinstance(manifest[key], str):
            fail(f"its {key} is not text")
    counts = manifest["counts"]
    if not isinstance(counts, dict) or set(counts) != set(COUNT_KEYS) or not all(
            isinstance(value, int) for value in counts.values()):
        fail("its counts are not the package's counts")
    members = manifest["members"]
    if not isinstance(members, list) or not all(
            isinstance(member, dict) and set(member) == {"path", "size", "sha256"}
            and isinstance(member["path"], str) and isinstance(member["size"], int)
            and isinstance(member["sha256"], str) for member in members):
        fail("its members are not a list of path, size and SHA-256")
    if len({member["path"] for member in members}) != len(members):
        fail("its members list a path twice")


class _DataScanner:
    """Reads data.json line by line as it streams: its fixed layout, each line's JSON, the counts."""

    def __init__(self, limits, listed, tail):
        self.limits = limits
        self.listed = listed
        self.tail = tail
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.missing = []
        self.problem = None
        self._state = "head"

    def feed(self, chunks):
        """Pass ``chunks`` through, parsing the lines they hold; the first problem stops the parsing only."""
        pending = b""
        for chunk in chunks:
            yield chunk
            if self.problem:
                continue
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            try:
                if len(pending) > self.limits.max_json_bytes:
                    raise Refused("json_too_large", DATA, limit=self.limits.max_json_bytes)
                for line in lines:
                    self._line(line + b"\n")
            except Refused as refused:
                self.problem = refused.problem
        if not self.problem and (pending or self._state != "end"):
            self.problem = Problem("json_invalid", DATA, {"detail": "it ends before its layout does"})

    def _line(self, line):
        """One line of data.json; ``_state`` is ``head``, then ``<array>:<empty|more|last>``, then ``end``."""
        kind, _sep, position = self._state.partition(":")
        if self._state == "head" and line == DATA_HEAD:
            self._state = "customers:empty"
        elif kind == "customers" and position != "more" and line.startswith(DATA_MIDDLE) and line.endswith(DATA_ITEMS):
            cover = parse_json(line[len(DATA_MIDDLE):-len(DATA_ITEMS)], DATA, self.limits)
            if not isinstance(cover, dict):
                raise Refused("json_invalid", DATA, detail="its handover cover is not a JSON object")
            self._state = "items:empty"
        elif kind == "items" and position != "more" and line == self.tail:
            self._state = "end"
        elif kind in ("customers", "items") and position != "last":
            self._record(line, kind)
        else:
            raise Refused("json_invalid", DATA, detail=f"a line out of place in {kind or 'its end'}")

    def _record(self, line, kind):
        body = line[:-1]
        more = body.endswith(b",")
        record = parse_json(body[:-1] if more else body, DATA, self.limits)
        keys = CUSTOMER_KEYS if kind == "customers" else ITEM_KEYS
        if not isinstance(record, dict) or set(record) != set(keys):
            raise Refused("json_invalid", DATA, detail=f"a line of {kind} does not have the keys {', '.join(keys)}")
        self.counts[kind] += 1
        if kind == "customers":
            children, consents = record["children"], record["consents"]
            if not isinstance(children, list) or not isinstance(consents, list):
                raise Refused("json_invalid", DATA, detail="a customer's children or consents are not lists")
            self.counts["child_contacts"] += len(children)
            self.counts["consents"] += len(consents)
            for consent in consents:
                for path in (consent.get("evidence") or ()) if isinstance(consent, dict) else ():
                    if path not in self.listed and len(self.missing) < 20:
                        self.missing.append(path)
        self._state = f"{kind}:more" if more else f"{kind}:last"


def iter_data(path, kinds=None):
    """``(kind, record)`` of an opened package's data.json, one line at a time: ``customer``, ``cover``, ``item``.

    ``kinds``: only the records of these kinds; the others are not parsed (the items follow a million customers,
    whose parsing would cost a reader of the items alone half a minute). Only for a data.json that the opener
    checked: its layout is then the one documented.
    """
    kind = "customer"
    with open(path, "rb") as handle:
        for line in handle:
            if line == DATA_HEAD or line.startswith(DATA_TAIL_START):
                continue
            if line.startswith(DATA_MIDDLE):
                if kinds is None or "cover" in kinds:
                    yield "cover", json.loads(line[len(DATA_MIDDLE):-len(DATA_ITEMS)])
                kind = "item"
                continue
            if kinds is not None and kind not in kinds:
                continue
            body = line.rstrip(b"\n")
            yield kind, json.loads(body[:-1] if body.endswith(b",") else body)
