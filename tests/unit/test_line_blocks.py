import io

import pytest
from customer_handover_tools.line_blocks import BlocksError, read_blocks, write_blocks


def lines(count):
    return [b'{"line": %d, "name": "\xe5\xae\xa2\xe6\x88\xb7 %d"}' % (number, number) for number in range(1, count + 1)]


def test_the_blocks_give_back_every_line_in_order():
    target = io.BytesIO()
    assert write_blocks(iter(lines(1001)), target, block_lines=100) == 1001
    blocks = list(read_blocks(io.BytesIO(target.getvalue())))
    assert [len(block) for _offset, _after, block in blocks] == [100] * 10 + [1]
    assert [line for _offset, _after, block in blocks for line in block] == lines(1001)
    assert [offset for offset, _after, _block in blocks[1:]] == [after for _offset, after, _block in blocks[:-1]]
    assert blocks[-1][1] == len(target.getvalue())


def test_a_reader_starts_at_any_block_without_the_ones_before_it():
    target = io.BytesIO()
    write_blocks(iter(lines(1000)), target, block_lines=100)
    data = target.getvalue()
    offset = list(read_blocks(io.BytesIO(data)))[7][0]
    # the blocks before it are not there at all: what is read starts at the eighth block
    tail = io.BytesIO(b"\0" * offset + data[offset:])
    first = next(read_blocks(tail, offset))
    assert first[2][0] == lines(1000)[700]


def test_no_lines_make_an_empty_file():
    target = io.BytesIO()
    assert write_blocks(iter([]), target) == 0
    assert list(read_blocks(io.BytesIO(target.getvalue()))) == []


@pytest.mark.parametrize("cut", [2, 10])
def test_a_file_cut_short_is_refused(cut):
    target = io.BytesIO()
    write_blocks(iter(lines(10)), target)
    with pytest.raises(BlocksError):
        list(read_blocks(io.BytesIO(target.getvalue()[:cut])))


def test_a_block_that_does_not_decompress_is_refused():
    target = io.BytesIO()
    write_blocks(iter(lines(10)), target)
    data = bytearray(target.getvalue())
    data[6:10] = b"XXXX"
    with pytest.raises(BlocksError):
        list(read_blocks(io.BytesIO(bytes(data))))


def test_a_line_with_a_newline_is_refused():
    with pytest.raises(BlocksError):
        write_blocks(iter([b"one\ntwo"]), io.BytesIO())
