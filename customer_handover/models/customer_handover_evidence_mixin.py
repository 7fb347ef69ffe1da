import contextvars
import logging
from contextlib import contextmanager
from typing import NamedTuple

from odoo import SUPERUSER_ID, api, models, tools
from odoo.exceptions import AccessError

_logger = logging.getLogger(__name__)

# The (model, field) pairs that the step running in this thread may set. A client sends JSON, never
# this variable: nothing in a request, its context included, can unlock a field.
_UNLOCKED = contextvars.ContextVar("customer_handover_unlocked", default=frozenset())
CREATE = "__create__"
# What a create call asks once for all its records (_CreateMemo), read back by the hooks Odoo calls per record.
_OWN_DEFAULTS = contextvars.ContextVar("customer_handover_own_defaults", default=None)
# The guard on create and on defaults covers the fields this addon declares, not those of the models it extends.
ADDON = "customer_handover"


def is_unlocked(model, field_name):
    """Whether the step running in this thread may set ``field_name`` of ``model``."""
    return (model, field_name) in _UNLOCKED.get()


@contextmanager
def evidence_step(model, *field_names):
    """Let the code inside this block set ``field_names`` of ``model`` (``CREATE``: create its records)."""
    token = _UNLOCKED.set(_UNLOCKED.get() | {(model, name) for name in field_names})
    try:
        yield
    finally:
        _UNLOCKED.reset(token)


class _CreateMemo(NamedTuple):
    """The guarded defaults of one create call, valid for the records of its model, user and unlocked steps."""

    key: tuple  # (model, uid, su): whose create call
    unlocked: frozenset  # the steps running then
    hidden: frozenset  # this addon's fields the user may not read
    preset: dict  # the guarded fields' own defaults, given to each record as values
    absent: tuple  # the guarded fields that take no default, whatever the context says


