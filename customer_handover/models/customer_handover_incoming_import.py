import base64
import dataclasses
import datetime
import functools
import os
from collections.abc import Callable

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import split_every

from ..tools import transfer_package as tp
from ..tools.checklist_columns import SNAPSHOT_KEYS
from ..tools.checklist_read import checklist_rows, snapshot_digest
from ..tools.checklist_verify import verify
from ..tools.retention import retention_end_date
from .customer_handover_evidence_mixin import CREATE, evidence_step
from .customer_handover_incoming import COUNT_FIELDS
from .handover_access import OFFICER
from .handover_notes import log_note
from .res_company import SENSITIVITY_LEVELS
from .res_partner import PROVENANCE_FIELDS

BATCH = 500
# The merge keeps the stricter sensitivity: the order of SENSITIVITY_LEVELS, least strict first.
STRICTNESS = {code: rank for rank, (code, _label) in enumerate(SENSITIVITY_LEVELS)}
# Retention periods are compared as the time they keep a record from one same day.
SOME_DAY = datetime.date(2000, 1, 1)
# Officer-only fields an import sets on the contacts and consents it creates, after its own checks.
PARTNER_STEP_FIELDS = (*PROVENANCE_FIELDS, "data_sensitivity", "legal_hold", "legal_hold_reason")
CONSENT_STEP_FIELDS = ("evidence", "evidence_filename")
INCOMING_FIELDS = (
    "name", "company_id", "sender", "fingerprint", "handover_reference", "export_number", "checklist_sha256",
    "package_number", "package_sha256", "package_created_at", "received_on", "user_id", "checklist_attachment_id",
)
# The codes a package may give, by the name its messages call them: (model, selection field) holding them.
CODE_FIELDS = {
    "customer_type": ("res.partner", "customer_type"),
    "stage": ("res.partner", "relationship_stage"),
    "sensitivity": ("res.partner", "data_sensitivity"),
    "status": ("customer.consent", "state"),
    "channel": ("customer.consent", "channel"),
    "lawful_basis": ("customer.consent", "lawful_basis"),
    "child_type": ("res.partner", "type"),
}
# An imported customer's provenance and the event log record the import: no chatter message or follower per record,
# which would cost more than the import itself.
QUIET = {"tracking_disable": True, "mail_create_nolog": True, "mail_create_nosubscribe": True, "mail_notrack": True}
# A package names no salesperson: a contact arrives without one, and its children take their parent's, none. Stated
# in the values, Odoo does not precompute it on a new record per contact (a tenth of an import's time).
NO_SALESPERSON = {"user_id": False}


@dataclasses.dataclass
class _Received:
    """What one import keeps between batches: the opened package, the maps of codes to records, the lines seen."""

    folder: str
    version: int
    mappings: dict
    rows: dict
    decide: Callable[[list], dict]
    codes: dict
    countries: dict
    langs: set
    provenance: dict
    seen: set = dataclasses.field(default_factory=set)
    # The package's zip, for an import in the background, which reads its evidence files from it; else the folder.
    archive: object = None
    # In the background: new contacts are created archived and flagged, merges and their consents wait for the end.
    staged: bool = False

    def evidence(self, path):
        if self.archive is not None:
            return base64.b64encode(self.archive.read(path))
        return _evidence(self.folder, path)


