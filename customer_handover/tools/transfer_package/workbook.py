"""customers.xlsx: the package's customers and items for people, written with xlsxwriter in constant memory."""

import os

from .format import PackageError


class Workbook:
    """customers.xlsx, for people: a cover sheet, one row per customer, one per item; all text."""

    CUSTOMER_COLUMNS = (
        ("Line", "line"), ("Reference", "contact.ref"), ("Name", "contact.name"), ("Kind", "contact.kind"),
        ("Email", "contact.email"), ("Phone", "contact.phone"), ("Mobile", "contact.mobile"),
        ("Address", "contact.address"), ("VAT", "contact.vat"), ("Language", "contact.lang"),
        ("Child contacts", "children"), ("Customer type", "classification.customer_type"),
        ("Stage", "classification.stage"), ("Business domains", "classification.domains"),
        ("Sensitivity", "classification.sensitivity"), ("Consents", "consents"),
        ("Retention policy", "retention.policy"), ("Retention end", "retention.end_date"),
        ("Legal hold", "retention.legal_hold"), ("Checklist snapshot", "snapshot"),
    )
    ITEM_COLUMNS = (("Line", "line"), ("Item", "name"), ("Kind", "kind"), ("Status", "status"), ("Remarks", "remarks"))

    def __init__(self, path, manifest, cover):
        # Imported here: only the writer needs xlsxwriter, not the receiver's command.
        import xlsxwriter

        self.path = path
        self.book = xlsxwriter.Workbook(path, {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
            "strings_to_urls": False, "tmpdir": os.path.dirname(path),
        })
        bold = self.book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
        self.wrap = self.book.add_format({"valign": "top", "text_wrap": True})
        sheet = self.book.add_worksheet("Handover")
        sheet.set_column(0, 0, 30)
        sheet.set_column(1, 1, 80)
        rows = [(key, manifest[key]) for key in ("handover", "company", "package", "export", "created_at")]
        rows.append(("checklist_sha256", manifest["checklist_sha256"]))
        rows.extend(sorted(cover.items()))
        self._row(sheet, 0, ("Item", "Value"), bold)
        for number, row in enumerate(rows, start=1):
            self._row(sheet, number, row, self.wrap)
        self.customers = self.book.add_worksheet("Customers")
        self.items = self.book.add_worksheet("Items")
        for sheet, columns in ((self.customers, self.CUSTOMER_COLUMNS), (self.items, self.ITEM_COLUMNS)):
            sheet.freeze_panes(1, 0)
            # The columns carry the cells' format: each cell is written without one, and an empty one not at all.
            sheet.set_column(0, len(columns) - 1, 24, self.wrap)
            self._row(sheet, 0, [title for title, _key in columns], bold)
        self.rows = {"customers": 0, "items": 0}

    def customer(self, customer):
        self._add("customers", self.customers, self.CUSTOMER_COLUMNS, customer)

    def item(self, item):
        self._add("items", self.items, self.ITEM_COLUMNS, item)

    def _add(self, name, sheet, columns, record):
        self.rows[name] += 1
        if self.rows[name] >= 1048576:
            raise PackageError("the workbook holds at most 1,048,575 customers")
        self._row(sheet, self.rows[name], [_value(record, key) for _title, key in columns])

    @staticmethod
    def _row(sheet, number, values, cell_format=None):
        for column, value in enumerate(values):
            if text := _text(value):
                sheet.write_string(number, column, text[:32767], cell_format)

    def close(self):
        self.book.close()

    def discard(self):
        if not self.book.fileclosed:
            self.book.fileclosed = True


ADDRESS_KEYS = ("street", "street2", "zip", "city", "state", "country")


def _value(record, key):
    if key == "contact.address":
        contact = record.get("contact") or {}
        return ", ".join(str(contact[name]) for name in ADDRESS_KEYS if contact.get(name))
    for part in key.split("."):
        record = record.get(part) if isinstance(record, dict) else None
    if key == "children":
        return [child.get("name") for child in record or ()]
    if key == "consents":
        return "\n".join(
            f"{consent.get('purpose', '')}: {consent.get('status', '')} {consent.get('given_on') or ''}".strip()
            for consent in record or ()
        )
    return record


def _text(value):
    if value is None or value is False:
        return ""
    if value is True:
        return "yes"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_text(item)}" for key, item in sorted(value.items()))
    return str(value)
