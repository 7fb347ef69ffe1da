import hashlib
import hmac
import tempfile
from datetime import datetime, timezone

from odoo import models
from odoo.exceptions import AccessError, UserError

from ..tools import checklist as ck
from ..tools import destruction_certificate as dc
from .customer_handover_export_content import bilingual
from .handover_access import OFFICER, has_group_in_company

# What the company's identity key is derived for: a masked identity's keyed hashes, and nothing else.
IDENTITY_KEY_CONTEXT = b"customer-handover-destroyed-identity-key"


class ResCompany(models.Model):
    """A company's destruction certificates: the signed workbook of each run, and the masked identities it lists."""

    _inherit = "res.company"

    def _handover_identity_key(self):
        """The key of this company's masked identities: derived from the database secret and the company, so it
        survives a backup and restore, and is the same for every run; it never leaves the server."""
        self.ensure_one()
        # sudo: the database secret is a system parameter; only a key derived from it is used, never shown
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret") or ""
        return hmac.new(secret.encode("utf-8"), IDENTITY_KEY_CONTEXT + b":" + str(self.id).encode("ascii"),
                        hashlib.sha256).digest()

    def _handover_masked_identity(self, partner):
        """The masked identity of ``partner`` (initials, keyed hashes of its email and phone), as this company's
        destruction records and certificates keep it."""
        self.ensure_one()
        return dc.masked_identity(self._handover_identity_key(), partner.name, partner.email,
                                  partner.phone or partner.mobile,
                                  str(partner.country_id.phone_code or self.country_id.phone_code or ""))

    def _handover_destruction_certificate(self, header, rows):
        """Write and sign, with this company's checklist key, the destruction certificate of one run.

        ``header`` and ``rows`` as ``tools/destruction_certificate.write_certificate`` takes them; datetimes (naive,
        UTC, as Odoo stores them) may stand for UTC texts. The certificate is in the company's language. Returns
        ``{"data", "digest", "rows", "fingerprint", "signature", "signed_at"}``: the workbook's bytes and SHA-256,
        the signatures sheet's rows (for a detached signature file), and the signature's facts for its record.
        """
        self.ensure_one()
        if not has_group_in_company(self.env, OFFICER, self):
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can sign its destruction "
                                         "certificates.", company=self.name))
        # sudo: the signing key is an officer's setting; the user is an officer of this company (checked above)
        key, certificate = self.sudo().handover_certificate_id._handover_signing_material()
        now = datetime.now(timezone.utc).replace(microsecond=0)
        signed_at = ck.utc_timestamp(now)
        header = {**header, "company": header.get("company") or self.name,
                  **{name: _utc(header.get(name)) for name in ("started", "ended")}}
        labels = self._handover_certificate_labels()
        with tempfile.TemporaryFile() as output:
            try:
                sheet_rows = dc.write_certificate(
                    output, header, ({**row, "destroyed_on": _utc(row.get("destroyed_on"))} for row in rows),
                    certificate, key, labels=labels, signed_at=signed_at,
                )
            except ck.ChecklistError as error:
                raise UserError(self.env._("The destruction certificate cannot be written: %(reason)s",
                                           reason=error)) from error
            output.seek(0)
            data = output.read()
        block = {row[0].rsplit(".", 1)[1]: row[2] for row in sheet_rows if row[0].startswith("signature.1.")}
        return {
            "data": data,
            "digest": hashlib.sha256(data).hexdigest(),
            "rows": sheet_rows,
            "fingerprint": block["fingerprint"],
            "signature": block["value"],
            "signed_at": now.replace(tzinfo=None),
        }

    def _handover_certificate_labels(self):
        """The certificate's texts in this company's language, and in English too when its documents are bilingual."""
        company = self.with_env(self._handover_lang_env())
        labels = company._handover_certificate_texts()
        if not self.env["customer.handover.export"].with_env(company.env)._bilingual(self):
            return labels
        english = company.with_context(lang="en_US")._handover_certificate_texts()
        return {key: value if key == "sheet_names" else bilingual(value, english[key]) for key, value in labels.items()}

    def _handover_certificate_texts(self):
        """A destruction certificate's texts in this environment's language: the checklist's signature labels, its
        own sheet names, cover items and column titles."""
        return {
            **self.env["customer.handover.export"]._checklist_labels(),
            "sheet_names": [self.env._("Cover"), self.env._("Destroyed customers"), self.env._("Signatures")],
            "title": self.env._("Destruction certificate"),
            "handover": self.env._("Destruction request"),
            "export": self.env._("Run number"),
            "company": self.env._("Company"),
            "exported_at": self.env._("Signed at (UTC)"),
            "checklist.rows": self.env._("Destroyed customers rows"),
            "checklist.columns": self.env._("Destroyed customers columns"),
            "checklist.digest": self.env._("Destroyed customers digest (SHA-256)"),
            "version": self.env._("Certificate layout version"),
            "request": self.env._("Destruction request"),
            "basis": self.env._("Basis"),
            "requested_by": self.env._("Requested by"),
            "approved_by": self.env._("Approved by"),
            "started": self.env._("Run started (UTC)"),
            "ended": self.env._("Run ended (UTC)"),
            "customers": self.env._("Customers destroyed"),
            "counts": self.env._("Records destroyed per model"),
            "number": self.env._("No."),
            "initials": self.env._("Initials"),
            "email_hash": self.env._("Email (keyed hash)"),
            "phone_hash": self.env._("Phone (keyed hash)"),
            "categories": self.env._("Categories destroyed"),
            "destroyed_on": self.env._("Destroyed on (UTC)"),
        }


def _utc(value):
    """A naive UTC datetime (as Odoo stores one) as the UTC text a certificate carries; any other value as it is."""
    if isinstance(value, datetime):
        return ck.utc_timestamp(value.replace(tzinfo=timezone.utc))
    return value