class CustomerHandoverIncoming(models.Model):
    _inherit = "customer.handover.incoming"

    @api.model
    def _import_package(self, company, result, folder, checklist, package_sha256, checklist_name, mappings, decide):
        """Create the incoming record, the contacts and consents, and reconcile against the checklist.

        ``result`` is the opened package (unpacked in ``folder``), ``package_sha256`` the SHA-256 of its encrypted
        file, ``checklist`` the path of the signed workbook it delivers, ``mappings`` {(kind, key): id} of its purposes
        and policies, and ``decide(line numbers)`` the preview's decisions {line number: line} for those lines.
        """
        held = verify(checklist, trusted={result.fingerprint})
        manifest = held.manifest
        if (held.status != "valid" or str(manifest.get("export")) != str(result.export)
                or manifest.get("handover") != result.handover):
            raise UserError(self.env._(
                "The checklist workbook does not verify as export %(export)s of %(handover)s signed by the key "
                "%(fingerprint)s.", export=result.export, handover=result.handover, fingerprint=result.fingerprint,
            ))
        rows = checklist_rows(checklist)
        incoming = self._import_record(company, result, package_sha256)
        incoming._import_keep_checklist(checklist, checklist_name)
        received = incoming._received(folder, result.version, mappings, rows, decide)
        counts = dict.fromkeys(COUNT_FIELDS, 0)
        for batch in split_every(BATCH, package_customers(folder)):
            try:
                incoming._import_customers(received, batch, counts)
                release(self.env)
            except ValidationError as error:
                raise UserError(self.env._(
                    "the package stopped in the lines %(first)s to %(last)s: %(reason)s",
                    first=batch[0]["line"], last=batch[-1]["line"], reason=error.args[0],
                )) from error
        incoming._import_finish(received, counts, result.counts)
        return incoming

    @api.model
    def _import_record(self, company, result, package_sha256, state="imported"):
        """Create the incoming handover of the opened package ``result`` (``package_sha256``: its encrypted file's)."""
        with evidence_step(self._name, CREATE, *INCOMING_FIELDS, "state"):
            return self.create({
                "state": state,
                "name": f"{result.handover} · {result.package}",
                "company_id": company.id,
                "sender": result.company,
                "fingerprint": result.fingerprint,
                "handover_reference": result.handover,
                "export_number": result.export,
                "checklist_sha256": result.checklist_sha256,
                "package_number": result.package,
                "package_sha256": package_sha256,
                "package_created_at": result.created_at,
                "received_on": fields.Datetime.now(),
                "user_id": self.env.uid,
            })

    def _import_keep_checklist(self, path, checklist_name):
        """Keep the checklist received (the file at ``path``): evidence of the import, downloaded through the incoming
        record's step only."""
        self.ensure_one()
        with evidence_step(self._name, "checklist_attachment_id"):
            self.checklist_attachment_id = self.env["ir.attachment"]._keep_handover_evidence_file({
                "name": checklist_name or f"{self.handover_reference}-export-{self.export_number}-signed.xlsx",
                "res_model": self._name,
                "res_id": self.id,
                "company_id": self.company_id.id,
                "mimetype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            }, path)

    def _import_finish(self, received, counts, manifest_counts):
        """Reconcile the items and the lines not delivered, record the counts and log the import."""
        self.ensure_one()
        self._import_items(received, counts)
        counts["difference_count"] += self._import_not_delivered(received)
        counts["customer_count"] = manifest_counts["customers"]
        counts["evidence_count"] = manifest_counts["evidence_files"]
        with evidence_step(self._name, *COUNT_FIELDS, "reconciled", "state"):
            self.write({**counts, "reconciled": not counts["difference_count"], "state": "imported"})
        self.env["customer.handover.event"]._append_for(self, "package_imported", {
            "package": self.package_number, "export": self.export_number, "fingerprint": self.fingerprint,
            "checklist_sha256": self.checklist_sha256, "package_sha256": self.package_sha256,
            "counts": {key: counts[key] for key in COUNT_FIELDS},
        })
        log_note(self, "mt_package_imported", f"{self.sender} · {self.handover_reference} · {self.package_number}",
                 changes=[(self, name, 0, counts[name])
                          for name in ("created_count", "matched_count", "refused_count", "difference_count")])

    def _received(self, folder, version, mappings, rows, decide):
        self.ensure_one()
        return _Received(
            folder=folder, version=version, mappings=mappings, rows=rows, decide=decide,
            codes={kind: set(self.env[model]._fields[name].get_values(self.env))
                   for kind, (model, name) in CODE_FIELDS.items()},
            countries={country.code: country.id for country in self.env["res.country"].search([])},
            langs={code for code, _name in self.env["res.lang"].get_installed()},
            provenance={
                "handover_incoming_id": self.id,
                "handover_sender": self.sender,
                "handover_source_reference": self.handover_reference,
                "handover_source_package": self.package_number,
                "handover_received_on": fields.Date.context_today(self),
            },
        )

    def _import_customers(self, received, customers, counts):
        """One batch: a constant number of creates and writes, whatever its size."""
        states = self._import_states(customers)
        domains = self._import_domains(received, customers)
        new, merged, refused = [], [], []
        matches = self.env["res.partner"]._handover_match(customers, self.company_id)
        officer = self.env.user.has_group(OFFICER)
        # this batch's decisions only: memory stays flat in the package's size
        decisions = received.decide([c["line"] for c in customers])
        for customer in customers:
            number = customer["line"]
            decision = decisions.get(number)
            if decision is None:
                self._import_fail(number, self.env._("the package changed since its preview."))
            if customer["classification"].get("sensitivity") == "sensitive" and not officer:
                raise AccessError(self.env._(
                    "The package holds customers with sensitive personal information (PIPL Art. 28), line %(line)s "
                    "first: a data-protection officer imports it.", line=number,
                ))
            if decision.decision == "refuse" and not (decision.reason or "").strip():
                raise UserError(self.env._("Give the reason for each customer you refuse (line %(line)s).",
                                           line=number))
            match = matches.get(number)
            if decision.decision == "merge" and (not match or match[0] != decision.partner_id.id):
                self._import_fail(number, self.env._("the contact it matched in the preview no longer matches it; "
                                                     "preview the package again."))
            if (decision.decision != ("merge" if match else "create") or decision.contact_choice != "keep") \
                    and not officer:
                raise AccessError(self.env._("Only a data-protection officer decides a customer differently from "
                                             "what the preview proposes (line %(line)s).", line=number))
            received.seen.add(number)
            if decision.decision == "refuse":
                refused.append(customer)
            elif decision.decision == "merge" and decision.partner_id:
                merged.append(customer)
            else:
                new.append(customer)
        partner_model = self.env["res.partner"].with_context(**QUIET)
        # staged: archived and flagged with this import until its last step shows them all at once
        staging = {"active": False, "handover_staging_incoming_id": self.id} if received.staged else {}
        with evidence_step(partner_model._name, *PARTNER_STEP_FIELDS, *(staging and ("handover_staging_incoming_id",))):
            created = partner_model.create([
                {**self._import_contact_values(received, c["contact"], states), **NO_SALESPERSON,
                 **self._import_classification(received, c, domains), **received.provenance, **staging} for c in new
            ])
            commercial = partner_model._commercial_fields()
            children = []
            for customer, partner in zip(new, created, strict=True):
                parent = self._import_contact_values(received, customer["contact"], states)
                shared = {name: parent[name] for name in commercial if name in parent}
                children += [
                    {**self._import_contact_values(received, child, states), **NO_SALESPERSON, **shared,
                     "parent_id": partner.id,
                     "type": child.get("type") if child.get("type") in received.codes["child_type"] else "contact",
                     **staging}
                    for child in customer["children"]
                ]
            # Odoo syncs each child from its parent one query at a time; the package states the child's own
            # address, and its commercial fields are set from the parent above.
            partner_model.with_context(_partners_skip_fields_sync=True).create(children)
            targets = partner_model.browse([decisions[c["line"]].partner_id.id for c in merged])
            targets.check_access("write")
            if not received.staged:  # staged: an existing contact is changed by the import's last step only
                self._import_merge(received, decisions, merged, targets, states, domains)
        by_line = {c["line"]: partner for c, partner in zip(new, created, strict=True)}
        by_line.update({c["line"]: partner for c, partner in zip(merged, targets, strict=True)})
        consents = self._import_consents(received, new if received.staged else new + merged, by_line)
        self._import_lines(received, decisions, customers, by_line, counts)
        events = self.env["customer.handover.event"]
        for outcome, partners in (("created", created), ("matched", targets.browse() if received.staged else targets)):
            if partners:
                events._append_for(partners, "customers_imported", {"incoming": self.id, "outcome": outcome},
                                   company=self.company_id)
        counts["created_count"] += len(new)
        counts["matched_count"] += len(merged)
        counts["refused_count"] += len(refused)
        counts["child_count"] += len(children)
        counts["consent_count"] += len(consents)

    def _import_merge(self, received, decisions, customers, targets, states, domains):
        """Merge what the package says of ``customers`` into their matches ``targets`` (docs/transfer-package.md).

        The stricter sensitivity, a legal hold (with each side's reason), the shorter retention policy (the
        longer one under a hold), the union of the business domains; contact data only where the officer chose
        the package's. Partners given the same values are written together: a few writes per batch.
        """
        # sudo: the officer-only protection fields are read to merge them; the user may write these partners
        existing = targets.sudo()
        existing.fetch(["data_sensitivity", "legal_hold", "legal_hold_reason", "retention_policy_id",
                        "business_domain_ids"])
        mapped = [id_ for (kind, _key), id_ in received.mappings.items() if kind == "policy"]
        policies = self.env["customer.retention.policy"].browse({*existing.retention_policy_id.ids, *mapped})
        policies.fetch(["period", "period_unit"])
        groups = {}
        for customer, partner in zip(customers, existing, strict=True):
            values = self._import_merged(self._import_classification(received, customer, domains), partner, policies)
            groups.setdefault(tuple(sorted(values.items())), []).append(partner.id)
            if decisions[customer["line"]].contact_choice == "package":
                contact = self._import_contact_values(received, customer["contact"], states)
                # never erased: a value the package leaves empty keeps the contact's
                targets.browse(partner.id).write(
                    {name: value for name, value in contact.items() if value and name != "company_id"})
        for values, ids in groups.items():
            values = dict(values)
            if "business_domain_ids" in values:
                values["business_domain_ids"] = [(4, domain_id) for domain_id in values["business_domain_ids"]]
            existing.browse(ids).write({**values, **received.provenance})

    def _import_merged(self, incoming, partner, policies):
        """The values that merge ``incoming`` (a new contact's classification) into ``partner``."""
        values = {}
        if STRICTNESS[incoming["data_sensitivity"]] > STRICTNESS.get(partner.data_sensitivity, 0):
            values["data_sensitivity"] = incoming["data_sensitivity"]
        reason = (incoming["legal_hold_reason"] or "").strip()
        if incoming["legal_hold"] and not partner.legal_hold:
            values.update(legal_hold=True, legal_hold_reason=reason or False)
        elif incoming["legal_hold"] and reason and reason not in (partner.legal_hold_reason or ""):
            values["legal_hold_reason"] = "\n".join(filter(None, [partner.legal_hold_reason, reason]))
        policy, current = policies.browse(incoming["retention_policy_id"] or ()), partner.retention_policy_id
        if policy and policy != current:
            held = partner.legal_hold or incoming["legal_hold"]
            if not current or ((_kept_until(policy) < _kept_until(current)) != held \
                    and _kept_until(policy) != _kept_until(current)):
                values["retention_policy_id"] = policy.id
        added = set(incoming["business_domain_ids"][0][2]) - set(partner.business_domain_ids.ids)
        if added:
            values["business_domain_ids"] = tuple(sorted(added))
        return values

    def _import_classification(self, received, customer, domains):
        number = customer["line"]
        classification, retention = customer["classification"], customer["retention"]
        policy = retention.get("policy")
        code = functools.partial(self._import_code, received, number)
        return {
            "customer_type": code("customer_type", classification.get("customer_type"), "individual"),
            "relationship_stage": code("stage", classification.get("stage"), "prospect"),
            "relationship_end_date": classification.get("relationship_ended_on") or False,
            "business_domain_ids": [
                (6, 0, [domains[key] for key, _name in self._import_domain_keys(received, customer)])],
            "data_sensitivity": code("sensitivity", classification.get("sensitivity"), "personal"),
            "retention_policy_id": policy and received.mappings.get(
                ("policy", package_key(received.version, retention, "policy")), False),
            "legal_hold": bool(retention.get("legal_hold")),
            "legal_hold_reason": retention.get("legal_hold_reason") or False,
        }

    def _import_consents(self, received, customers, by_line):
        """Create the consents of these customers, with their evidence; a purpose granted already is kept as is."""
        partners = self.env["res.partner"].browse([partner.id for partner in by_line.values()])
        granted = {
            (consent.partner_id.id, consent.purpose_id.id)
            for consent in self.env["customer.consent"].search([
                ("partner_id", "in", partners.ids), ("state", "=", "granted"), ("company_id", "=", self.company_id.id),
            ])
        }
        values = []
        for customer in customers:
            partner = by_line[customer["line"]]
            number = customer["line"]
            code = functools.partial(self._import_code, received, number)
            for consent in customer["consents"]:
                purpose = received.mappings.get(("purpose", package_key(received.version, consent, "purpose")))
                if not purpose:
                    self._import_fail(number, self.env._("the purpose “%(purpose)s” is not mapped.",
                                                         purpose=consent.get("purpose")))
                state = code("status", consent.get("status"))
                if state == "granted" and (partner.id, purpose) in granted:
                    continue
                granted.add((partner.id, purpose))
                evidence = (consent.get("evidence") or [None])[0]
                values.append({
                    "partner_id": partner.id,
                    "purpose_id": purpose,
                    "company_id": self.company_id.id,
                    "state": state,
                    "date_given": consent.get("given_on") or False,
                    "date_withdrawn": consent.get("withdrawn_on") or False,
                    "channel": code("channel", consent.get("channel"), "other"),
                    "lawful_basis": code("lawful_basis", consent.get("lawful_basis"), "consent"),
                    "evidence": evidence and received.evidence(evidence),
                    "evidence_filename": evidence and evidence.rsplit("/", 1)[-1],
                })
        consent_model = self.env["customer.consent"].with_context(**QUIET)
        with evidence_step(consent_model._name, *CONSENT_STEP_FIELDS):
            return consent_model.create(values)

    def _import_lines(self, received, decisions, customers, by_line, counts):
        """Reconcile a batch of customers with the signed checklist: one line each, with its outcome."""
        values = []
        for customer in customers:
            number = customer["line"]
            decision = decisions[number]
            row = received.rows.get(number)
            snapshot = snapshot_digest([customer["snapshot"].get(key) for key in SNAPSHOT_KEYS])
            difference = False
            if row is None:
                difference = "not_in_checklist"
            elif row[1] != snapshot:
                difference = "snapshot_differs"
            counts["difference_count"] += bool(difference)
            outcome = {"create": "created", "merge": "matched", "refuse": "refused"}[decision.decision]
            if outcome == "matched" and not decision.partner_id:
                outcome = "created"
            values.append({
                "incoming_id": self.id,
                "line_number": number,
                "kind": "customer",
                "name": customer["contact"].get("name"),
                "outcome": outcome,
                "partner_id": by_line[number].id if number in by_line else False,
                "match_key": decision.match_key if outcome == "matched" else False,
                "reason": decision.reason if outcome == "refused" else False,
                "difference": difference,
            })
        self._import_create_lines(values)

    def _import_create_lines(self, values):
        line_model = self.env["customer.handover.incoming.line"]
        with evidence_step(line_model._name, CREATE, *line_model._evidence_fields):
            line_model.create(values)

    def _import_items(self, received, counts):
        """Reconcile the package's items with the signed checklist."""
        values = []
        for _kind, item in tp.iter_data(os.path.join(received.folder, tp.DATA), kinds=("item",)):
            number = item["line"]
            received.seen.add(number)
            row = received.rows.get(number)
            difference = "not_in_checklist" if row is None else (row[0] != item["name"] and "snapshot_differs")
            counts["difference_count"] += bool(difference)
            counts["item_count"] += 1
            values.append({"incoming_id": self.id, "line_number": number, "kind": "item",
                           "name": item["name"], "outcome": "received", "difference": difference})
        self._import_create_lines(values)

    def _import_not_delivered(self, received):
        """List the signed checklist's lines that are neither in the package nor excluded there."""
        values = [
            {"incoming_id": self.id, "line_number": number, "name": name, "outcome": "not_delivered",
             "difference": "not_delivered"}
            for number, (name, _digest, excluded) in sorted(received.rows.items())
            if number not in received.seen and not excluded
        ]
        self._import_create_lines(values)
        return len(values)

    def _import_fail(self, line, reason):
        raise UserError(self.env._("the package stopped at line %(line)s: %(reason)s", line=line, reason=reason))

    def _import_code(self, received, line, kind, value, default=None):
        if value in ("", None) and default:
            return default
        if value not in received.codes[kind]:
            self._import_fail(line, self.env._("“%(value)s” is not a %(kind)s this Odoo knows.", value=value,
                                               kind=kind))
        return value

    def _import_contact_values(self, received, contact, states):
        country = received.countries.get(contact.get("country") or "")
        return {
            "name": contact.get("name") or "",
            "is_company": contact.get("kind") == "organisation",
            "function": contact.get("function") or False,
            "street": contact.get("street") or False,
            "street2": contact.get("street2") or False,
            "zip": contact.get("zip") or False,
            "city": contact.get("city") or False,
            "country_id": country or False,
            "state_id": states.get((country, contact.get("state") or "")) or False,
            "email": contact.get("email") or False,
            "phone": contact.get("phone") or False,
            "mobile": contact.get("mobile") or False,
            "vat": contact.get("vat") or False,
            "ref": contact.get("ref") or False,
            "lang": contact.get("lang") if contact.get("lang") in received.langs else False,
            "company_id": self.company_id.id,
        }

    def _import_states(self, customers):
        codes = {(c.get("country"), c.get("state")) for customer in customers
                 for c in (customer["contact"], *customer["children"]) if c.get("state") and c.get("country")}
        if not codes:
            return {}
        states = self.env["res.country.state"].search([
            ("country_id.code", "in", list({country for country, _code in codes})),
            ("code", "in", list({code for _country, code in codes})),
        ])
        return {(state.country_id.id, state.code): state.id for state in states}

    def _import_domains(self, received, customers):
        """{code, or name in a version 1 package: id} of the batch's business domains; missing ones created.

        A domain this database holds under another code but the same English name is that domain: names of
        domains are unique in a database."""
        named = {}
        for customer in customers:
            for key, name in self._import_domain_keys(received, customer):
                named.setdefault(key, name)
        model = self.env["customer.business.domain"].with_context(lang="en_US")
        found = {}
        if received.version >= 2:
            found = {domain.code: domain.id for domain in model.search([("code", "in", list(named))])}
        by_name = {domain.name: domain.id for domain in model.search(
            [("name", "in", [named[key] for key in named if key not in found])])}
        found.update({key: by_name[named[key]] for key in named if key not in found and named[key] in by_name})
        missing = sorted(set(named) - set(found))
        if missing:
            created = model.create([
                {"name": named[key], **({"code": key} if received.version >= 2 else {})} for key in missing
            ])
            found.update(zip(missing, created.ids, strict=True))
        return found

    def _import_domain_keys(self, received, customer):
        """(key, English name) of a customer's business domains: codes from version 2, names before."""
        classification = customer["classification"]
        names = classification.get("domains") or []
        codes = classification.get("domain_codes") or [] if received.version >= 2 else names
        if len(codes) != len(names):
            self._import_fail(customer["line"], self.env._("its business domains and their codes differ in number."))
        return list(zip(codes, names, strict=True))


def package_customers(folder):
    """The customers of the package opened in ``folder``, one at a time."""
    for _kind, record in tp.iter_data(os.path.join(folder, tp.DATA), kinds=("customer",)):
        yield record


def package_key(version, record, name):
    """What a package's purpose or policy is matched on: its code; its English name in a version 1 package."""
    return record.get(f"{name}_code") if version >= 2 else record.get(name)


def release(env):
    """Write a finished batch and forget its records, so that memory stays flat in the package's size."""
    env.flush_all()
    env.invalidate_all()


def _kept_until(policy):
    """How long ``policy`` keeps a record, as a date counted from one same day: what the merge compares."""
    return retention_end_date(SOME_DAY, policy.period, policy.period_unit)


def _evidence(folder, path):
    with open(os.path.join(folder, *path.split("/")), "rb") as handle:
        return base64.b64encode(handle.read())
