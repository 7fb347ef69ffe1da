"""Reading and verifying a signed checklist workbook: needs cryptography and openpyxl, never Odoo.

A workbook is valid only in the canonical package its writer produces (checklist_package): the
verifier reads the zip one way only (strict_zip), rebuilds from the signed content how each
sheet must look (cell formats, row heights, columns, panes, print settings) and compares. The sheets
are read straight from their XML, streamed, in flat memory: a verifier must see what is stored
(formulas, types, hidden sheets), never a cached result, and must keep up with the export on
100,000 rows.

One file per job: ``api`` (verify), ``results`` (findings, messages, limits), ``package`` (the zip and
its parts), ``verifier`` (signatures and digests), ``layout`` (how each sheet must look), ``sheet``
(reading a sheet's rows).
"""

from .api import read_source, verify
from .package import sheet_parts
from .results import (
    CONTENT_FINDINGS,
    EXIT_CODES,
    MESSAGES,
    TRUST_FINDINGS,
    Finding,
    Limits,
    RefusedChecklist,
    Result,
    Signer,
    UnreadableChecklist,
)
from .sheet import CELL_REFERENCE, MAIN
