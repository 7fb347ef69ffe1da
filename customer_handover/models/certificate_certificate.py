import base64

from odoo import models
from odoo.exceptions import UserError

from ..tools import checklist as ck


class CertificateCertificate(models.Model):
    _inherit = "certificate.certificate"

    def _handover_signing_material(self):
        """The private key and certificate that sign checklists, refused with a clear reason when unusable."""
        if not self:
            raise UserError(
                self.env._("The company has no checklist signing key: a data-protection officer creates one in "
                           "Settings → Customer Handover.")
            )
        self.ensure_one()
        if self.loading_error or not self.pem_certificate:
            raise UserError(self.env._("The checklist signing certificate cannot be read: %(error)s",
                                       error=self.loading_error or ""))
        if not self.private_key_id or self.private_key_id.loading_error:
            raise UserError(
                self.env._("The checklist signing certificate %(name)s has no usable private key.", name=self.name)
            )
        if not self.is_valid:
            raise UserError(
                self.env._(
                    "The checklist signing certificate %(name)s is valid from %(start)s to %(end)s (UTC): it cannot "
                    "sign now. A data-protection officer replaces it in Settings → Customer Handover.",
                    name=self.name, start=self.date_start, end=self.date_end,
                )
            )
        try:
            key = ck.load_private_key(base64.b64decode(self.private_key_id.with_context(bin_size=False).pem_key))
            certificate = ck.load_certificate(base64.b64decode(self.with_context(bin_size=False).pem_certificate))
        except ck.ChecklistError as error:
            raise UserError(self.env._("The checklist signing key cannot be used: %(reason)s", reason=error)) from error
        return key, certificate
