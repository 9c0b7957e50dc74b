"""`newsletter subscribers import`: real exports' header layouts, nasty rows, and the rule
that an import never re-subscribes anyone."""

from __future__ import annotations

import csv

import pytest
from conftest import Project

from newsletter.subscribers.imports import parse_export

MAILCHIMP = (
    '\ufeff"Email Address","First Name","Last Name","Address","Phone Number","MEMBER_RATING",'
    '"OPTIN_TIME","OPTIN_IP","CONFIRM_TIME","CONFIRM_IP","LATITUDE","LONGITUDE","GMTOFF",'
    '"DSTOFF","TIMEZONE","CC","REGION","LAST_CHANGED","LEID","EUID","NOTES","TAGS"\r\n'
    '"mae@example.com","Mae","Jemison, PhD",,,2,"2024-01-02 10:00:00",,,,,,,,,,,'
    '"2024-01-02 10:00:00",123,abc,,"""vip"""\r\n'
    '"Dup@Example.com","Dup","One",,,2,,,,,,,,,,,,,1,a,,\r\n'
    '"dup@example.com","","",,,2,,,,,,,,,,,,,2,b,,\r\n'
    '"not an address","Bad","Row",,,2,,,,,,,,,,,,,3,c,,\r\n'
)
MAILCHIMP_UNSUBSCRIBED = (
    '"Email Address","First Name","Last Name","UNSUB_TIME","UNSUB_CAMPAIGN_TITLE"\n'
    '"ada@example.com","Ada","Lovelace","2024-03-01 08:00:00","Weekly"\n'
)
GHOST = (
    "id;email;name;note;subscribed_to_emails;complimentary_plan;stripe_customer_id;"
    "created_at;deleted_at;labels;tiers\n"
    '1;gh@example.com;"Ghost, Writer";;true;false;;2024-01-01T00:00:00.000Z;;"news,vip";\n'
    "2;quiet@example.com;Quiet;;false;false;;2024-01-01T00:00:00.000Z;;;\n"
    '3;crlf@example.com;"Evil\r\nBcc: victim@example.com";;true;false;;2024;;;\n'
)
LISTMONK = (
    "uuid\temail\tname\tattributes\tstatus\tcreated_at\tupdated_at\n"
    'u1\tlm@example.com\tLíst Monk\t"{""city"": ""Bern"", ""tier"": 2, ""nested"": {""a"": 1}}"'
    "\tenabled\t2024\t2024\n"
    "u2\tblocked@example.com\tBlocked\t{}\tblocklisted\t2024\t2024\n"
)
SUBSTACK = (
    "email,active_subscription,expiry,plan,email_disabled,title,comp,gift,"
    "subscription_created_at\n"
    "ss@example.com,true,,yearly,false,,false,false,2024-01-01\n"
    "off@example.com,false,,,true,,false,false,2024-01-01\n"
)


def rows(project: Project) -> dict[str, dict[str, str]]:
    path = project.path / "subscribers" / "subscribers.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {r["email"].lower(): r for r in csv.DictReader(handle)}


def export(project: Project, name: str, data: bytes) -> str:
    (project.path / name).write_bytes(data)
    return name


def test_mailchimp_export_with_bom_quoted_commas_duplicates_and_a_bad_row(
    project: Project,
) -> None:
    run = project.run("subscribers", "import", export(project, "mc.csv", MAILCHIMP.encode()))

    assert run.code == 0, run.err
    assert "(mailchimp, utf-8, ',')" in run.out
    assert "2 added, 0 updated, 0 unchanged, 1 duplicate merged, 1 rejected" in run.out
    assert "rejected: mc.csv:5: invalid address 'not an address'" in run.err
    table = rows(project)
    assert table["mae@example.com"]["name"] == "Mae Jemison, PhD"
    assert table["mae@example.com"]["last_name"] == "Jemison, PhD"
    assert table["mae@example.com"]["tags"] == '"vip"'
    assert table["dup@example.com"]["name"] == "Dup One"  # one row for both cases
    assert table["ada@example.com"]["city"] == "London"  # existing columns kept
    assert "leid" not in table["ada@example.com"]  # Mailchimp's internals not imported


