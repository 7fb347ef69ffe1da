"""Lines kept in blocks compressed one by one, so that a reader starts at any block without reading those before it.

A package's data.json is compressed whole in its zip: reaching its millionth customer decompresses every customer
before it. A preview in batches reads the customers from a file of these blocks instead, each batch from the block
where the batch before it stopped. A block is its compressed size (4 bytes, big-endian), then its lines, joined by
newlines and compressed with zlib.
"""

import struct
import zlib

BLOCK_LINES = 250
_SIZE = struct.Struct(">I")


class BlocksError(ValueError):
    """The file of blocks is cut short or is not one."""


def write_blocks(lines, target, block_lines=BLOCK_LINES):
    """Write ``lines`` (bytes, without newlines) to the binary file ``target``, ``block_lines`` a block; returns how
    many lines were written."""
    block, count = [], 0
    for line in lines:
        if b"\n" in line:
            raise BlocksError("a line holds a newline")
        block.append(line)
        count += 1
        if len(block) == block_lines:
            _write_block(target, block)
            block = []
    if block:
        _write_block(target, block)
    return count


def _write_block(target, block):
    data = zlib.compress(b"\n".join(block), 1)
    target.write(_SIZE.pack(len(data)))
    target.write(data)


def read_blocks(source, offset=0):
    """The blocks of the binary file ``source`` from the one at byte ``offset`` to the end: (its offset, the offset
    of the next block, its lines) each."""
    source.seek(offset)
    while size := source.read(_SIZE.size):
        if len(size) < _SIZE.size:
            raise BlocksError("the file ends inside a block's size")
        data = source.read(_SIZE.unpack(size)[0])
        if len(data) < _SIZE.unpack(size)[0]:
            raise BlocksError("the file ends inside a block")
        try:
            lines = zlib.decompress(data).split(b"\n")
        except zlib.error as error:
            raise BlocksError(f"a block does not decompress: {error}") from error
        after = offset + _SIZE.size + len(data)
        yield offset, after, lines
        offset = after
