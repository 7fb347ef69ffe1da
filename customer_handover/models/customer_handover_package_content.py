from datetime import timezone

from odoo import models
from odoo.exceptions import AccessError
from odoo.tools import split_every

from ..tools import checklist as ck
from ..tools import transfer_package as tp
from .customer_handover_package import BATCH, CONTACT_FIELDS


class CustomerHandover(models.Model):
    """What a transfer package carries of a handover: its cover, its verified customers and items, in batches.

    Each model reads its own rows (the lines, the partners, the consents); the package model writes the file.
    """

    _inherit = "customer.handover"

    def _package_cover(self, kind):
        """The handover's cover data in a transfer package: codes and English source names, never labels."""
        self.ensure_one()

        def moment(value):
            return ck.utc_timestamp(value.replace(tzinfo=timezone.utc)) if value else ""

        return {
            "kind": kind,
            "reference": self.name,
            "company": self.company_id.name,
            "company_vat": self.company_id.vat or "",
            "receiver": self.receiver_id.name or "",
            "receiver_contact": self.receiver_contact or "",
            "reason": self.reason or "",
            "reason_note": self.reason_note or "",
            "purposes": self.purpose_ids.with_context(lang="en_US").mapped("name"),
            "date_planned": _day(self.date_planned),
            "transfer_signer": self.transfer_signer or "",
            "transfer_signed_on": moment(self.transfer_signed_on),
            "receiver_signer": self.receiver_signer or "",
            "receiver_signed_on": moment(self.receiver_signed_on),
            "agreement": self.nda_reference or "",
            "agreement_signed_on": _day(self.nda_date),
            "receiver_abroad": bool(self.receiver_abroad),
            "receiver_country": self.receiver_country_id.code or "",
            "abroad_legal_basis": self.abroad_legal_basis or "",
        }

    def _package_line_numbers(self):
        """Yield (its number on the signed checklist, line id) for every line, in the checklist's order.

        The lines are read in batches, so memory stays flat whatever the checklist's length.
        """
        self.ensure_one()
        number = 0
        for ids in self.env["customer.handover.line"]._id_batches([("handover_id", "=", self.id)], BATCH):
            for line_id in ids:
                number += 1
                yield number, line_id

    def _package_customers(self, writer):
        """Yield (customer, partner id) for each verified customer line, in batches; evidence goes to ``writer``.

        Called by the package step after its manager check: officer-only data travels with the customers. Each
        batch is read with a constant number of queries, in SQL: the ORM's per-field reads would cost more than
        writing the package.
        """
        self.ensure_one()
        self.env.flush_all()
        purposes = self.purpose_ids.with_context(lang="en_US")
        purpose_of = {purpose.id: (purpose.code, purpose.name) for purpose in purposes}
        Partner = self.env["res.partner"]
        for batch in split_every(BATCH, self._package_line_numbers()):
            numbers = {line_id: number for number, line_id in batch}
            lines = self.env["customer.handover.line"]._package_customer_rows(list(numbers))
            partner_ids = [line[1] for line in lines]
            partners = {row["id"]: row for row in Partner._handover_package_rows(partner_ids)}
            children = Partner._handover_package_rows(partner_ids, children=True)
            # SQL reads what the user may not: customers moved to another company since, or their contacts there.
            self._check_package_readable(partner_ids + [child["id"] for child in children])
            children_of, consents_of = {}, {}
            for child in children:
                children_of.setdefault(child["parent_id"], []).append({**_contact(child), "type": child["type"] or ""})
            domains = Partner._handover_package_domains(partner_ids)
            consents = self.env["customer.consent"]._handover_package_rows(partner_ids, purposes.ids, self.company_id)
            evidence = self._package_evidence(consents, writer)
            for consent in consents:
                code, name = purpose_of[consent["purpose_id"]]
                consents_of.setdefault(consent["partner_id"], []).append({
                    "purpose": name,
                    "purpose_code": code,
                    "status": consent["state"],
                    "given_on": _day(consent["date_given"]),
                    "withdrawn_on": _day(consent["date_withdrawn"]),
                    "channel": consent["channel"] or "",
                    "lawful_basis": consent["lawful_basis"] or "",
                    "evidence": evidence.get(consent["id"], []),
                })
            for line_id, partner_id, *snapshot in lines:
                partner = partners[partner_id]
                yield {
                    "line": numbers[line_id],
                    "snapshot": dict(zip(("ref", "contact", "classification", "consent", "retention"),
                                         (value or "" for value in snapshot), strict=True)),
                    "contact": _contact(partner),
                    "children": children_of.get(partner_id, []),
                    "classification": {
                        "customer_type": partner["customer_type"] or "",
                        "stage": partner["relationship_stage"] or "",
                        "relationship_ended_on": _day(partner["relationship_end_date"]),
                        "domains": [name for _code, name in domains.get(partner_id, [])],
                        "domain_codes": [code for code, _name in domains.get(partner_id, [])],
                        "sensitivity": partner["data_sensitivity"] or "",
                    },
                    "consents": consents_of.get(partner_id, []),
                    "retention": {
                        "policy": partner["policy"] or "",
                        "policy_code": partner["policy_code"] or "",
                        "period": partner["period"] or 0,
                        "period_unit": partner["period_unit"] or "",
                        "period_start": partner["period_start"] or "",
                        "end_date": _day(partner["retention_end_date"]),
                        "legal_hold": bool(partner["legal_hold"]),
                        "legal_hold_reason": partner["legal_hold_reason"] or "",
                    },
                }, partner_id

    def _check_package_readable(self, partner_ids):
        """Refuse partners the user may not read: one count under the user's record rules, no row read."""
        readable = self.env["res.partner"].with_context(active_test=False).search_count([("id", "in", partner_ids)])
        if readable != len(set(partner_ids)):
            raise AccessError(
                self.env._("%(count)s customers or contacts of %(handover)s are no longer yours to read (moved to "
                           "another company since): they cannot leave in a package.",
                           count=len(set(partner_ids)) - readable, handover=self.name)
            )

    def _package_evidence(self, consents, writer):
        """Add the consents' evidence files to ``writer``; return {consent id: [member path]}."""
        names = {consent["id"]: consent["evidence_filename"] for consent in consents}
        # sudo: evidence files are officer-only; the package step checked the user as a manager of the handover.
        attachments = self.env["ir.attachment"].sudo().search([
            ("res_model", "=", "customer.consent"), ("res_field", "=", "evidence"), ("res_id", "in", list(names)),
        ])
        paths = {}
        for attachment in attachments:
            extension = tp.evidence_extension(names.get(attachment.res_id) or attachment.name, attachment.mimetype)
            paths.setdefault(attachment.res_id, []).append(writer.add_evidence(attachment.raw, extension))
        attachments.invalidate_recordset()
        return paths

    def _package_items(self):
        """Yield the verified manual items (paper files, devices, accounts) with their remarks."""
        self.ensure_one()
        items = self.env["customer.handover.line"].search(
            [("handover_id", "=", self.id), ("line_type", "=", "item"), ("state", "=", "verified"),
             ("excluded", "=", False)], order="sequence, id",
        )
        # Items are few: their numbers are picked from the checklist's, read in batches.
        item_ids = set(items.ids)
        numbers = {line_id: number for number, line_id in self._package_line_numbers() if line_id in item_ids}
        for item in items:
            yield {"line": numbers[item.id], "name": item.name or "", "kind": "item", "status": item.state,
                   "remarks": item.remarks or ""}


def _day(value):
    return value.isoformat() if value else ""


def _contact(row):
    """A partner's contact data in a transfer package, from its packaged columns: codes for state, country, kind."""
    return {
        **{name: row[name] or "" for name in CONTACT_FIELDS},
        "kind": "organisation" if row["is_company"] else "individual",
        "state": row["state_code"] or "",
        "country": row["country_code"] or "",
    }