def test_an_opt_out_in_an_export_is_honoured_and_nobody_is_resubscribed(project: Project) -> None:
    unsub = export(project, "unsub.csv", MAILCHIMP_UNSUBSCRIBED.encode())
    assert project.run("subscribers", "import", unsub).code == 0
    assert rows(project)["ada@example.com"]["status"] == "unsubscribed"

    # Alan unsubscribed (CSV), Ada just did (export), Zoë unsubscribes then is removed:
    assert project.run("subscribers", "unsubscribe", "zoe@example.com").code == 0
    assert project.run("subscribers", "remove", "zoe@example.com").code == 0
    plain = "email,name\nalan@example.com,Alan\nADA@example.com,Ada\nzoe@example.com,Zoë\n"
    run = project.run("subscribers", "import", export(project, "p.csv", plain.encode()))

    assert run.code == 0, run.err
    table = rows(project)
    assert table["alan@example.com"]["status"] == "unsubscribed"
    assert table["ada@example.com"]["status"] == "unsubscribed"
    assert "zoe@example.com" not in table
    assert "p.csv:4: zoe@example.com unsubscribed or bounced earlier; an import never" in run.err


def test_ghost_export_with_semicolons_and_a_crlf_in_a_name(project: Project) -> None:
    run = project.run("subscribers", "import", export(project, "ghost.csv", GHOST.encode()))

    assert run.code == 0, run.err
    assert "(ghost, utf-8, ';')" in run.out
    table = rows(project)
    assert table["gh@example.com"]["name"] == "Ghost, Writer"
    assert table["gh@example.com"]["labels"] == "news,vip"
    assert table["quiet@example.com"]["status"] == "unsubscribed"
    assert table["crlf@example.com"]["name"] == "Evil Bcc: victim@example.com"
    assert project.run("subscribers", "check").code == 0


def test_listmonk_export_with_tabs_and_json_attributes(project: Project) -> None:
    run = project.run("subscribers", "import", export(project, "lm.tsv", LISTMONK.encode()))

    assert run.code == 0, run.err
    assert "(listmonk, utf-8, '\\t')" in run.out
    table = rows(project)
    assert table["lm@example.com"]["name"] == "Líst Monk"
    assert (table["lm@example.com"]["city"], table["lm@example.com"]["tier"]) == ("Bern", "2")
    assert table["blocked@example.com"]["status"] == "unsubscribed"


def test_substack_export(project: Project) -> None:
    run = project.run("subscribers", "import", export(project, "ss.csv", SUBSTACK.encode()))
    assert run.code == 0 and "(substack," in run.out
    table = rows(project)
    assert (table["ss@example.com"]["status"], table["ss@example.com"]["plan"]) == (
        "active",
        "yearly",
    )
    assert table["off@example.com"]["status"] == "unsubscribed"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("new@example.com,Zoë Ñúñez\nother@example.com\n".encode(), "utf-8"),
        ("new@example.com,Zoë Ñúñez\nother@example.com\n".encode("cp1252"), "windows-1252"),
        ("new@example.com,Zoë Ñúñez\nother@example.com\n".encode("utf-16"), "utf-16"),
    ],
)
def test_a_plain_list_without_header_in_any_encoding(
    project: Project, data: bytes, encoding: str
) -> None:
    run = project.run("subscribers", "import", export(project, "plain.txt", data))

    assert run.code == 0, run.err
    assert f"(plain, {encoding}, ',')" in run.out
    assert rows(project)["new@example.com"]["name"] == "Zoë Ñúñez"
    assert "other@example.com" in rows(project)


def test_the_format_can_be_forced_and_a_file_without_addresses_is_refused(
    project: Project,
) -> None:
    data = b"email,subscribed_to_emails\nforced@example.com,false\n"
    run = project.run("subscribers", "import", export(project, "f.csv", data), "--format", "plain")
    assert run.code == 0 and "(plain," in run.out
    assert rows(project)["forced@example.com"]["status"] == "active"

    nothing = project.run("subscribers", "import", export(project, "n.csv", b"who,what\na,b\n"))
    assert nothing.code == 2
    assert "n.csv:1: no 'email' column for the plain format" in nothing.err
    missing = project.run("subscribers", "import", "missing.csv")
    assert missing.code == 2 and "missing.csv: cannot read the export" in missing.err


def test_delimiter_sniffing_ignores_separators_inside_quotes() -> None:
    data = b'"email";"name, with comma";"x"\na@example.com;"B, C";d\n'
    parsed = parse_export(data, "x.csv")
    assert parsed.delimiter == ";"
    assert parsed.rows[0].fields == {"name_with_comma": "B, C", "x": "d"}


def test_a_stray_quote_in_an_export_imports_nothing(project: Project) -> None:
    before = rows(project)
    data = (
        'email;name\nann@example.com;Ann\nyan@example.com;"Yan\nzed@example.com;Zed\n'
        "amy@example.com;Amy\n"
    )

    run = project.run("subscribers", "import", export(project, "stray.csv", data.encode()))

    assert run.code == 2
    assert "stray.csv:3: unbalanced quote swallows lines 4-5" in run.err
    assert "nothing imported" in run.err
    assert rows(project) == before
