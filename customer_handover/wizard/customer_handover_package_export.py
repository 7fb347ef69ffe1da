import secrets

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..tools import transfer_package as tp

PASSPHRASE_KEY = "customer_handover_passphrase"
# Crockford's base32: no I, L, O or U to misread when the passphrase is read out or typed.
PASSPHRASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class CustomerHandoverPackageExport(models.TransientModel):
    _name = "customer.handover.pack"
    _description = "Export a transfer package"
    # The package made, for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    handover_id = fields.Many2one("customer.handover", required=True, readonly=True)
    export_number = fields.Integer(string="Delivers Export", compute="_compute_export_number")
    encryption = fields.Selection(
        [("recipient", "To the receiver's public key"), ("passphrase", "With a one-time passphrase")],
        required=True, default=lambda self: self._default_encryption(),
    )
    recipient = fields.Char(
        string="Receiver's Public Key", default=lambda self: self._default_recipient(),
        help="The age1… key the receiving party made with customer-handover-keygen --age or age-keygen.",
    )
    recipient_fingerprint = fields.Char(string="Key Fingerprint (SHA-256)", compute="_compute_recipient_fingerprint")
    package_id = fields.Many2one("customer.handover.package", readonly=True)
    passphrase = fields.Char(
        compute="_compute_passphrase",
        help="Shown once, never stored: give it to the receiver by another channel than the file.",
    )

    def _default_encryption(self):
        handover = self.env["customer.handover"].browse(self.env.context.get("default_handover_id"))
        return "recipient" if handover.exists() and handover.receiver_recipient else "passphrase"

    def _default_recipient(self):
        handover = self.env["customer.handover"].browse(self.env.context.get("default_handover_id"))
        return handover.exists() and handover.receiver_recipient

    @api.depends("handover_id")
    def _compute_export_number(self):
        for wizard in self:
            export = wizard.handover_id._current_export()
            wizard.export_number = export.number

    @api.depends("recipient")
    def _compute_recipient_fingerprint(self):
        for wizard in self:
            try:
                wizard.recipient_fingerprint = wizard.recipient and tp.recipient_fingerprint(wizard.recipient)[1]
            except tp.PackageError:
                wizard.recipient_fingerprint = self.env._("not an age public key (age1…)")

    @api.depends_context(PASSPHRASE_KEY)
    def _compute_passphrase(self):
        for wizard in self:
            # Only the response to the step carries it: neither the database nor a later read ever holds it.
            wizard.passphrase = (wizard.package_id and self.env.context.get(PASSPHRASE_KEY)) or False

    def action_make(self):
        """Make the package; above the background threshold, queue it (to the receiver's key only) and say so."""
        self.ensure_one()
        handover = self.handover_id
        Package = self.env["customer.handover.package"]
        Job = self.env["customer.handover.job"]
        threshold = Job._threshold()
        if self.env["customer.handover.line"].search_count([("handover_id", "=", handover.id)],
                                                          limit=threshold + 1) > threshold:
            Package._check_may_package(handover)
            if self.encryption != "recipient":
                raise UserError(self.env._(
                    "%(handover)s has more than %(threshold)s lines: its package is made in the background, where a "
                    "one-time passphrase could not be shown to you without being stored. Encrypt it to the "
                    "receiver's public key.", handover=handover.name, threshold=threshold))
            recipient = handover._set_receiver_recipient(self.recipient)
            return Package._start_for(handover, recipient)._started_action()
        passphrase = None
        if self.encryption == "recipient":
            recipient = handover._set_receiver_recipient(self.recipient)
            package = Package._create_for(handover, recipient=recipient)
        else:
            passphrase = new_passphrase()
            package = Package._create_for(handover, passphrase=passphrase)
        self.package_id = package
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Transfer package made"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "context": {**self.env.context, PASSPHRASE_KEY: passphrase} if passphrase else dict(self.env.context),
        }

    def action_download(self):
        self.ensure_one()
        return self.package_id.action_download()


def new_passphrase(groups=6, size=5):
    """A random passphrase of about 150 bits, in groups easy to read out: ``7KQ2M-…``."""
    return "-".join(
        "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(size)) for _ in range(groups)
    )
