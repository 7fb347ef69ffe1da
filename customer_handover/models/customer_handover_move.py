from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, split_every

from .handover_notes import log_note

# Customers moved inside the database per batch: a constant number of queries each.
MOVE_BATCH = 2000


class CustomerHandover(models.Model):
    """Completing a handover inside this database: the customers move to the receiving company or team.

    Each model moves its own rows: the partners (``res.partner._handover_move``), their consents
    (``customer.consent._handover_move``); this file decides what moves where and refuses what cannot move.
    """

    _inherit = "customer.handover"

    def _ensure_backup(self):
        """Keep a signed, encrypted backup of the scope before the customers move; return it."""
        self.ensure_one()
        # Serialise with the handover's other packages, so that two first packages keep one backup.
        self.env.cr.execute(SQL("SELECT id FROM customer_handover WHERE id = %s FOR UPDATE", self.id))
        backup = self.env["customer.handover.package"].search(
            [("handover_id", "=", self.id), ("kind", "=", "backup")], limit=1)
        return backup or self.env["customer.handover.package"]._create_for(self, "backup")

    def _move_customers(self, customers):
        """Move ``customers`` and their contacts to the receiving company or team, all or nothing.

        What cannot move is refused before anything moves; then, batch by batch and with a constant number of
        queries each: followers, open activities, the partners (company, salesperson, retention policy and the
        evidence of the move), and the consents given to the transferring company.
        """
        self.ensure_one()
        target, user, partners, purposes, policies = self._move_check(customers)
        # Everything that could refuse the move has been checked: keep the backup before anything moves.
        self._ensure_backup()
        company_mode = self.transfer_mode == "company"
        now = fields.Datetime.now()
        for batch in split_every(MOVE_BATCH, partners.ids):
            batch = customers.browse(batch)
            # Odoo syncs a partner's contacts one partner at a time on every write: read them for the batch at once.
            batch.fetch(["child_ids", "user_ids"])
            # Stamped before the move: once moved, the transferring company's users may no longer write them.
            self._stamp_customers(batch & customers)
            batch._handover_move(self.company_id, target if company_mode else None, user, policies, now)
            if company_mode:
                self.env["customer.consent"]._handover_move(batch, self.company_id, target, purposes)
        payload = {"handover": self.id, "mode": self.transfer_mode, "to_company": target.id, "to_user": user.id}
        events = self.env["customer.handover.event"]
        for company in (self.company_id | target):
            events._append_for(partners, "customer_moved", payload, company)
        log_note(self, "mt_customers_moved", f"{target.sudo().display_name}, {user.display_name} ({len(partners)})")

    def _move_check(self, customers):
        """Refuse what keeps ``customers`` from moving; return where to (company, user), who moves (the customers and
        their contacts) and the receiving company's purposes and policies for the transferring company's own."""
        self.ensure_one()
        user = self.receiver_user_id
        if not user:
            raise UserError(self.env._("Choose the receiving responsible user of %(handover)s: the customers move to "
                                       "them.", handover=self.name))
        self._check_receiver_user()
        company_mode = self.transfer_mode == "company"
        target = self._receiving_company() if company_mode else self.company_id
        Partner = self.env["res.partner"].with_context(active_test=False)
        ids = set()
        for batch in split_every(MOVE_BATCH, customers.ids):
            ids.update(Partner.search([("id", "child_of", list(batch))]).ids)
        partners = Partner.browse(sorted(ids))
        for batch in split_every(MOVE_BATCH, partners.ids):
            Partner.browse(batch).check_access("write")
        purposes, policies = self._move_mapping(partners, target) if company_mode else ({}, {})
        return target, user, partners, purposes, policies

    def _start_move(self):
        """Check the move in the background, batch by batch; its last step makes it. Returns the job."""
        self.ensure_one()
        self.check_access("write")
        self._move_check(self.env["res.partner"])  # refuse at once what refuses every customer: no receiving user
        self.env["customer.handover.line"].flush_model(["handover_id", "partner_id", "line_type", "state", "excluded"])
        return self.env["customer.handover.job"]._start(self, "move", SQL(
            """SELECT DISTINCT partner_id FROM customer_handover_line
                WHERE handover_id = %s AND line_type = 'customer' AND state = 'verified' AND excluded IS NOT TRUE
             ORDER BY partner_id""",
            self.id,
        ))

    @api.model
    def _job_move_batch(self, job, partner_ids):
        """Check that these customers and their contacts can move: what would refuse the move stops the step here,
        naming the customer, while nothing has moved yet."""
        job.handover_id._move_check(self.env["res.partner"].browse(partner_ids).exists())

    @api.model
    def _job_move_undo(self, job, partner_ids):
        """Nothing to undo: the batches only check, and the customers move in the step's last transaction."""

    @api.model
    def _job_move_done(self, job):
        """Move every customer the batches checked, in this one transaction, and complete the handover."""
        handover = job.handover_id
        customers = self.env["res.partner"].browse(job._items("done", None)).exists()
        handover._complete(customers)

    def _move_mapping(self, partners, target):
        """The receiving company's purposes and retention policies for the transferring company's own ones.

        A purpose or policy of another company maps to ``target``'s of the same code, else to a shared one of the
        same code (names are for people, and translated); when one has neither, nothing moves and the user is told
        what to create.
        """
        Consent = self.env["customer.consent"]
        purposes, policies = self.env["customer.consent.purpose"], self.env["customer.retention.policy"]
        for batch in split_every(MOVE_BATCH, partners.ids):
            purposes |= Consent._read_group(
                [("partner_id", "in", batch), ("company_id", "=", self.company_id.id)], [], ["purpose_id:recordset"]
            )[0][0]
            policies |= self.env["res.partner"].with_context(active_test=False)._read_group(
                [("id", "in", batch)], [], ["retention_policy_id:recordset"]
            )[0][0]
        cannot = partners._move_conflicts()
        if cannot:
            raise UserError(
                self.env._(
                    "Nothing was moved: %(contacts)s are users or companies of this database, whose company follows "
                    "the user's or the company's own. Cancel the handover and hand the customers over without them.",
                    contacts=", ".join(cannot[:20]),
                )
            )
        mapping, missing = [], []
        for records, label in ((purposes, self.env._("Consent purpose")), (policies, self.env._("Retention policy"))):
            foreign = records.filtered(lambda record: record.company_id and record.company_id != target)
            codes = {record.id: record.code for record in foreign}
            # sudo: the receiving company's purposes and policies, which the transferring manager may not read
            found = self.env[records._name].sudo().search(
                [("company_id", "in", [target.id, False]), ("code", "in", list(codes.values()))]
            )
            # a shared record first, so that the receiving company's own of the same code wins
            by_code = {record.code: record.id for record in found.sorted(lambda record: bool(record.company_id))}
            mapping.append({source: by_code[code] for source, code in codes.items() if code in by_code})
            missing += [f"{label} “{record.display_name}” ({record.code})" for record in foreign
                        if codes[record.id] not in by_code]
        if missing:
            raise UserError(
                self.env._(
                    "Nothing was moved: %(company)s lacks what these customers need. Create in %(company)s, or share "
                    "between companies, a record of the same code for each of: %(missing)s. Then complete the "
                    "handover again.",
                    company=target.sudo().display_name, missing="; ".join(missing),
                )
            )
        return mapping[0], mapping[1]
