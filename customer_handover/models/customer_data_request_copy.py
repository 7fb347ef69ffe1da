import base64
import io

from openpyxl import Workbook

from odoo import api, models

from .customer_handover_line import _coarsened

# What a copy tells the customer about their record, in this order: the contact data and the classification,
# consent and retention fields this addon keeps. A legal hold and its reason are the officer's to disclose.
PARTNER_FIELDS = (
    "name", "ref", "email", "phone", "mobile", "street", "street2", "zip", "city", "state_id", "country_id",
    "lang", "customer_type", "relationship_stage", "relationship_end_date", "business_domain_ids", "data_sensitivity",
    "retention_policy_id", "retention_end_date", "retention_status", "last_review_date", "handover_date",
    "handover_receiver_id",
)
CONSENT_FIELDS = ("purpose_id", "company_id", "state", "date_given", "date_withdrawn", "channel", "lawful_basis",
                  "withdrawal_channel")
LINE_FIELDS = ("snapshot_ref", "snapshot_contact", "snapshot_classification", "snapshot_consent")


class CustomerDataRequestCopy(models.AbstractModel):
    """The copy of a customer's data a request for a copy produces: one workbook, in the customer's language."""

    _name = "customer.data.request.copy"
    _description = "Copy of a Customer's Data"

    @api.model
    def _workbook(self, request):
        """The workbook (base64) of ``request``'s customer: their record, and the consents and handovers of the
        request's company (and of the company they moved to with its handover)."""
        # sudo: the request's step made the copy; the officer who reads the request reads the file
        partner = request.partner_id.sudo()
        env = partner.with_context(lang=partner.lang or request.company_id._handover_lang()).env
        partner = partner.with_env(env)
        book = Workbook(write_only=True)

        sheet = book.create_sheet(env._("Customer"))
        sheet.append([env._("Field"), env._("Value")])
        for name in PARTNER_FIELDS:
            sheet.append([partner._fields[name]._description_string(env), _text(partner, name, env)])

        # What the request's company holds, and the company of this database the customer moved to with its
        # handover (where a withdrawal applies too): never what another company of the database holds.
        companies = request.company_id
        handover = request.handover_id.sudo()
        if handover and handover.state == "done" and handover.transfer_mode == "company":
            companies |= handover._receiving_company()

        sheet = book.create_sheet(env._("Consents"))
        consents = env["customer.consent"].search(
            [("partner_id", "=", partner.id), ("company_id", "in", companies.ids)], order="id")
        sheet.append([env["customer.consent"]._fields[name]._description_string(env) for name in CONSENT_FIELDS])
        for consent in consents:
            sheet.append([_text(consent, name, env) for name in CONSENT_FIELDS])

        sheet = book.create_sheet(env._("Handovers"))
        Line = env["customer.handover.line"]
        sheet.append([env._("Handover"), env._("Transferring Company"), env._("Receiving Party"), env._("Date"),
                      *(Line._fields[name]._description_string(env) for name in LINE_FIELDS),
                      Line._fields["snapshot_retention"]._description_string(env), env._("Excluded"),
                      Line._fields["exclusion_reason"]._description_string(env)])
        lines = Line.search([("partner_id", "=", partner.id), ("line_type", "=", "customer"),
                             ("scope_run", ">=", 0), ("handover_id.company_id", "in", companies.ids)], order="id")
        for line in lines:
            handover = line.handover_id
            sheet.append([handover.name, handover.company_id.name, handover.receiver_id.commercial_partner_id.name,
                          str(handover.date_done or handover.date_planned),
                          *(line[name] or "" for name in LINE_FIELDS), _coarsened(line.snapshot_retention or ""),
                          env._("Yes") if line.excluded else env._("No"),
                          _coarsened(line.exclusion_reason or "") if line.excluded else ""])
        stream = io.BytesIO()
        book.save(stream)
        return base64.b64encode(stream.getvalue())


def _text(record, name, env):
    """A field's value as the customer reads it: labels of selections, names of records, dates as ISO text."""
    field, value = record._fields[name], record[name]
    if field.type == "selection":
        return dict(field._description_selection(env)).get(value, "") if value else ""
    if field.type in ("many2one", "many2many"):
        return ", ".join(value.mapped("display_name"))
    return "" if value is False or value is None else str(value)
