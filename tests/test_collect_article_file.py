"""Article files (scraped page text and Markdown) -> Article (newsletter.collect.article_file)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import Project

from newsletter.collect.article_file import ARTICLE_SUFFIXES, parse_article_file
from newsletter.errors import ExitCode, InputError, ParseError
from newsletter.models import Article

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED = "000_1804beccbf52be47.txt"
MTIME = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
CHROME = (
    "About the author",
    "Daily Newsletter",
    "Source:",
    "Photo:",
    "Advertisement",
    "Share this article",
    "Read more",
)


def parse(text: str, relpath: str = "x.txt", **kwargs: object) -> Article:
    """Parse text as if it were the file seeds/<relpath>."""
    kwargs.setdefault("default_published", MTIME)
    return parse_article_file(
        text, source="seeds", relpath=relpath, where=f"seeds/{relpath}", **kwargs
    )


def parse_seed_file(name: str) -> Article:
    return parse((SEEDS / name).read_text(encoding="utf-8-sig"), name)


def page(*blocks: str) -> str:
    """Page text from blocks separated by blank lines."""
    return "\n\n".join(blocks) + "\n"


LEAD = "The council approved the new budget on Monday after a long debate over spending."
SECOND = "Opposition members said the plan would not fix the shortfall in school funding."


# --- the seed ---------------------------------------------------------------------------------


def test_seed_parses_to_the_expected_article() -> None:
    article = parse_seed_file(SEED)
    assert article.id == f"seeds:{SEED}"
    assert article.source == "seeds"
    assert article.section == "World"
    assert article.title == "Japan PM says open to meeting North Korean leader"
    assert article.summary.startswith("Japanese Prime Minister Fumio Kishida said Tuesday")
    assert article.summary.endswith("Pyongyang’s weapons programs.")
    assert article.author == "Agence France-Presse (AFP)"
    assert article.published == MTIME
    assert article.url is None and article.image_url is None


def test_seed_summary_and_body_hold_no_chrome_caption_or_related_headline() -> None:
    article = parse_seed_file(SEED)
    for text in (article.summary, article.body):
        for chrome in (*CHROME, "Japan PM tells Xi", "Video Screenshot", "\u00a0", "  "):
            assert chrome not in text
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == 11
    assert paragraphs[0] == article.summary
    assert paragraphs[-1].startswith("The historic summits led to a reduction of tension")
    # Unicode punctuation is kept as is.
    assert "“From the perspective" in article.body and " — including" in article.body


def test_crlf_bom_and_nbsp_give_the_same_article() -> None:
    text = (SEEDS / SEED).read_text(encoding="utf-8")
    assert parse("\ufeff" + text.replace("\n", "\r\n"), SEED) == parse(text, SEED)


# --- the sample files -------------------------------------------------------------------------

SAMPLES = {
    "001_central-bank-holds-rates.txt": (
        "Business",
        "Central bank holds rates steady as inflation cools",
        "Daniel Okafor",
        "The central bank kept its benchmark interest rate unchanged on Wednesday",
    ),
    "002_deep-sea-coral-survey.txt": (
        "General",
        "Researchers map vast deep-sea coral reef off Atlantic coast",
        None,
        "A team of marine scientists has mapped a cold-water coral reef",
    ),
    "003_city-clinch-league-title.txt": (
        "Sport",
        "City clinch league title with two games to spare",
        "Sports Desk",
        "City secured the league championship on Saturday with a 3–1 win",
    ),
    "004_chipmaker-unveils-efficient-processor.txt": (
        "Technology",
        "Chipmaker unveils processor it says halves power use",
        "Priya Raman",
        "A semiconductor company on Thursday unveiled a new processor",
    ),
    "005_flu-vaccination-campaign.txt": (
        "Health",
        "Health service opens winter flu vaccination campaign early",
        "Agence France-Presse (AFP)",
        "Health authorities opened this year’s seasonal flu",
    ),
    "006_river-restoration-project.md": (
        "Environment",
        "River restoration project brings back salmon after 40 years",
        "Lena Fischer",
        "Salmon have returned to spawn in the upper reaches of the river for "
        "the first time in four decades, after a restoration project removed",
    ),
    "007_library-extends-opening-hours.md": (
        "Local",
        "City libraries extend weekend opening hours",
        "Newsroom",
        "Public libraries across the city will stay open until 8 p.m.",
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_file(name: str) -> None:
    section, title, author, summary_start = SAMPLES[name]
    article = parse_seed_file(name)
    assert (article.section, article.title, article.author) == (section, title, author)
    assert article.summary.startswith(summary_start)
    for chrome in (*CHROME, "Reuters/", "Markets edge higher", "By Priya", "Pharmacies report"):
        assert chrome not in article.summary and chrome not in article.body


def test_sample_files_use_crlf_bom_and_nbsp() -> None:
    """The samples really exercise the awkward encodings they are meant to cover."""
    raw = {p.name: p.read_bytes() for p in SEEDS.iterdir()}
    assert b"\r\n" in raw["002_deep-sea-coral-survey.txt"]
    assert raw["005_flu-vaccination-campaign.txt"].startswith(b"\xef\xbb\xbf")
    assert "\u00a0".encode() in raw["001_central-bank-holds-rates.txt"]


def test_every_seed_file_parses() -> None:
    names = sorted(p.name for p in SEEDS.iterdir() if p.suffix in ARTICLE_SUFFIXES)
    assert len(names) >= 8 and names[0] == SEED
    articles = [parse_seed_file(name) for name in names]
    assert len({a.id for a in articles}) == len(articles)
    for article in articles:
        assert article.title and article.summary and article.section
        assert article.published is not None and article.published.tzinfo is UTC
        assert all(chrome not in article.summary + article.body for chrome in CHROME)


def test_markdown_sample_has_front_matter_fields() -> None:
    article = parse_seed_file("006_river-restoration-project.md")
    assert (
        article.id == article.url == "https://example.org/news/environment/river-restoration-salmon"
    )
    assert article.published == datetime(2026, 11, 24, 8, 15, tzinfo=UTC)
    assert article.image_url == "https://example.org/images/river-restoration.jpg"
    assert article.image_alt == "A restored stretch of river with gravel banks"
    assert "**" not in article.body and "](" not in article.body and "##" not in article.body


# --- page text heuristics ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crumb", "section"),
    [
        ("News World", "World"),
        ("News Science & Environment", "Science & Environment"),
        ("Home › News › Science", "Science"),
        ("News", "General"),
    ],
)
def test_breadcrumb_names_the_section(crumb: str, section: str) -> None:
    article = parse(page(crumb, "Budget passes after long debate", LEAD))
    assert (article.section, article.title) == (section, "Budget passes after long debate")


def test_missing_breadcrumb_means_general_and_first_line_is_the_headline() -> None:
    article = parse(page("News Corp shares fall after results", LEAD))
    assert (article.section, article.title) == ("General", "News Corp shares fall after results")


@pytest.mark.parametrize(
    "credit",
    [
        "Source: Video Screenshot",
        "Photo: Jane Doe",
        "(Photo: AP)",
        "Credit: City Council",
        "Image: Handout",
        "Reuters/Jane Doe",
        "AFP/Getty Images",
        "© Jane Doe",
    ],
)
def test_related_headline_and_credit_are_neither_summary_nor_body(credit: str) -> None:
    text = page("News Politics", "Budget passes", f"Councillors react to the vote\n{credit}", LEAD)
    article = parse(text)
    assert article.summary == article.body == LEAD


def test_caption_in_the_middle_of_the_body_is_dropped() -> None:
    text = page("Budget passes", LEAD, "The mayor at the council meeting.\nPhoto: Staff", SECOND)
    assert parse(text).body == f"{LEAD}\n\n{SECOND}"


def test_hard_wrapped_paragraph_is_joined_and_whitespace_normalised() -> None:
    text = page(
        "Budget\u00a0 passes ",
        "The council approved the new budget\n  on Monday after a long debate.",
    )
    article = parse(text)
    assert article.title == "Budget passes"
    assert article.summary == "The council approved the new budget on Monday after a long debate."


def test_chrome_lines_never_leak_into_the_body() -> None:
    text = page(
        "Budget passes",
        "Advertisement",
        LEAD,
        "Read more: Schools face cuts",
        "Share this article\nAdvertisement",
        SECOND,
        "Daily Newsletter",
    )
    assert parse(text).body == f"{LEAD}\n\n{SECOND}"


def test_lead_may_end_with_a_closing_quote() -> None:
    quote = "“We will not raise taxes this year, and we will protect every school,” she said"
    article = parse(page("Budget passes", "Mayor speaks", f"{quote}.", SECOND))
    assert article.summary == f"{quote}."


@pytest.mark.parametrize(
    ("block", "author"),
    [
        ("About the author\n\n\nJane Doe is a reporter covering city hall.", "Jane Doe"),
        ("About the author\nJane Doe, a reporter, covers city hall.", "Jane Doe"),
        ("About the Author:\n\nNewsroom Staff", "Newsroom Staff"),
        ("About the author", None),
    ],
)
def test_author_block(block: str, author: str | None) -> None:
    article = parse(page("Budget passes", LEAD, block, "Daily Newsletter"))
    assert article.author == author
    assert article.body == LEAD


def test_byline_before_the_lead_gives_the_author() -> None:
    article = parse(page("Budget passes", "By Jane Doe", LEAD))
    assert (article.author, article.summary) == ("Jane Doe", LEAD)


def test_published_is_the_default_or_none() -> None:
    assert parse(page("Budget passes", LEAD)).published == MTIME
    assert parse(page("Budget passes", LEAD), default_published=None).published is None


# --- ids --------------------------------------------------------------------------------------


def test_ids_are_stable() -> None:
    first = parse(page("Budget passes", LEAD), "2026/budget.txt")
    edited = parse(page("Budget passes, updated", LEAD, SECOND), "2026/budget.txt")
    assert first.id == edited.id == "seeds:2026/budget.txt"
    assert parse_seed_file(SEED).id == parse_seed_file(SEED).id


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        ("url: https://example.org/a\nid: custom-1", "https://example.org/a"),
        ("id: custom-1", "custom-1"),
        ("", "seeds:a.md"),
    ],
)
def test_markdown_id(front: str, expected: str) -> None:
    assert parse(f"---\ntitle: T\n{front}\n---\n{LEAD}\n", "a.md").id == expected


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_summary_is_the_first_paragraph_without_markdown() -> None:
    text = (
        "---\ntitle: 'Budget: what changes'\n---\n# Budget #\n\n"
        "![chart](https://x/c.png)\n\n"
        "The **council** approved the _new_ [budget](https://x/b)"
        " with `snake_case` rules in C#.\n\n"
        "> Quoted line\n\n- first item\n- second item\n"
    )
    article = parse(text, "b.markdown")
    assert article.title == "Budget: what changes"
    assert article.section == "General"
    assert article.summary == "The council approved the new budget with snake_case rules in C#."
    assert article.body.split("\n\n") == [
        "Budget",
        article.summary,
        "Quoted line",
        "first item second item",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26 08:30", datetime(2026, 11, 26, 13, 30, tzinfo=UTC)),  # naive -> tz (UTC-5)
        ("2026-11-26", datetime(2026, 11, 26, 5, 0, tzinfo=UTC)),
        ("2026-11-26T08:30:00+01:00", datetime(2026, 11, 26, 7, 30, tzinfo=UTC)),
        ("'2026-11-26T08:30:00Z'", datetime(2026, 11, 26, 8, 30, tzinfo=UTC)),
        ("2030-01-01 00:00:00", datetime(2030, 1, 1, 5, 0, tzinfo=UTC)),  # future is fine
    ],
)
def test_markdown_dates_are_aware_utc(value: str, expected: datetime) -> None:
    text = f"---\ntitle: T\ndate: {value}\n---\n{LEAD}\n"
    published = parse(text, "a.md", tz=timezone(timedelta(hours=-5))).published
    assert published == expected and published.tzinfo is UTC


def test_markdown_without_date_uses_the_default() -> None:
    assert parse(f"---\ntitle: T\n---\n{LEAD}\n", "a.md").published == MTIME


def test_markdown_with_crlf_and_bom() -> None:
    text = "\ufeff---\r\ntitle: T\r\nsection: Sport\r\n---\r\nFirst.\r\n\r\nSecond.\r\n"
    article = parse(text, "a.md")
    assert (article.section, article.summary, article.body) == (
        "Sport",
        "First.",
        "First.\n\nSecond.",
    )


# --- broken input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("", "seeds/x.txt", "no headline found"),
        ("\ufeff\r\n  \r\n", "seeds/x.txt", "no headline found"),
        (page("News World", "Daily Newsletter"), "seeds/x.txt", "no headline found"),
        (page("News World", "Budget passes"), "seeds/x.txt", "no article text found"),
        (
            page("Budget passes", "Councillors react\nSource: Staff", "Daily Newsletter"),
            "seeds/x.txt",
            "no article text found after the headline",
        ),
        (page("News World", LEAD + " " + SECOND + " " + LEAD), "seeds/x.txt:3", "no headline"),
    ],
)
def test_broken_page_text(text: str, where: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert caught.value.where == where
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{where}: ")


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("---\ntitle: T\nsection: [World\n---\nText.\n", "seeds/a.md:3", "not valid YAML"),
        (
            "---\ntitle: T\nsection: World\nurl: a: b\n---\nText.\n",
            "seeds/a.md:4",
            "not valid YAML",
        ),
        ("---\ntitle: T\n  bad: indent\n---\nText.\n", "seeds/a.md:3", "not valid YAML"),
        ("---\n- a\n- b\n---\nText.\n", "seeds/a.md:2", "not 'key: value' lines"),
        ("---\ntitle: T\nText.\n", "seeds/a.md:1", "not closed"),
        ("# Title\n\nText.\n", "seeds/a.md:1", "no front matter"),
        ("---\nsection: World\n---\nText.\n", "seeds/a.md:1", "no title"),
        ("---\nsection: World\ntitle: [a, b]\n---\nText.\n", "seeds/a.md:3", "must be text"),
        ("---\ntitle: T\ndate: 2026-02-30\n---\nText.\n", "seeds/a.md:3", "not a valid date"),
        ("---\ntitle: T\ndate: tomorrow\n---\nText.\n", "seeds/a.md:3", "not a valid date"),
        ("---\ntitle: T\ndate: 2026\n---\nText.\n", "seeds/a.md:3", "not a date"),
        ("---\ntitle: T\n---\n# Only a heading\n", "seeds/a.md", "no article text found"),
    ],
)
def test_broken_markdown(text: str, where: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text, "a.md")
    assert caught.value.where == where
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{where}: ")


def test_parse_error_is_an_input_error_with_the_usage_exit_code() -> None:
    with pytest.raises(InputError) as caught:
        parse("", "empty.txt")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "seeds/empty.txt" in str(caught.value)
    assert "breadcrumb line like 'News World'" in str(caught.value)


# --- purity -----------------------------------------------------------------------------------


def test_parsing_module_imports_nothing_that_does_io() -> None:
    """DESIGN.md: parsing is pure; no disk, network, clock or environment access."""
    tree = ast.parse(
        (
            Path(__file__).resolve().parent.parent / "newsletter" / "collect" / "article_file.py"
        ).read_text()
    )
    modules = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {
        "__future__",
        "re",
        "datetime",
        "functools",
        "collections.abc",
        "typing",
        "yaml",
        "newsletter.errors",
        "newsletter.models",
        "newsletter.collect.plaintext",  # pure: the text normaliser every source shares
    }
    assert modules <= allowed
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not names & {"open", "now", "utcnow", "today", "environ", "getenv", "read_text"}


# --- languages written without spaces, and other sentence ends -------------------------------

JA_TITLE = "日銀、政策金利を据え置き"
JA_LEAD = "日本銀行は１日の金融政策決定会合で、政策金利を現行の水準に据え置くことを決めた。"
JA_SECOND = "植田総裁は記者会見で、物価の動向を慎重に見極める考えを示した。"


def test_a_japanese_file_gives_its_title_and_summary(tmp_path: Path) -> None:
    # hard-wrapped between characters: the lines join without a space
    text = page(JA_TITLE, JA_LEAD[:20] + "\n" + JA_LEAD[20:], JA_SECOND)
    article = parse(text, "ja.txt")
    assert (article.title, article.summary) == (JA_TITLE, JA_LEAD)
    assert article.body == f"{JA_LEAD}\n\n{JA_SECOND}"


@pytest.mark.parametrize(
    ("title", "lead"),
    [
        ("央行维持利率不变", "中国人民银行周一宣布，将一年期贷款市场报价利率维持在现有水平不变！"),
        ("央行维持利率不变", "中国人民银行周一表示，是否会在下个月调整贷款市场报价利率？"),
        ("会見", "首相は記者会見で、補正予算の編成を指示したうえで「経済対策を年内にまとめる。」"),
        (
            "البنك المركزي",
            "هل يرفع البنك المركزي أسعار الفائدة مرة أخرى في اجتماعه المقبل هذا الشهر؟",
        ),
        (
            "مرکزی بینک",
            "مرکزی بینک نے پیر کے روز شرح سود کو موجودہ سطح پر برقرار رکھنے کا اعلان کیا۔",
        ),
    ],
)
def test_sentences_may_end_the_way_other_scripts_end_them(title: str, lead: str) -> None:
    assert parse(page(title, lead)).summary == lead


def test_collect_takes_a_japanese_article_file(project: Project) -> None:
    project.write("seeds/ja.txt", page(JA_TITLE, JA_LEAD, JA_SECOND))
    run = project.run("collect")
    assert run.code == 0, run.err
    assert f"[General] {JA_TITLE}" in run.out and "ja.txt" not in run.err
