"""SHA-256 of files read in chunks, never whole: packages and workbooks of hundreds of megabytes.

``hashlib.file_digest`` does the same from Python 3.11 on; Odoo 18 runs on 3.10 too.
"""

import hashlib

from .strict_zip import CHUNK


def sha256_stream(handle):
    """The hex SHA-256 of what is left to read in the binary file ``handle``."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path):
    """The hex SHA-256 of the file at ``path``."""
    with open(path, "rb") as handle:
        return sha256_stream(handle)
