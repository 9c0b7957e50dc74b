"""A bad row of the subscriber CSV is that row's problem: named as file:line, skipped, and
everyone else mailed; never one row's text in another subscriber's message."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import Project

from newsletter.subscribers.csvfile import BadRow, encoding_problems, read_subscribers

DAY = "2026-11-27"
LIST = "subscribers/subscribers.csv"
STRAY_QUOTE = (
    'email,name\nann@example.com,Ann\nyan@example.com,"Yan unterminated\nzed@example.com,Zed\n'
)


def send(project: Project, url: str):
    return project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})


def outbox(project: Project) -> list[bytes]:
    folder = project.path / "outbox" / "new"
    return [p.read_bytes() for p in folder.iterdir()] if folder.exists() else []


def test_a_stray_quote_is_named_with_the_lines_it_swallows(project: Project, smtp) -> None:
    recorder, url = smtp
    project.write(LIST, STRAY_QUOTE)

    check = project.run("subscribers", "check")
    run = send(project, url)

    assert check.code == 2
    assert "subscribers.csv:3: unbalanced quote swallows line 4" in check.err
    assert "1 subscriber, 1 bad row" in check.out
    assert run.code == 1  # someone on the list was skipped
    assert "subscribers.csv:3: unbalanced quote swallows line 4" in run.err
    assert "; skipped" in run.err
    assert "1 sent, 1 invalid" in run.out
    assert [r.recipients for r in recorder.received] == [["ann@example.com"]]
    for received in recorder.received:  # nobody's text in another's headers or greeting
        assert b"zed@example.com" not in received.data and b"unterminated" not in received.data


def test_a_quote_closed_rows_later_and_a_real_multiline_value(project: Project) -> None:
    project.write(
        LIST,
        "email,name,notes\n"
        'ann@example.com,Ann,"met at the fair,\ncall back, later"\n'  # a note over two lines
        'yan@example.com,"Yan\n'
        "zed@example.com,Zed\n"
        'amy@example.com,"Amy"\n'
        "bob@example.com,Bob\n",
    )

    check = project.run("subscribers", "check")
    listed = project.run("subscribers", "list")

    assert check.code == 2
    assert check.err.splitlines() == [
        f"newsletter: {project.path / LIST}:4: unbalanced quote swallows lines 5-6 "
        "(close the quote or remove it)"
    ]
    assert [line.split("\t")[0] for line in listed.out.splitlines()] == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_rows_with_more_values_than_the_header(project: Project) -> None:
    project.write(
        LIST,
        "email,name\nann@example.com,Ann,extra\ntrailing@example.com,Comma,\nok@example.com,Ok\n",
    )

    check = project.run("subscribers", "check")

    assert check.code == 2
    assert "subscribers.csv:2: 3 values but the header has 2 columns" in check.err
    assert "subscribers.csv:3" not in check.err  # an empty cell past the header loses nothing
    assert "2 subscribers, 1 bad row" in check.out


def test_a_quote_that_runs_past_the_csv_field_limit_does_not_stop_the_send(
    project: Project,
) -> None:
    lines = ["email,name", "ann@example.com,Ann", 'yan@example.com,"Yan']
    lines += [f"r{i:05d}@example.com,Reader {i}" for i in range(6000)]  # ~190 KB swallowed
    project.write(LIST, "\n".join(lines) + "\n")

    run = project.run("send", "--date", DAY)

    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    assert "subscribers.csv:3: not valid CSV: field larger than field limit" in run.err
    assert "(an unbalanced quote?)" in run.err
    sent = outbox(project)
    assert any(b"<ann@example.com>" in m for m in sent)
    assert not any(b"<yan@example.com>" in m for m in sent)


def big_list_with_a_bad_byte(path: Path) -> int:
    """3,000 good rows, one with the byte 0xFF in its name, 100 more; returns its offset."""
    head = "email,name\n" + "".join(f"good{i:04d}@example.com,Good {i}\n" for i in range(3000))
    tail = "".join(f"more{i:03d}@example.com,More {i}\n" for i in range(100))
    data = head.encode() + b"bad@example.com,Bad \xff name\n" + tail.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data.index(b"\xff")


def test_invalid_utf8_deep_in_the_list_skips_that_row_only(project: Project) -> None:
    offset = big_list_with_a_bad_byte(project.path / LIST)

    check = project.run("subscribers", "check")
    run = project.run("send", "--date", DAY)
    rerun = project.run("send", "--date", DAY)

    assert check.code == 2
    assert "subscribers.csv:3002: not UTF-8 text: byte 0xff in this row" in check.err
    assert "3100 subscribers, 1 bad row" in check.out
    assert run.code == 1, run.err
    expected = f"subscribers.csv:3002: not UTF-8 text: byte 0xff at byte {offset:,} of the file"
    assert run.err.count("subscribers.csv:3002") == 1 and expected in run.err
    assert "3100 sent, 1 invalid" in run.out
    assert len(outbox(project)) == 3100
    assert not any(b"<bad@example.com>" in m for m in outbox(project))
    assert rerun.code == 1  # still owed to the bad row: said again until it is fixed
    assert "nothing new to send" in rerun.out and "1 unusable row of the list skipped" in rerun.out


def test_a_rewrite_keeps_bytes_that_are_not_utf8(project: Project) -> None:
    path = project.path / LIST
    path.write_bytes(b"email,name\r\nann@example.com,Ann\r\nbad@example.com,Caf\xe9\r\n")

    run = project.run("subscribers", "unsubscribe", "ann@example.com")

    assert run.code == 0, run.err
    assert path.read_bytes() == (
        b"email,name,status\r\nann@example.com,Ann,unsubscribed\r\nbad@example.com,Caf\xe9,\r\n"
    )


def test_a_header_that_is_not_utf8_is_an_input_error(project: Project) -> None:
    (project.path / LIST).write_bytes(b"email,n\xe4me\nann@example.com,Ann\n")

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert "subscribers.csv:1: not UTF-8 text: byte 0xe4 in the header row" in run.err


def test_no_row_is_added_inside_a_quote_left_open(project: Project) -> None:
    path = project.path / LIST
    project.write(LIST, STRAY_QUOTE)
    before = path.read_bytes()

    added = project.run("subscribers", "add", "new@example.com")
    unsubscribed = project.run("subscribers", "unsubscribe", "ann@example.com")

    assert added.code == 2
    assert "subscribers.csv:3: a quote opened here runs to the end of the file" in added.err
    assert unsubscribed.code == 0, unsubscribed.err  # edits still work, the typo kept as is
    assert path.read_bytes() == before.replace(b"email,name\n", b"email,name,status\n").replace(
        b"ann@example.com,Ann\n", b"ann@example.com,Ann,unsubscribed\n"
    )


def test_the_encoding_scan_agrees_with_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(
        b"\xef\xbb\xbfemail,name\n"
        + "a@example.com,Zoë\n".encode()
        + b"b@example.com,\xc3\n"  # a cut sequence
        + b"c@example.com,\xe9\xe9\n"  # two bad bytes, one line
        + "d@example.com,Zoë\n".encode()
    )

    scanned = [p.line for p in encoding_problems(path)]
    read = [r.line for r in read_subscribers(path) if isinstance(r, BadRow)]

    assert scanned == read == [3, 4]


def test_the_encoding_scan_reads_lines_longer_than_its_chunks(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    long = "é" * (1 << 20)  # 2 MB without a newline: two-byte sequences across chunk ends
    path.write_bytes(f"email,name\na@example.com,{long}\n".encode() + b"b@example.com,\xff\n")

    assert [p.line for p in encoding_problems(path)] == [3]


@pytest.mark.parametrize(
    "text",
    [
        'email,name\nann@example.com,"Ann\n',  # an open quote on the last line: one row
        'email,name\nann@example.com,"Ann, ""the"" first"\n',
    ],
)
def test_values_that_are_fine(tmp_path: Path, text: str) -> None:
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    (row,) = list(read_subscribers(path))
    assert not isinstance(row, BadRow)


def test_the_list_stays_readable_by_csv_readers_after_a_rewrite(project: Project) -> None:
    project.run("subscribers", "add", "new@example.com", "--name", "=1+1")
    with (project.path / LIST).open(encoding="utf-8", newline="") as handle:
        table = {r["email"]: r for r in csv.DictReader(handle)}
    assert table["new@example.com"]["name"] == "=1+1"  # data: never altered in the list
    assert table["ada@example.com"]["city"] == "London"
