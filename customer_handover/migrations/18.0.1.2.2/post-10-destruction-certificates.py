"""Destruction certificates of 18.0.1.2.1 become served evidence files, held by their request.

18.0.1.2.1 kept a run's signed certificate in the binary field ``certificate_file`` (an attachment of the request in
that field's place, marked "kept" when the run ended) and its file name in ``certificate_filename``. That same
attachment becomes the request's ``certificate_attachment_id``: it leaves the field's place, takes the name the
request gave it and the request's company, and is served by the request's download only, as a certificate of a run
that ends now. Only where a file is kept and who may reach it change: no byte of the file, no checksum, and no fact
of the request (its ``certificate_sha256`` included); the request gains the new field's value. A file is taken for
the certificate only when its SHA-256 is the request's ``certificate_sha256``: any other is left where it is, named
in the server log. A request that recorded a certificate's SHA-256 and is left without its file (none kept, or none
that is it: an attachment 18.0.1.2.1 did not mark as kept is not taken, since nothing says it is the run's) is named
in the server log too: its download stays refused until an administrator restores the file. Like the upgrade to
18.0.1.2.0, which moved the exports' files, nothing is logged in the event log: no fact of the procedure changes.

``certificate_filename`` is read here: Odoo drops the columns of removed fields at the very end of the upgrade
(``ir.model.data._process_end``), after every post- script. A database whose column is gone already (upgraded to a
development build of 18.0.1.2.1 without this script) gets the same name, made from the request's as 18.0.1.2.1 did.
"""

import logging

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL
from odoo.tools.sql import column_exists

_logger = logging.getLogger(__name__)

REQUEST = "customer.destruction.request"
FIELD = "certificate_file"


def migrate(cr, version):
    # The name 18.0.1.2.1 wrote in certificate_filename when the run ended.
    made = SQL("replace(request.name, '/', '-') || '-certificate.xlsx'")
    name = (SQL("COALESCE(NULLIF(request.certificate_filename, ''), %s)", made)
            if column_exists(cr, "customer_destruction_request", "certificate_filename") else made)
    cr.execute(SQL(
        """SELECT request.id, request.name, request.certificate_sha256, %s,
                  attachment.id, attachment.store_fname, attachment.db_datas
             FROM customer_destruction_request request
             JOIN ir_attachment attachment
               ON attachment.res_model = %s AND attachment.res_field = %s AND attachment.res_id = request.id
              AND attachment.handover_evidence IS NOT NULL
            WHERE request.certificate_attachment_id IS NULL
         ORDER BY request.id, attachment.id""",
        name, REQUEST, FIELD,
    ))
    rows = cr.fetchall()
    if rows:
        _serve(cr, rows)
    cr.execute(SQL(
        """SELECT name, certificate_sha256 FROM customer_destruction_request
            WHERE certificate_attachment_id IS NULL AND certificate_sha256 IS NOT NULL ORDER BY id"""))
    for request_name, digest in cr.fetchall():
        _logger.warning("Destruction request %s: none of its kept files is its signed certificate (SHA-256 %s); its "
                        "download stays refused until the file is restored.", request_name, digest)


def _serve(cr, rows):
    """Serve by its request each certificate of ``rows`` whose SHA-256 is the request's."""
    attachments = api.Environment(cr, SUPERUSER_ID, {})["ir.attachment"]
    moved = {}  # request id: (attachment id, file name)
    for request_id, request_name, digest, file_name, attachment_id, store_fname, db_datas in rows:
        if request_id in moved:
            continue
        # Read in chunks from the filestore: the file itself is never written.
        if digest and attachments._handover_content_sha256(store_fname, db_datas) == digest:
            moved[request_id] = (attachment_id, file_name)
        else:
            _logger.warning("Destruction request %s: file %s is not its signed certificate (SHA-256 %s); left where "
                            "it is.", request_name, attachment_id, digest)
    if not moved:
        return
    request_ids = list(moved)
    attachment_ids = [attachment_id for attachment_id, _name in moved.values()]
    file_names = [file_name for _id, file_name in moved.values()]
    # As _job_destroyed keeps a certificate now: the request's, its company's, served by the request's download only.
    cr.execute(SQL(
        """UPDATE ir_attachment
              SET res_field = NULL, name = data.name, company_id = request.company_id, handover_evidence = 'served'
             FROM unnest(%s::int[], %s::int[], %s::varchar[]) AS data(request_id, attachment_id, name),
                  customer_destruction_request request
            WHERE ir_attachment.id = data.attachment_id AND request.id = data.request_id""",
        request_ids, attachment_ids, file_names,
    ))
    cr.execute(SQL(
        """UPDATE customer_destruction_request
              SET certificate_attachment_id = data.attachment_id
             FROM unnest(%s::int[], %s::int[]) AS data(request_id, attachment_id)
            WHERE customer_destruction_request.id = data.request_id""",
        request_ids, attachment_ids,
    ))
    attachments.env.invalidate_all()
    _logger.info("%s destruction certificates are now served by their request's download.", len(moved))
