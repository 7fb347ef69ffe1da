"""Reading an untrusted zip one way only: its entries back to back, nothing before, between or after them.

Used by the checklist's verifier (a workbook is a zip) and by the transfer package's opener.
Readers disagree on a zip that holds more than its entries (data around them, two entries of one name,
a local header that says something else than the central directory, a compressed stream that ends
early): such a file shows one thing in one program and another elsewhere, so it is refused. What a
writer may legitimately vary (flags, extra fields, stored parts) is reported as not the signing
program's, for the verifier to tell a re-saved file from the signed original. Each caller turns a
ZipProblem's code into its own finding.
"""

import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass

_END = struct.Struct("<4sHHHHIIH")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_DESCRIPTOR = struct.Struct("<III")
_END_SIGNATURE = b"PK\x05\x06"
_LOCAL_SIGNATURE = b"PK\x03\x04"
_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
DEFLATED = zipfile.ZIP_DEFLATED
# Flags a zip writer sets without changing what an entry holds: deflate options, a data descriptor, UTF-8 names.
WRITER_FLAGS = 0x2 | 0x4 | 0x8 | 0x800
# The characters of a workbook part's name: no backslash, no control character, nothing outside ASCII.
# Segments are never "." or "..", never empty.
_PART_NAME = re.compile(r"(?!.*(?:^|/)\.{1,2}(?:/|$))[A-Za-z0-9_.\-\[\]]+(?:/[A-Za-z0-9_.\-\[\]]+)*")
CHUNK = 1 << 20


class ZipProblem(Exception):
    """The zip can be read in more than one way, or not at all: ``code`` and ``params`` name where."""

    def __init__(self, code, **params):
        self.code = code
        self.params = params
        super().__init__(code)


@dataclass
class Entry:
    name: str
    info: zipfile.ZipInfo
    data_offset: int


def stated_count(stream, size):
    """The number of entries the zip's end record states, read before its central directory is parsed."""
    if size < _END.size:
        raise ZipProblem("not_zip")
    stream.seek(size - _END.size)
    signature, *_disks, count, _length, _offset, _comment = _END.unpack(stream.read(_END.size))
    if signature != _END_SIGNATURE:
        raise ZipProblem("not_zip")
    return count


def read_entries(stream, size):
    """Check the zip in ``stream`` (``size`` bytes) is its entries back to back; return them and what is unusual.

    Returns (entries in file order, [(entry name, field)] of what the signing program never writes).
    """
    try:
        archive = zipfile.ZipFile(stream)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise ZipProblem("not_zip") from error
    if size < _END.size:
        raise ZipProblem("not_zip")
    stream.seek(size - _END.size)
    signature, disk, start_disk, disk_count, count, directory_size, directory_offset, comment = _END.unpack(
        stream.read(_END.size)
    )
    if signature != _END_SIGNATURE or comment:
        raise ZipProblem("zip_outside", offset=size, size="?")
    if disk or start_disk or disk_count != count or count != len(infos) or count == 0xFFFF:
        raise ZipProblem("zip_method", entry="(central directory)", method="zip64", flags="multi-disk")
    if directory_offset + directory_size != size - _END.size:
        raise ZipProblem("zip_outside", offset=directory_offset + directory_size, size="?")
    check_names(infos, _not_a_part)
    entries, unusual = [], []
    offset = 0
    for info in sorted(infos, key=lambda item: item.header_offset):
        if info.header_offset != offset:
            raise ZipProblem("zip_outside", offset=offset, size=info.header_offset - offset)
        entry, end, notes = _read_local(stream, info)
        entries.append(entry)
        unusual.extend(notes)
        offset = end
    if offset != directory_offset:
        raise ZipProblem("zip_outside", offset=offset, size=directory_offset - offset)
    return entries, unusual


def check_names(infos, refused, listed=None):
    """Refuse, entry by entry, a name ``refused(info)`` gives a code for, a name given twice (compared
    without case), then a name ``listed(name)`` does not list (``zip_name``)."""
    seen = set()
    for info in infos:
        name = info.orig_filename
        if code := refused(info):
            raise ZipProblem(code, entry=name)
        folded = name.casefold()
        if folded in seen:
            raise ZipProblem("zip_duplicate", entry=name)
        seen.add(folded)
        if listed is not None and not listed(name):
            raise ZipProblem("zip_name", entry=name)


def _not_a_part(info):
    """``zip_name`` for a name no workbook part has, or one the central directory spells otherwise."""
    name = info.orig_filename
    return "zip_name" if name != info.filename or not _PART_NAME.fullmatch(name) else None


def unsafe_name(info):
    """Why extracting ``info`` could write outside its folder: zip_absolute, zip_traversal, zip_link; else None."""
    name = info.orig_filename
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "zip_absolute"
    if ".." in name.replace("\\", "/").split("/"):
        return "zip_traversal"
    kind = stat.S_IFMT(info.external_attr >> 16)
    if name.endswith("/") or info.external_attr & 0x10 or kind not in (0, stat.S_IFREG):
        return "zip_link"
    return None