class CustomerHandoverEvidenceMixin(models.AbstractModel):
    """Fields that record a fact of the procedure are set by their step's method only.

    ``_evidence_fields``: set only inside ``evidence_step``; a new record may state their defaults.
    ``_immutable_fields``: given on create, changed afterwards only inside ``evidence_step`` (a move's step).
    ``_evidence_create``: records are created by their step only.
    Any other ``create`` or ``write`` of them is refused, whoever calls, and the attempt is logged.
    """

    _name = "customer.handover.evidence.mixin"
    _description = "Evidence Guarded by Its Step"
    _evidence_fields = ()
    _immutable_fields = ()
    _evidence_create = False

    @api.model
    def _setup_complete(self):
        """A model's evidence is every field its classes name, whichever extension of the model is loaded last.

        Each ``_inherit`` of a model may add its own facts (``_evidence_fields``): the registry's class would keep the
        last one's tuple only, and a fact named by an earlier extension alone would lose its guard.
        """
        result = super()._setup_complete()
        cls = type(self)
        cls._evidence_fields = tuple(dict.fromkeys(
            name for klass in reversed(cls.__mro__) for name in vars(klass).get("_evidence_fields", ())))
        return result

    @api.model_create_multi
    def create(self, vals_list):
        unlocked = self._check_create_values(vals_list)
        token = _OWN_DEFAULTS.set(self._create_memo(unlocked))
        try:
            return super().create(vals_list)
        finally:
            _OWN_DEFAULTS.reset(token)

    def _check_create_values(self, vals_list):
        """Refuse, and log, a create of these values outside their step; returns the steps running (unlocked)."""
        unlocked = _UNLOCKED.get()
        if self._evidence_create and (self._name, CREATE) not in unlocked:
            self._refuse_evidence([], "create")
        # Odoo checks a field's groups on write, not on create: this addon does for its own fields, a step's
        # own fields being its to set; other modules' fields are created as Odoo creates them.
        restricted = self._own_restricted_fields()
        given = {name for vals in vals_list for name, value in vals.items() if value and name in restricted}
        self.check_field_access_rights("create", sorted(name for name in given if (self._name, name) not in unlocked))
        locked = {name for name in self._evidence_fields if (self._name, name) not in unlocked}
        for vals in vals_list:
            refused = [name for name in vals if name in locked and not self._is_default_value(name, vals[name])]
            if refused:
                self._refuse_evidence(refused, "create")
        return unlocked

    def write(self, vals):
        unlocked = _UNLOCKED.get()
        refused = [
            name for name in vals
            if (name in self._evidence_fields and (self._name, name) not in unlocked)
            or (name in self._immutable_fields and (self._name, name) not in unlocked
                and self._changes(name, vals[name]))
        ]
        if refused:
            self._refuse_evidence(refused, "write")
        return super().write(vals)

    @api.model
    def default_get(self, fields_list):
        """Defaults of this addon's fields the user may not read are not told (the form does not show them either)."""
        values = super().default_get(fields_list)
        if self.env.is_superuser():  # reads every field; a create's computes ask defaults as superuser per record
            return values
        memo = _OWN_DEFAULTS.get()
        # Odoo asks the defaults once per record created: the create call has looked these fields up already
        hidden = memo.hidden if memo and memo.key == self._memo_key() else self._hidden_fields()
        if not hidden:
            return values
        return {name: value for name, value in values.items() if name not in hidden}

    def _add_missing_default_values(self, values):
        """Evidence, and the addon's fields the user may not read, take their own default, never the context's.

        A ``default_<field>`` key reaches every record created under that context: it sets no fact.
        """
        unlocked = _UNLOCKED.get()
        memo = _OWN_DEFAULTS.get()
        if not (memo and memo.key == self._memo_key() and memo.unlocked == unlocked):
            memo = self._create_memo(unlocked)
        # given as values (those without a default as placeholders, dropped below), Odoo does not ask these
        # defaults again for each record
        result = super()._add_missing_default_values({**memo.preset, **dict.fromkeys(memo.absent, False), **values})
        for name in memo.absent:
            if name not in values:
                result.pop(name, None)
        return result

    def _create_memo(self, unlocked):
        own = self._own_defaults(unlocked)
        # A default the INSERT would write as NULL is no value at all: the record goes without it, as without a
        # default. A value given still costs Odoo work per record (a many2one's inverses, its new record's cache).
        nothing = {name for name, default in own.items() if default is None or self._is_null_default(name, default)}
        return _CreateMemo(self._memo_key(), unlocked, self._hidden_fields(),
                           {name: default for name, default in own.items() if name not in nothing},
                           tuple(name for name in own if name in nothing))

    def _is_null_default(self, name, default):
        """Whether the default ``default`` of field ``name`` is stored as NULL, as no value is."""
        field = self._fields[name]
        return (field.store and field.column_type and not field.required
                and field.convert_to_column(default, self) is None)

    def _own_defaults(self, unlocked):
        """What a create sets in this addon's fields a record comes without (None: nothing), asked once per call.

        Evidence and the fields the user may not read take their own default, whatever the context says;
        the addon's other fields take what Odoo's ``default_get`` gives (the context, ``ir.default``, the
        field's default), which depends on the context and the company, not on the record. Odoo would ask
        them again for each record: a contact import paid that for each of the fields this addon adds to
        contacts. An x2many's default is left to Odoo, which makes commands of it.
        """
        hidden = self._hidden_fields()
        guarded = set(self._guarded_stored_fields())
        own, asked = {}, []
        for name in self._own_fields():
            field = self._fields[name]
            if name in guarded and ((name in self._evidence_fields and (self._name, name) not in unlocked)
                                    or name in hidden):
                own[name] = (field.convert_to_write(field.convert_to_cache(field.default(self), self), self)
                             if field.default else None)
            else:
                asked.append(name)
        defaults = self.default_get(asked) if asked else {}
        for name in asked:
            if name not in defaults:
                own[name] = None
            elif self._fields[name].type not in ("one2many", "many2many"):
                own[name] = defaults[name]
        return own

    def _own_fields(self):
        """The fields this addon declares on the model, computed once per model class (the magic ones aside)."""
        cls = type(self)
        if "_own" not in cls.__dict__:
            cls._own = tuple(name for name, field in self._fields.items()
                             if ADDON in field._modules and name not in models.MAGIC_COLUMNS)
        return cls._own

    def copy(self, default=None):
        """A copy keeps what the original holds, even in the addon's fields the user may not read.

        ``default`` sets none of them.
        """
        hidden = [name for name in self._hidden_fields() if self._fields[name].store and self._fields[name].copy]
        chosen = [name for name in hidden if (default or {}).get(name)]
        if chosen:
            self.check_field_access_rights("create", chosen)
        with evidence_step(self._name, *hidden):
            return super().copy(default)

    def _check_company(self, fnames=None):
        """Odoo's company check, one pass per company and field rather than per record.

        A step creates its lines, consents or contacts a thousand at a time: Odoo's check filters each record's
        values on their own. The same domain, applied once to the values of every record of one company, accepts
        exactly what it accepts record by record; any mismatch is left to Odoo's check, which names the records.
        """
        if len(self) < 2 or "company_id" not in self._fields or self._name == "res.company":
            return super()._check_company(fnames)
        if fnames is None or {"company_id", "company_ids"} & set(fnames):
            fnames = self._fields
        fields_ = [self._fields[name] for name in fnames]
        regular = [field.name for field in fields_
                   if field.relational and field.check_company and not field.company_dependent]
        dependent = [field.name for field in fields_
                     if field.relational and field.check_company and field.company_dependent]
        for company, records in self.grouped("company_id").items():
            for name in regular:
                values = records.sudo()[name]  # sudo: which company each value belongs to, as Odoo's check reads
                domain = values and values._check_company_domain(company)
                if domain and values != values.with_context(active_test=False).filtered_domain(domain):
                    return super()._check_company(fnames)
        return super()._check_company(dependent) if dependent else None

    def _own_restricted_fields(self):
        """The fields with groups that this addon declares, computed once per model class.

        The rest of the model (res.partner's fields of other modules) is left to Odoo, which does not check
        groups on create nor ignore a context default.
        """
        cls = type(self)
        if "_own_restricted" not in cls.__dict__:
            cls._own_restricted = frozenset(name for name, field in self._fields.items()
                                            if field.groups and ADDON in field._modules)
        return cls._own_restricted

    def _guarded_stored_fields(self):
        """Stored evidence fields and this addon's stored fields with groups, computed once per model class."""
        cls = type(self)
        if "_guarded_stored" not in cls.__dict__:
            restricted = self._own_restricted_fields()
            cls._guarded_stored = tuple(name for name, field in self._fields.items()
                                        if field.store and (name in self._evidence_fields or name in restricted))
        return cls._guarded_stored

    def _memo_key(self):
        # the context too: the defaults it gives (``default_<field>``) are the memo's
        return (self._name, self.env.uid, self.env.su, self.env.context)

    @tools.ormcache("self.env.uid", "self.env.su")
    def _hidden_fields(self):
        """This addon's fields this user may not read: asked once per user, not once per record created."""
        return frozenset(name for name in self._own_restricted_fields()
                         if not self._fields[name].is_accessible(self.env))

    def _changes(self, name, value):
        """Whether writing ``value`` would change field ``name`` of any of these records."""
        if self._fields[name].type == "many2one":
            return any(record[name].id != (value or False) for record in self)
        return any(record[name] != value for record in self)

    def _is_default_value(self, name, value):
        """Whether ``value`` is what a new record holds anyway: a form sends defaults with a new record."""
        field = self._fields[name]
        default = field.default(self) if field.default else False
        return not value or value == default

    def _refuse_evidence(self, field_names, operation):
        """Refuse an attempt to set evidence outside its step, naming the fields, and log the attempt."""
        self._log_refused_attempt(field_names, operation)
        labels = ", ".join(
            f"“{self._fields[name]._description_string(self.env)}”" for name in field_names
        ) or self.env._("new records")
        raise AccessError(
            self.env._(
                "%(fields)s of %(model)s are recorded by their step of the handover procedure and cannot be set "
                "directly; use that step's button.",
                fields=labels,
                model=self.env["ir.model"]._get(self._name).name,
            )
        )

    def _log_refused_attempt(self, field_names, operation):
        """Log the refused attempt once this transaction has rolled back.

        The refusal rolls the request back, log included: the entry is written in a transaction of its
        own. It holds ids and field names only, no value that was sent. Its repeats within a minute are
        counted into one entry (``customer.handover.event.refusal``), so no one floods the chain.
        """
        env = self.env
        company_id = (self._event_company_ids() or env.company.ids)[0]
        entry = {
            "company_id": company_id,
            "event": "evidence_refused",
            "res_model": self._name,
            "res_id": self.ids[0] if len(self) == 1 else False,
            "payload": {"operation": operation, "fields": sorted(field_names), "records": self.ids[:100]},
        }
        registry, uid = env.registry, env.uid

        def log_after_rollback():
            try:
                with registry.cursor() as cr:
                    if not registry.in_test_mode():
                        # Each statement sees what committed before it: the counter is read once the lock is held.
                        cr.execute(tools.SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
                    system = api.Environment(cr, SUPERUSER_ID, {})
                    system["customer.handover.event.refusal"]._record(entry, uid)
            except Exception:  # a failed log must not hide the refusal itself
                _logger.warning("A refused attempt on %s (%s) could not be logged.", entry["res_model"],
                                ", ".join(entry["payload"]["fields"]), exc_info=True)

        env.cr.postrollback.add(log_after_rollback)

    def _event_company_ids(self):
        """The companies whose event log records what happens to these records."""
        if "company_id" in self._fields:
            return self.sudo().company_id.ids  # sudo: only the ids of the records' companies are read
        return []
