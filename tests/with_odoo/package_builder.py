"""Builds transfer packages for the import tests, from a signed handover and one of its exports.

A stand-in for the export side: it writes what docs/transfer-package.md promises, from the handover's
lines, so that the receiving side can be tested now; swap it for the real export when it lands.
"""

import base64
import hashlib
import os
import tempfile

from odoo.addons.customer_handover.tools.transfer_package import PackageWriter

EVIDENCE = b"%PDF-1.4 signed consent form"


def customer_of(number, line):
    """The package's customer for checklist line ``number``: snapshot as signed, contact from the partner."""
    partner = line.partner_id.sudo()
    return {
        "line": number,
        "snapshot": {"ref": line.snapshot_ref or "", "contact": line.snapshot_contact or "",
                     "classification": line.snapshot_classification or "", "consent": line.snapshot_consent or "",
                     "retention": line.snapshot_retention or ""},
        "contact": {
            "ref": partner.ref or "", "name": partner.name,
            "kind": "organisation" if partner.is_company else "individual",
            "function": "", "street": "", "street2": "", "zip": "", "city": "Shanghai", "state": "", "country": "CN",
            "email": partner.email or "", "phone": partner.phone or "", "mobile": "", "vat": partner.vat or "",
            "lang": "en_US",
        },
        "children": [{"ref": "", "name": f"{partner.name} accounts", "kind": "individual", "function": "Accountant",
                      "street": "", "street2": "", "zip": "", "city": "", "state": "", "country": "", "email": "",
                      "phone": "", "mobile": "", "vat": "", "lang": "", "type": "invoice"}],
        "classification": {"customer_type": "organisation" if partner.is_company else "individual", "stage": "active",
                           "relationship_ended_on": "", "domains": ["Imported domain"],
                           "domain_codes": ["imported_domain"], "sensitivity": "personal"},
        "consents": [{"purpose": "Customer service", "purpose_code": "customer_service", "status": "granted",
                      "given_on": "2025-03-01", "withdrawn_on": "", "channel": "paper", "lawful_basis": "contract",
                      "evidence": []}],
        "retention": {"policy": "", "policy_code": "", "period": 0, "period_unit": "year",
                      "period_start": "relationship_end", "end_date": "", "legal_hold": False, "legal_hold_reason": ""},
    }


def build_package(export, recipient=None, passphrase=None, package=1, change=None, extra=(), signer=None,
                  manifest=None, skip=(), writer=PackageWriter):
    """The bytes of a package delivering ``export``; ``change(customer)`` edits each customer before it is added.

    ``extra``: more customers (dicts) added after the handover's; ``signer``: (key, certificate) instead of
    the handover company's; ``manifest``: manifest values to override before signing; ``skip``: line
    numbers left out; ``writer``: the writer's class (a test's writer of an older format version).
    """
    handover = export.handover_id.sudo()
    workbook = base64.b64decode(export.attachment_id.sudo().datas)
    key, certificate = signer or handover.company_id.handover_certificate_id._handover_signing_material()
    folder = tempfile.mkdtemp(prefix="ch-test-package-")
    path = os.path.join(folder, "package.age")
    writer = writer(path, handover.name, handover.company_id.name, package, export.number,
                           hashlib.sha256(workbook).hexdigest(), cover={"reference": handover.name, "kind": "transfer"},
                           recipient=recipient, passphrase=passphrase)
    writer.manifest.update(manifest or {})
    evidence = writer.add_evidence(EVIDENCE, "pdf")
    lines = handover.line_ids.sorted(lambda line: (line.sequence, line.id))
    for number, line in enumerate(lines, start=1):
        if line.excluded or number in skip:
            continue
        if line.line_type == "item":
            writer.add_item({"line": number, "name": line.name, "kind": "item", "status": "verified",
                             "remarks": line.remarks or ""})
            continue
        customer = customer_of(number, line)
        customer["consents"][0]["evidence"] = [evidence]
        if change:
            change(customer)
        writer.add_customer(customer)
    for customer in extra:
        writer.add_customer(customer)
    writer.close(key, certificate)
    with open(path, "rb") as handle:
        data = handle.read()
    os.unlink(path)
    os.rmdir(folder)
    return data
