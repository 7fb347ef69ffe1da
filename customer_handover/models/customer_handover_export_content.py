import base64
import hashlib

from odoo import api, fields, models
from odoo.tools import SQL, format_date

from .customer_handover_export import BATCH, LINE_COLUMNS
from .customer_handover_line import ON_RECORD, PUBLIC_REASONS


class CustomerHandoverExport(models.Model):
    """What the signed checklist workbook says: its labels, its cover and its checklist rows.

    The workbook is one document in the transferring company's language, labels and values alike, whoever exports
    it; with the company's bilingual setting its labels also say it in English.
    """

    _inherit = "customer.handover.export"

    @api.model
    def _in_document_language(self, company):
        """This model in ``company``'s language, the language of the checklist it signs."""
        return self.with_env(company._handover_lang_env())

    @api.model
    def _bilingual(self, company):
        """Whether ``company``'s documents label their contents in English too (its own language is not English)."""
        return bool(company.handover_bilingual_headers) and self.env.lang != "en_US"

    @api.model
    def _document_labels(self, company):
        """``_checklist_labels`` of ``company``'s checklist: in this environment's language, and English if set."""
        labels = self._checklist_labels()
        if not self._bilingual(company):
            return labels
        english = self.with_context(lang="en_US")._checklist_labels()
        # Sheet names stay in one language: a sheet name holds 31 characters and no "/".
        return {key: value if key == "sheet_names" else bilingual(value, english[key]) for key, value in labels.items()}

    @api.model
    def _document_cover(self, company, *args):
        """``_checklist_cover(*args)``, its item labels also in English when ``company`` says so."""
        rows = self._checklist_cover(*args)
        if not self._bilingual(company):
            return rows
        english = self.with_context(lang="en_US")._checklist_cover(*args)
        return [[bilingual(label, english_label), value]
                for (label, value), (english_label, _value) in zip(rows, english, strict=True)]

    @api.model
    def _document_header(self, company, number_label):
        """The checklist sheet's header row: the row number's title, then each column's field label."""
        line_fields = self.env["customer.handover.line"]._fields
        header = [line_fields[name]._description_string(self.env) for name, _width in LINE_COLUMNS]
        if self._bilingual(company):
            english = self.env(context=dict(self.env.context, lang="en_US"))
            header = [bilingual(label, line_fields[name]._description_string(english))
                      for label, (name, _width) in zip(header, LINE_COLUMNS, strict=True)]
        return [number_label, *header]

    @api.model
    def _checklist_labels(self):
        """The workbook's texts in the user's language: sheet names, column titles and the signatures' labels."""
        return {
            "sheet_names": [self.env._("Cover"), self.env._("Checklist"), self.env._("Signatures")],
            "title": self.env._("Customer handover checklist"),
            "cover_header": [self.env._("Item"), self.env._("Value")],
            "header": [self.env._("Key"), self.env._("Item"), self.env._("Value")],
            "number": self.env._("No."),
            "format": self.env._("Format"),
            "canonical_version": self.env._("Canonical form version"),
            "handover": self.env._("Handover"),
            "export": self.env._("Export number"),
            "company": self.env._("Transferring company"),
            "exported_at": self.env._("Exported at (UTC)"),
            "sheets": self.env._("Sheets"),
            "cover.rows": self.env._("Cover rows"),
            "cover.columns": self.env._("Cover columns"),
            "cover.digest": self.env._("Cover digest (SHA-256)"),
            "checklist.rows": self.env._("Checklist rows"),
            "checklist.columns": self.env._("Checklist columns"),
            "checklist.digest": self.env._("Checklist digest (SHA-256)"),
            "role": self.env._("Signing party"),
            "name": self.env._("Signed by"),
            "signed_at": self.env._("Signed at (UTC)"),
            "algorithm": self.env._("Algorithm"),
            "fingerprint": self.env._("Certificate fingerprint (SHA-256)"),
            "certificate": self.env._("Certificate"),
            "value": self.env._("Signature"),
        }

    @api.model
    def _checklist_cover(self, handover, number, line_count, now):
        """The cover sheet's (item, value) rows of ``handover``'s export ``number``."""
        handover.ensure_one()
        selection = _selection_labels(handover, "reason", "state", "abroad_legal_basis")
        abroad = self.env._("No")
        if handover.receiver_abroad:
            basis = selection["abroad_legal_basis"].get(handover.abroad_legal_basis)
            abroad = " · ".join(filter(None, [self.env._("Yes"), handover.receiver_country_id.name, basis]))
        return [
            [self.env._("Handover"), handover.name],
            [self.env._("Export number"), str(number)],
            [self.env._("Transferring company"),
             " · ".join(filter(None, [handover.company_id.name, handover.company_id.vat]))],
            [self.env._("Receiving party"), handover.receiver_contact],
            [self.env._("Responsible (transferring)"), handover.user_id.name],
            [self.env._("Responsible (receiving)"), handover.receiver_responsible_id.name],
            [self.env._("Reason"),
             " · ".join(filter(None, [selection["reason"].get(handover.reason), handover.reason_note]))],
            [self.env._("Status"), selection["state"].get(handover.state)],
            [self.env._("Planned date"), format_date(self.env, handover.date_planned)],
            [self.env._("Completed on"), format_date(self.env, handover.date_done)],
            [self.env._("Receiver outside mainland China"), abroad],
            [self.env._("Confidentiality agreement"), handover.nda_reference],
            [self.env._("Agreement signed on"), format_date(self.env, handover.nda_date)],
            [self.env._("Agreement term (months)"), str(handover.nda_term_months or "")],
            [self.env._("Receiver's purposes"), ", ".join(handover.purpose_ids.mapped("name"))],
            [self.env._("Checklist lines"), str(line_count)],
            [self.env._("Verified"), str(handover.verified_count)],
            [self.env._("Pending"), str(handover.pending_count)],
            [self.env._("Excluded"), str(handover.excluded_count)],
            *self._checklist_cover_signatures(handover),
            *self._checklist_cover_notices(handover),
            [self.env._("Exported on"), self._local_time(now)],
            [self.env._("Exported by"), self.env.user.name],
        ]

    @api.model
    def _checklist_cover_notices(self, handover):
        """The cover's row counting the customer notices by status, once the customers are being told."""
        counts = self.env["customer.handover.notice"]._counts(handover).get(handover.id)
        if not counts:
            return []
        labels = dict(self.env["customer.handover.notice"]._fields["state"]._description_selection(self.env))
        return [[self.env._("Customer notices"),
                 " · ".join(f"{label}: {counts[state]}" for state, label in labels.items() if counts.get(state))]]

    @api.model
    def _checklist_cover_signatures(self, handover):
        """The cover's rows on each party's signature: who, when, how it was given, and the drawn image's digest.

        On the cover, they are part of what the company's key signs.
        """
        labels = {
            "transfer": (self.env._("Transferring representative"), self.env._("How the transferring party signed"),
                         self.env._("Transferring signature image (SHA-256)")),
            "receiver": (self.env._("Receiving representative"), self.env._("How the receiving party signed"),
                         self.env._("Receiving signature image (SHA-256)")),
        }
        rows = []
        for side, (signer_label, how_label, image_label) in labels.items():
            signer, image = handover[f"{side}_signer"], handover[f"{side}_signature"]
            rows += [
                [signer_label, f"{signer} · {self._local_time(handover[f'{side}_signed_on'])}" if signer else ""],
                [how_label, handover.with_env(self.env)._sign_note(side)],
                [image_label, hashlib.sha256(base64.b64decode(image)).hexdigest() if image else ""],
            ]
        return rows

    @api.model
    def _checklist_export_rows(self, handover):
        """Yield the checklist sheet's rows of ``handover``, reading the lines in batches so memory stays flat."""
        handover.ensure_one()
        lines = self.env["customer.handover.line"]
        labels = _selection_labels(lines, "line_type", "eligibility", "state")
        reasons = {code: self.env._(label) for code, label in PUBLIC_REASONS}
        yes = self.env._("Yes")
        excluded = self.env._("Excluded")
        names = [name for name, _width in LINE_COLUMNS]
        # The columns are plain stored fields, read as stored: one query a batch, no record in the ORM's cache
        # for each line (a third of the export's time). The lines are those the user's own search returned.
        lines.check_access("read")
        lines.check_field_access_rights("read", names)  # a column restricted to a group one day stays restricted
        lines.flush_model(names)
        columns = SQL(", ").join(SQL.identifier(name) for name in names)
        number = 0
        for batch_ids in lines._id_batches([("handover_id", "=", handover.id), ON_RECORD], BATCH):
            stored = {row[0]: dict(zip(names, row[1:], strict=True)) for row in self.env.execute_query(SQL(
                "SELECT id, %s FROM customer_handover_line WHERE id = ANY(%s)", columns, batch_ids))}
            users = {user.id: user.name for user in self.env["res.users"].browse(
                {line["verified_by_id"] for line in stored.values() if line["verified_by_id"]})}
            for line_id in batch_ids:
                line = stored[line_id]
                number += 1
                values = {name: line[name] or "" for name in names if name not in labels}
                values.update({name: labels[name].get(line[name], "") for name in labels})
                values["public_reasons"] = ", ".join(
                    reasons.get(code, code) for code in (line["public_reasons"] or "").split(",") if code
                )
                values["verified_by_id"] = users.get(line["verified_by_id"], "")
                values["verified_on"] = self._local_time(line["verified_on"])
                values["excluded"] = yes if line["excluded"] else ""
                if line["excluded"]:
                    # An excluded line is not checked: its verification would read "Pending" forever.
                    values["state"] = excluded
                yield [str(number), *(values[name] for name in names)]

    @api.model
    def _local_time(self, moment):
        """A UTC datetime as the user's local time, with its offset: a signed document states its time zone."""
        if not moment:
            return ""
        return fields.Datetime.context_timestamp(self, moment).strftime("%Y-%m-%d %H:%M:%S %z")


def bilingual(local, english):
    """``local`` followed by its English, for a label or a list of labels; once when they are the same."""
    if isinstance(local, list | tuple):
        return [bilingual(one, other) for one, other in zip(local, english, strict=True)]
    return local if local == english else f"{local} / {english}"


def _selection_labels(records, *names):
    """Each selection field's labels by value, in the user's language."""
    return {name: dict(records._fields[name]._description_selection(records.env)) for name in names}
