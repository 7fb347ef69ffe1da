"""Writing a checklist workbook with xlsxwriter, row by row in constant memory; no Odoo import."""

import xlsxwriter

from .checklist import (
    CHECKLIST,
    CHECKLIST_WIDTHS,
    COVER,
    COVER_WIDTHS,
    DIGEST_WIDTH,
    FORMAT,
    MAX_ROWS,
    SIGNATURE_WIDTHS,
    SheetDigest,
    manifest_rows,
    row_height,
    wrapped_row_height,
)
from .signing import ChecklistError


class ChecklistWriter:
    """Writes the cover, then the checklist row by row, then the signatures, into ``output``.

    ``sheet_names``: the three sheet names; ``labels``: the signatures sheet's labels by key, with
    ``header`` giving its three column titles and ``digest`` the digest column's title.
    """

    def __init__(self, output, sheet_names, labels):
        if len(set(sheet_names)) != 3:
            raise ChecklistError("a checklist needs three distinct sheet names")
        self.sheet_names = list(sheet_names)
        self.labels = labels
        self.workbook = xlsxwriter.Workbook(output, {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        })
        self.workbook.set_properties({"title": labels.get("title", ""), "comments": labels.get("format", "")})
        self.sheets = [self.workbook.add_worksheet(name) for name in self.sheet_names]
        for sheet in self.sheets:
            # Handovers are signed on paper too: print each sheet landscape, one page wide and as many pages long
            # as it takes, header repeated.
            sheet.set_landscape()
            sheet.set_paper(9)
            sheet.fit_to_pages(1, 0)
            sheet.repeat_rows(0)
            sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
            sheet.set_footer("&L&A&R&P / &N")
        self.header_format = self.workbook.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
        # The checklist's many columns are narrow: its header and values wrap, each row as high as it needs.
        self.heading_format = self.workbook.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "border": 1, "valign": "top", "text_wrap": True}
        )
        self.wrap_format = self.workbook.add_format({"valign": "top", "text_wrap": True})
        self.digest_format = self.workbook.add_format({"valign": "top", "font_color": "#808080", "font_size": 8})
        self.cover = self.checklist = None
        self.checklist_widths = ()

    def write_cover(self, header, rows):
        """Write the cover table: a header and (label, value) rows."""
        sheet = self.sheets[0]
        self.cover = SheetDigest(COVER, len(header))
        sheet.set_column(0, 0, COVER_WIDTHS[0])
        sheet.set_column(1, 1, COVER_WIDTHS[1], self.wrap_format)
        sheet.set_column(2, 2, DIGEST_WIDTH, self.digest_format)
        for index, values in enumerate([header, *rows]):
            if height := row_height(values, (None, COVER_WIDTHS[1])):
                sheet.set_row(index, height)
            self._write(sheet, self.cover, index, values, self.header_format if index == 0 else None)
        sheet.freeze_panes(1, 0)
        # The digest column is for the verifier: the printed page shows what people read.
        sheet.print_area(0, 0, len(rows), len(header) - 1)

    def start_checklist(self, header, widths):
        lowest, highest = CHECKLIST_WIDTHS
        if len(widths) != len(header) or not all(lowest <= width <= highest for width in widths):
            raise ChecklistError(f"each checklist column is {lowest} to {highest} characters wide")
        sheet = self.sheets[1]
        self.checklist = SheetDigest(CHECKLIST, len(header))
        self.checklist_widths = tuple(widths)
        for column, width in enumerate(widths):
            sheet.set_column(column, column, width, self.wrap_format)
        sheet.set_column(len(header), len(header), DIGEST_WIDTH, self.digest_format)
        sheet.freeze_panes(1, 1)
        self._write_checklist_row(header, self.heading_format)

    def write_row(self, values):
        if self.checklist.rows > MAX_ROWS:
            raise ChecklistError(f"a checklist sheet holds at most {MAX_ROWS} rows")
        self._write_checklist_row(values, None)

    def manifest(self, handover, export, company, exported_at, format_=FORMAT):
        """The signatures sheet's rows up to the first signature: its header and the manifest."""
        last_column = self.checklist.columns
        self.sheets[1].autofilter(0, 0, self.checklist.rows - 1, last_column)
        self.sheets[1].print_area(0, 0, self.checklist.rows - 1, last_column - 1)
        header = [self.labels["header"]]
        return header + manifest_rows(
            self.labels, handover, export, company, exported_at, self.sheet_names, self.cover, self.checklist,
            format_,
        )

    def close(self, signature_sheet_rows):
        sheet = self.sheets[2]
        for column, width in enumerate(SIGNATURE_WIDTHS):
            sheet.set_column(column, column, width, self.wrap_format)
        sheet.freeze_panes(1, 0)
        for index, row in enumerate(signature_sheet_rows):
            if height := row_height(row, SIGNATURE_WIDTHS):
                sheet.set_row(index, height)
            for column, value in enumerate(row):
                if value:
                    sheet.write_string(index, column, value, self.header_format if index == 0 else None)
        self.workbook.close()

    def _write_checklist_row(self, values, cell_format):
        sheet, index = self.sheets[1], self.checklist.rows
        values, digest_text = self.checklist.add(values)
        if height := wrapped_row_height(values, self.checklist_widths):
            # In constant memory, a row's height is set before its cells are written.
            sheet.set_row(index, height)
        self._write_cells(sheet, index, values, digest_text, cell_format)
        _forget_row(sheet, index - 1)

    def _write(self, sheet, digest, index, values, cell_format):
        values, digest_text = digest.add(values)
        self._write_cells(sheet, index, values, digest_text, cell_format)

    def _write_cells(self, sheet, index, values, digest_text, cell_format):
        for column, value in enumerate(values):
            if value:
                sheet.write_string(index, column, value, cell_format)
        sheet.write_string(index, len(values), digest_text, self.digest_format)


def _forget_row(sheet, row):
    """Drop what xlsxwriter keeps of a row it has written out.

    In constant memory, xlsxwriter writes a row out as soon as the next one starts, yet keeps the height of every
    row it was given (``set_rows`` up to 3.0, ``row_info`` after, and ``row_sizes``, which only places images):
    about 400 bytes a row, 400 MB for a checklist of a million customers.
    """
    for table in ("set_rows", "row_info", "row_sizes"):
        getattr(sheet, table, {}).pop(row, None)