def check_weight(entries, limits):
    """Refuse a zip bomb: an entry unpacking to over ``limits.max_ratio`` times its size (past ``ratio_floor``),
    or all of them together to over ``max_unpacked``."""
    total = 0
    for entry in entries:
        info = entry.info
        total += info.file_size
        if info.file_size > max(limits.ratio_floor, info.compress_size * limits.max_ratio):
            raise ZipProblem("zip_bomb", entry=entry.name)
        if total > limits.max_unpacked:
            raise ZipProblem("zip_bomb", entry=entry.name)


def _read_local(stream, info):
    """The entry at ``info.header_offset``, the offset just after it, and what its writer did unusually."""
    name = info.orig_filename
    if info.flag_bits & ~WRITER_FLAGS or info.compress_type not in (DEFLATED, zipfile.ZIP_STORED):
        raise ZipProblem("zip_method", entry=name, method=info.compress_type, flags=hex(info.flag_bits))
    if info.file_size >= 0xFFFFFFFF or info.compress_size >= 0xFFFFFFFF or info.header_offset >= 0xFFFFFFFF:
        raise ZipProblem("zip_method", entry=name, method="zip64", flags=hex(info.flag_bits))
    stream.seek(info.header_offset)
    header = stream.read(_LOCAL.size)
    if len(header) != _LOCAL.size:
        raise ZipProblem("zip_mismatch", entry=name)
    (signature, _version, flags, method, _time, _date, crc, compressed, size, name_length,
     extra_length) = _LOCAL.unpack(header)
    raw_name = stream.read(name_length)
    encoding = "utf-8" if flags & 0x800 else "cp437"
    descriptor = bool(flags & 0x8)
    if (signature != _LOCAL_SIGNATURE or flags != info.flag_bits or method != info.compress_type
            or raw_name.decode(encoding, "replace") != name
            or (not descriptor and (crc, compressed, size) != (info.CRC, info.compress_size, info.file_size))):
        raise ZipProblem("zip_mismatch", entry=name)
    data_offset = info.header_offset + _LOCAL.size + name_length + extra_length
    end = data_offset + info.compress_size
    notes = []
    if descriptor:
        end = _read_descriptor(stream, info, end)
        notes.append((name, "data descriptor"))
    if flags & ~0x8:
        notes.append((name, f"flags {flags:#x}"))
    if method != DEFLATED:
        notes.append((name, "stored uncompressed"))
    if extra_length or info.extra or info.comment:
        notes.append((name, "extra field"))
    return Entry(name, info, data_offset), end, notes


def _read_descriptor(stream, info, offset):
    stream.seek(offset)
    head = stream.read(4)
    if head == _DESCRIPTOR_SIGNATURE:
        offset += 4
    else:
        stream.seek(offset)
    values = stream.read(_DESCRIPTOR.size)
    if len(values) != _DESCRIPTOR.size or _DESCRIPTOR.unpack(values) != (info.CRC, info.compress_size, info.file_size):
        raise ZipProblem("zip_mismatch", entry=info.orig_filename)
    return offset + _DESCRIPTOR.size


def iter_content(stream, entry, chunk=CHUNK):
    """Yield the unpacked bytes of ``entry`` in pieces of at most ``chunk``, checking its compressed data.

    A deflate stream that stops early, goes on past its stated size, or unpacks to other bytes than its
    CRC says is refused: another reader could stop elsewhere.
    """
    info = entry.info
    remaining = info.compress_size
    produced = 0
    crc = 0
    inflater = zlib.decompressobj(-15) if info.compress_type == DEFLATED else None
    position = entry.data_offset
    try:
        while remaining:
            stream.seek(position)
            pending = stream.read(min(chunk, remaining))
            if not pending:
                raise ZipProblem("zip_stream", entry=entry.name)
            position += len(pending)
            remaining -= len(pending)
            while pending:
                if inflater is None:
                    data, pending = pending, b""
                else:
                    data = inflater.decompress(pending, chunk)
                    pending = inflater.unconsumed_tail
                produced += len(data)
                if produced > info.file_size:
                    raise ZipProblem("zip_stream", entry=entry.name)
                crc = zlib.crc32(data, crc)
                yield data
            if inflater is not None and (inflater.unused_data or (inflater.eof and remaining)):
                raise ZipProblem("zip_stream", entry=entry.name)
        if inflater is not None and not inflater.eof:
            raise ZipProblem("zip_stream", entry=entry.name)
    except zlib.error as error:
        raise ZipProblem("zip_stream", entry=entry.name) from error
    if produced != info.file_size or crc != info.CRC:
        raise ZipProblem("zip_stream", entry=entry.name)
