"""Checking a checklist's signed content: the signatures, the trust in the first signer, every row's digest."""

import hashlib
import json

from openpyxl.utils import get_column_letter

from .. import checklist_package as pkg
from ..canonical import canonical_json
from ..checklist import (
    CANONICAL_VERSION,
    CHECKLIST,
    COVER,
    DETACHED_FORMAT,
    FORMATS,
    MANIFEST_KEYS,
    ROLES,
    SIGNER_KEYS,
    cell_tags,
    parse_digest_cell,
    row_digest,
)
from ..signing import ChecklistError, check_signature, common_name, fingerprint, load_certificate
from .layout import Layout
from .results import (
    MAX_REPORTED,
    MAX_REWRITTEN,
    NOTE_FINDINGS,
    TRUST_FINDINGS,
    Finding,
    Result,
    Signer,
    UnreadableChecklist,
)
from .sheet import Irregular, Sheet

MAX_SIGNATURES = len(ROLES)


class Verifier:
    def __init__(self, package, trusted, detached):
        self.package = package
        self.trusted = trusted
        self.detached = detached
        self.findings = []
        # Kept apart, so that notes never take the place of a finding that decides the answer.
        self.notes = []
        self.moved_sheets = set()

    def report(self, code, **params):
        finding = Finding(code, params)
        found = self.notes if code in NOTE_FINDINGS else self.findings
        if len(found) < MAX_REPORTED and finding not in found:
            found.append(finding)

    def run(self):
        package = self.package
        package.check()
        sheets = [Sheet(package, name, state, part) for name, state, part in package.sheets]
        signature_sheet = next((sheet for sheet in sheets if self._is_signature_sheet(sheet)), None)
        if signature_sheet is None:
            raise UnreadableChecklist("not_checklist")
        rows = self._read_signature_rows(signature_sheet)
        values = {row[0]: row[2] for row in rows}
        version = values.get("canonical_version", "")
        if version != str(CANONICAL_VERSION):
            raise UnreadableChecklist("unsupported_version", version=version, known=CANONICAL_VERSION)
        if self.detached is not None:
            rows = self._apply_detached(rows)
            values = {row[0]: row[2] for row in rows}
        manifest = {key: values[key] for key in MANIFEST_KEYS if key in values}
        for key in MANIFEST_KEYS:
            if key not in values:
                self.report("manifest_missing", key=key)
        result = Result("invalid", manifest=manifest, signature_sheet=signature_sheet.title, signature_rows=rows)
        self._check_signature_rows(rows)
        result.signers = self._check_signatures(signature_sheet.title, rows)
        if not result.signers:
            package.drain()
            result.status = "not_signed"
            result.findings = [Finding("not_signed"), *self.findings]
            return result
        if len(manifest) == len(MANIFEST_KEYS):
            self._check_sheets(sheets, manifest)
            self._check_defined_names(manifest)
        package.drain()
        result.trusted = self._check_trust(result.signers)
        result.status = self._status(result)
        findings = [*self.findings, *package.refusals]
        if result.status == "invalid":
            findings = [finding for finding in findings if finding.code != "not_pinned"]
        elif result.status == "resaved":
            findings += [Finding("rewritten", {"part": part, "item": item}) for part, item in package.rewritten]
        result.findings = findings[:MAX_REPORTED + MAX_REWRITTEN] + self.notes
        return result

    def _status(self, result):
        codes = {finding.code for finding in self.findings}
        if codes - TRUST_FINDINGS or self.package.refusals or not all(s.valid for s in result.signers):
            return "invalid"
        if not self.package.canonical:
            return "resaved"
        return "valid" if result.trusted else "unknown_key"

    @staticmethod
    def _is_signature_sheet(sheet):
        for number, _attributes, cells in sheet.iter_rows(layout=False):
            if number >= 2:
                values = {column: value for column, _kind, value, _style, _plain in cells}
                return number == 2 and values.get(0) == "format" and values.get(2) in FORMATS
        return False

    def _read(self, sheet, consume):
        """``consume(rows)`` over the sheet's rows: the writer's bytes are read fast, anything else as any XML."""
        if sheet.part in pkg.SHEET_PARTS and self.package.style_roles:
            try:
                return consume(sheet.iter_canonical_rows())
            except Irregular:
                self.package.rewrite(sheet.part, "the table")
        return consume(sheet.iter_rows())

    def _read_signature_rows(self, sheet):
        def consume(stored):
            rows = []
            layout = Layout(self, sheet, "signatures", 3)
            for number, attributes, cells in stored:
                values = self._texts(sheet.title, number, cells, 3)
                layout.row(number, attributes, cells, values)
                if any(values):
                    rows.append(values)
                if len(rows) > 200:
                    break
            layout.close()
            return rows

        return self._read(sheet, consume)

    def _check_signature_rows(self, rows):
        """The signatures sheet holds its header, the manifest and at most one signature per party, nothing else."""
        expected = list(MANIFEST_KEYS)
        for number in range(1, MAX_SIGNATURES + 1):
            expected += [f"signature.{number}.{key}" for key in (*SIGNER_KEYS, "value")]
        for index, row in enumerate(rows[1:], start=2):
            in_place = index - 2 < len(expected) and row[0] == expected[index - 2]
            if not in_place and (row[0] not in expected or row[0].startswith("signature.")):
                self.report("signature_extra", row=index, key=row[0])
                return

    def _apply_detached(self, rows):
        try:
            document = json.loads(self.detached.decode("utf-8"))
            signed = [[str(cell) for cell in row] for row in document["rows"]]
            if document.get("format") != DETACHED_FORMAT or any(len(row) != 3 for row in signed):
                raise ValueError(document.get("format"))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
            raise UnreadableChecklist("corrupt", detail="the detached signature file is not one") from error
        if rows[: len(signed)] != signed:
            self.report("detached_mismatch")
            return signed
        return rows

    def _check_signatures(self, sheet_name, rows):
        signers = []
        last_value = -1
        for index, row in enumerate(rows):
            key = row[0]
            if not (key.startswith("signature.") and key.endswith(".value")):
                continue
            last_value = index
            number = key.split(".")[1]
            prefix = f"signature.{number}."
            block = {row[0][len(prefix):]: row[2] for row in rows[:index] if row[0].startswith(prefix)}
            signer = Signer(
                number=int(number) if number.isdigit() else 0,
                **{name: block.get(name, "") for name in SIGNER_KEYS if name != "certificate"},
                certificate=block.get("certificate", ""),
                signature=row[2],
            )
            try:
                certificate = load_certificate(signer.certificate)
            except ChecklistError:
                certificate = None
            if certificate is not None:
                signer.subject = common_name(certificate)
                if fingerprint(certificate) != signer.fingerprint:
                    self.report("certificate_mismatch", number=signer.number)
                else:
                    signer.valid = check_signature(canonical_json(rows[:index]), row[2], certificate, signer.algorithm)
            if not signer.valid:
                self.report("signature_invalid", number=signer.number, name=signer.name)
            signers.append(signer)
        if signers and last_value < len(rows) - 1:
            self.report("unsigned_rows", sheet=sheet_name, row=last_value + 2)
        return signers

    def _check_trust(self, signers):
        """True when the first signer's key is one of the pinned ones; without pins it is never trusted."""
        first = signers[0]
        if self.trusted is None:
            self.report("not_pinned", number=first.number, fingerprint=first.fingerprint)
            return False
        first.trusted = first.fingerprint in set(self.trusted)
        if not first.trusted:
            self.report("untrusted", number=first.number, fingerprint=first.fingerprint)
        return first.trusted

    def _check_sheets(self, sheets, manifest):
        try:
            names = json.loads(manifest["sheets"])
        except ValueError:
            names = []
        present = [sheet.title for sheet in sheets]
        for sheet in sheets:
            if sheet.title not in names:
                self.report("sheet_extra", sheet=sheet.title)
            elif sheet.state != "visible":
                self.report("sheet_hidden", sheet=sheet.title)
        for position, name in enumerate(names, start=1):
            if name not in present:
                self.report("sheet_missing", sheet=name)
            elif present.index(name) != position - 1 and len(present) == len(names):
                self.report("sheet_renamed", position=position, sheet=present[position - 1], expected=name)
        by_name = {sheet.title: sheet for sheet in sheets}
        for key, name in zip((COVER, CHECKLIST), names[:2], strict=False):
            if name in by_name:
                self._check_table(by_name[name], key, manifest)

    def _check_defined_names(self, manifest):
        """The writer names the checklist's filter range, each sheet's print titles and, since its second
        layout, the print areas of the cover and the checklist (every value, no digest); nothing else."""
        try:
            names = json.loads(manifest["sheets"])
            rows, columns = int(manifest["checklist.rows"]), int(manifest["checklist.columns"])
            cover_rows, cover_columns = int(manifest["cover.rows"]), int(manifest["cover.columns"])
        except (ValueError, TypeError):
            return
        last = get_column_letter(columns + 1)
        expected = {("_xlnm._FilterDatabase", "1", "1", names[1], f"$A$1:${last}${rows}")} if len(names) == 3 else set()
        expected |= {("_xlnm.Print_Titles", str(index), None, name, "$1:$1") for index, name in enumerate(names)}
        print_areas = {
            ("_xlnm.Print_Area", "0", None, names[0], f"$A$1:${get_column_letter(cover_columns)}${cover_rows}"),
            ("_xlnm.Print_Area", "1", None, names[1], f"$A$1:${get_column_letter(columns)}${rows}"),
        } if len(names) == 3 else set()
        found = {(name, sheet, hidden, *pkg.parse_defined_range(text))
                 for name, sheet, hidden, text in self.package.defined_names}
        if found not in (expected, expected | print_areas):
            self.package.rewrite("xl/workbook.xml", "the defined names")

    def _check_table(self, sheet, key, manifest):
        """Recompute every row's digest, name what changed, and compare the sheet with its signed digest."""
        columns = int(manifest[f"{key}.columns"])
        signed_rows = int(manifest[f"{key}.rows"])

        def consume(stored):
            layout = Layout(self, sheet, key, columns, rows=signed_rows)
            sheet_hash = hashlib.sha256()
            rows = 0
            located = False
            for number, attributes, cells in stored:
                texts = self._texts(sheet.title, number, cells, columns + 1)
                layout.row(number, attributes, cells, texts[:-1])
                if not any(texts):
                    continue
                # Empty rows inside the table count as rows: someone emptied or inserted them.
                while rows < min(number - 1, signed_rows + 1):
                    rows += 1
                    located |= self._check_row(sheet.title, key, rows, [""] * (columns + 1), sheet_hash)
                rows += 1
                located |= self._check_row(sheet.title, key, rows, texts, sheet_hash)
            layout.close()
            if rows != signed_rows:
                self.report("rows_count", sheet=sheet.title, signed=signed_rows, found=rows)
            elif sheet_hash.hexdigest() != manifest[f"{key}.digest"] and not located:
                self.report("digests_rewritten", sheet=sheet.title)

        self._read(sheet, consume)

    def _check_row(self, title, key, number, texts, sheet_hash):
        """Add one row to its sheet's digest; report it and return True when it differs from its digest cell."""
        values, stored = texts[:-1], texts[-1]
        digest = row_digest(key, number, values)
        sheet_hash.update(digest)
        stored_digest, tags = parse_digest_cell(stored)
        if stored_digest == digest and tags == cell_tags(values):
            return False
        digest_coordinate = f"{get_column_letter(len(texts))}{number}"
        if stored_digest is None or len(tags) != 2 * len(values):
            if stored:
                self.report("digest_changed", sheet=title, row=number, cell=digest_coordinate)
            else:
                self._report_moved(title, number)
            return True
        changed = [index for index, tag in enumerate(_pairs(cell_tags(values))) if tag != tags[2 * index:2 * index + 2]]
        if stored_digest == digest:
            self.report("digest_changed", sheet=title, row=number, cell=digest_coordinate)
        elif changed:
            for index in changed:
                self.report("cell_changed", sheet=title, row=number, cell=f"{get_column_letter(index + 1)}{number}")
        else:
            self._report_moved(title, number)
        return True

    def _report_moved(self, title, number):
        """Rows shifted by one insertion or removal all look moved: name only the first of them."""
        if title not in self.moved_sheets:
            self.moved_sheets.add(title)
            self.report("row_moved", sheet=title, row=number)

    def _texts(self, title, number, cells, width):
        """The row's cells as text, reporting formulas, non-text values and values beyond ``width``."""
        texts = [""] * width
        for column, kind, value, _style, _plain in cells:
            if kind is None:  # a cell without content, as a value deleted in Excel leaves it: its text is empty
                continue
            coordinate = f"{get_column_letter(column + 1)}{number}" if column < 16384 else f"column {column + 1}"
            if kind == "formula":
                self.report("formula", sheet=title, cell=coordinate)
            elif kind != "text":
                self.report("not_text", sheet=title, cell=coordinate)
            if column >= width:
                self.report("unexpected_cell", sheet=title, cell=coordinate)
                continue
            texts[column] = "" if value is None else value
        return texts


def _pairs(tags):
    return [tags[index:index + 2] for index in range(0, len(tags), 2)]
