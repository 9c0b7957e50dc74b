"""The list's language: CLDR dates, the catalogs' words, plural forms, a user's own catalog,
what is reported when a word is missing, and what a bad language or catalog does."""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from babel.dates import format_date, format_skeleton
from conftest import Project
from test_edition_golden import INFO, seed_edition

from newsletter.edition import catalog_update
from newsletter.edition.archive import ArchivePage, index_html
from newsletter.edition.languages import _compiled, catalog_names, find_language
from newsletter.edition.render import fill_neutral, language_of, render_edition
from newsletter.edition.templates import catalog_sources, load_templates
from newsletter.edition.wrapping import columns
from newsletter.errors import InputError

DAY = date(2026, 11, 29)
SHIPPED = ("fr", "de", "es", "it", "pt", "nl", "pl", "ja", "zh", "ar")


def rendered(language: str, user_dir: Path | None = None, lead_title: str | None = None):  # type: ignore[no-untyped-def]
    info = dataclasses.replace(INFO, language=language)
    edition = seed_edition()
    # "Read more" follows the lead story only, and only when it links somewhere
    first = edition.sections[0]
    lead = dataclasses.replace(first.articles[0], url="https://example.org/lead")
    if lead_title:
        lead = dataclasses.replace(lead, title=lead_title)
    first = dataclasses.replace(first, articles=(lead, *first.articles[1:]))
    edition = dataclasses.replace(edition, sections=(first, *edition.sections[1:]))
    return render_edition(edition, load_templates(user_dir), info), edition


@pytest.mark.parametrize("tag", ["fr", "de", "ja", "ar", "pl", "zh", "pt-BR", "sv", "en-US"])
def test_the_date_line_is_babels_full_date_for_the_locale(tag: str) -> None:
    lang = language_of(load_templates(None), tag)
    locale = tag.replace("-", "_")
    assert lang.format_date(DAY, "full") == format_date(DAY, "full", locale=locale)
    assert lang.format_date(DAY, "long") == format_date(DAY, "long", locale=locale)


def test_the_issues_examples() -> None:
    templates = load_templates(None)
    assert language_of(templates, "fr").format_date(DAY) == "dimanche 29 novembre 2026"
    assert language_of(templates, "de").format_date(DAY) == "Sonntag, 29. November 2026"
    assert language_of(templates, "ja").format_date(DAY) == "2026年11月29日日曜日"
    # the default English keeps the day-month-year form it always had
    assert language_of(templates, "en").format_date(DAY) == "Sunday 29 November 2026"


@pytest.mark.parametrize("tag", SHIPPED)
def test_every_shipped_catalog_translates_every_message(tag: str) -> None:
    lang = language_of(load_templates(None), tag)
    assert lang.catalogs and lang.missing == ()


def test_a_french_edition_says_it_in_french_everywhere() -> None:
    result, edition = rendered("fr")
    day = format_date(edition.key, "full", locale="fr")
    assert f"{day} · N°\u00a07" in result.html and f"{day} · N°\u00a07" in result.text
    for words in ("Dans cette édition", "voici le résumé du jour", "Lire la suite", "Par "):
        assert words in result.html
    assert "Read more" not in result.html and "Hello" not in result.text
    assert result.subject.endswith(" · " + format_skeleton("MMMd", edition.key, locale="fr"))


@pytest.mark.parametrize("tag", ["ja", "zh"])
def test_a_long_cjk_headline_is_cut_by_display_width_and_the_date_survives(tag: str) -> None:
    headline = "日本の首相が新しい経済対策を発表し来年度の予算案について国会で説明した" * 2
    result, edition = rendered(tag, lead_title=headline)
    day = format_skeleton("MMMd", edition.key, locale=tag)  # 11月27日
    assert result.subject.endswith(" · " + day)
    # ideographs and kana are two columns wide: a phone shows 60 columns
    width = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in result.subject)
    assert 50 <= width <= 60
    assert result.subject.startswith(headline[:20]) and "…" in result.subject


def test_an_arabic_edition_is_right_to_left_and_mirrors_the_arrow() -> None:
    result, _ = rendered("ar")
    assert re.search(r'<html lang="ar" dir="rtl"', result.html)
    assert "اقرأ المزيد\u00a0←" in result.html and "→" not in result.html
    # the text part keeps logical order: no bidi control characters
    assert not re.search("[\u200e\u200f\u202a-\u202e\u2066-\u2069]", result.text)


def test_titles_and_summaries_carry_dir_auto_in_an_english_edition_too() -> None:
    result, edition = rendered("en")
    assert result.html.count('<h3 dir="auto"') == len(edition.articles)
    assert 'dir="rtl"' not in result.html


@pytest.mark.parametrize(
    ("tag", "count", "words"),
    [
        ("pl", 1, "1 wydanie"), ("pl", 3, "3 wydania"), ("pl", 5, "5 wydań"),
        ("pl", 22, "22 wydania"), ("ar", 2, "عددان"), ("ar", 5, "5 أعداد"),
        ("ar", 11, "11 عددًا"), ("fr", 1, "1 édition"), ("fr", 2, "2 éditions"),
        ("en", 1, "1 edition"), ("en", 2, "2 editions"),
    ],
)  # fmt: skip
def test_the_archive_counts_editions_with_the_languages_plural_forms(
    tag: str, count: int, words: str
) -> None:
    info = dataclasses.replace(INFO, language=tag)
    pages = [ArchivePage(seed_edition(), "subject")] * count
    assert words in index_html(pages, load_templates(None), info)


def test_a_users_catalog_extends_and_overrides_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "locale").mkdir()
    (tmp_path / "locale" / "fr.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Read more"\nmsgstr "Lire l’article"\n',
        encoding="utf-8",
    )
    result, _ = rendered("fr", tmp_path)
    assert "Lire l’article" in result.html and "Dans cette édition" in result.html


def test_a_language_without_catalog_has_cldr_dates_english_words_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _compiled.cache_clear()  # the warning is said once per process and language
    result, edition = rendered("sv")
    assert format_date(edition.key, "full", locale="sv") in result.html
    assert "Read more" in result.html
    assert "language sv: no catalog" in caplog.text


def test_a_missing_message_falls_back_to_english_and_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "locale").mkdir()
    (tmp_path / "locale" / "eo.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Read more"\nmsgstr "Legu pli"\n',
        encoding="utf-8",
    )
    result, _ = rendered("eo", tmp_path)
    assert "Legu pli" in result.html and "View in your browser" in result.html
    assert "language eo:" in caplog.text and "message(s) not translated" in caplog.text


def test_a_malformed_catalog_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "locale").mkdir()
    path = tmp_path / "locale" / "de.po"
    path.write_text('msgid "Read more"\nmsgstr "Weiter\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        find_language("de", catalog_sources(load_templates(tmp_path)))
    assert f"{path}:" in str(caught.value)


PO_HEAD = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'


@pytest.mark.parametrize(
    ("catalog", "said"),
    [
        ('msgid "Read more"\nmsgstr "Lire\n', "fr.po:2: not a valid .po line"),
        # a placeholder the template does not give: it was a KeyError traceback (exit 1)
        (PO_HEAD + '\nmsgid "By %(author)s"\nmsgstr "Par %(auteur)s"\n',
         "fr.po:5: the translation of 'By %(author)s': unknown named placeholder 'auteur'"),
        # a lone "%": it blamed _article.html.j2 ("fix the template")
        (PO_HEAD + '\nmsgid "Read more"\nmsgstr "Lire 100% la suite"\n',
         "fr.po:5: the translation of 'Read more' has a lone %"),
        # a plural rule other than CLDR's: its forms were partly ignored
        (PO_HEAD + '"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n',
         "fr.po:4: Plural-Forms gives 2 plural form(s); CLDR gives fr 3"),
    ],
)  # fmt: skip
def test_a_bad_catalog_stops_preview_with_exit_2_naming_its_line(
    project: Project, catalog: str, said: str
) -> None:
    project.write("templates/locale/fr.po", catalog)
    project.write("newsletter.toml", 'language = "fr"\ntemplates = "templates"\n')
    run = project.run("preview")
    assert run.code == 2, run.err
    assert said in run.err and "Traceback" not in run.err
    assert ".j2" not in run.err and "fix the template" not in run.err


def test_a_users_plural_forms_replace_the_shipped_ones_under_cldrs_rule(tmp_path: Path) -> None:
    (tmp_path / "locale").mkdir()
    (tmp_path / "locale" / "fr.po").write_text(
        PO_HEAD + '"Plural-Forms: nplurals=3; plural=(n == 0 || n == 1) ? 0 : '
        'n != 0 && n % 1000000 == 0 ? 1 : 2;\\n"\n\n'
        'msgid "The archive · %(shown)s edition"\n'
        'msgid_plural "The archive · %(shown)s editions"\n'
        'msgstr[0] "%(shown)s numéro"\nmsgstr[1] "%(shown)s de numéros"\n'
        'msgstr[2] "%(shown)s numéros"\n',
        encoding="utf-8",
    )
    info = dataclasses.replace(INFO, language="fr")
    for count, words in ((1, "1 numéro"), (2, "2 numéros")):
        pages = [ArchivePage(seed_edition(), "subject")] * count
        assert words in index_html(pages, load_templates(tmp_path), info)


@pytest.mark.parametrize("tag", ["xx", "klingon"])
def test_an_unknown_language_is_a_config_error_naming_the_line(project: Project, tag: str) -> None:
    project.write("newsletter.toml", f'language = "{tag}"\n')
    run = project.run("preview")
    assert run.code == 2
    assert f"newsletter.toml:1: language: no language '{tag}' in CLDR" in run.err
    assert "hint: " in run.err and "Traceback" not in run.err


def test_an_editions_number_is_never_grouped_but_counts_are() -> None:
    info = dataclasses.replace(INFO, language="de")
    edition = dataclasses.replace(seed_edition(), number=1234)
    result = render_edition(edition, load_templates(None), info)
    assert "Nr. 1234" in result.html and "1.234" not in result.text
    assert language_of(load_templates(None), "de").format_number(1234.5) == "1.234,5"


def test_the_atom_feed_says_its_subtitle_in_the_lists_language() -> None:
    from datetime import UTC

    from newsletter.edition.archive import atom_feed

    info = dataclasses.replace(INFO, language="fr")
    lang = language_of(load_templates(None), "fr")
    feed = atom_feed([ArchivePage(seed_edition(), "s")], info, "example.com", "d", UTC, lang)
    assert "<subtitle>Toutes les éditions de Daily Newsletter</subtitle>" in feed.decode()


def test_traditional_chinese_is_not_given_the_simplified_catalog(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lang = language_of(load_templates(None), "zh-TW")
    assert lang.catalogs == () and lang.gettext("Read more") == "Read more"
    assert language_of(load_templates(None), "zh-CN").gettext("Read more") == "阅读全文"


@pytest.mark.parametrize(
    ("tag", "names"),
    [
        ("pt-br", ("pt.po", "pt_BR.po")), ("pt_BR", ("pt.po", "pt_BR.po")),
        ("zh-TW", ("zh_Hant.po", "zh_TW.po", "zh_Hant_TW.po")),
        ("zh-HK", ("zh_Hant.po", "zh_HK.po", "zh_Hant_HK.po")),
        ("zh-Hant", ("zh_Hant.po",)), ("zh", ("zh.po",)),
        ("iw", ("he.po", "he_IL.po")), ("fr", ("fr.po",)),
    ],
)  # fmt: skip
def test_catalog_names_come_from_the_parsed_locale(tag: str, names: tuple[str, ...]) -> None:
    assert catalog_names(tag) == names


def test_a_lowercase_regional_tag_reads_its_regional_catalog(project: Project) -> None:
    project.write(
        "templates/locale/pt_BR.po",
        PO_HEAD
        + '\n#, python-format\nmsgid "In this edition: %(names)s"\nmsgstr "Leia já: %(names)s"\n',
    )
    project.write("newsletter.toml", 'language = "pt-br"\ntemplates = "templates"\n')
    run = project.run("preview")
    assert run.code == 0, run.err
    html = Path(run.out.strip().splitlines()[-1]).read_text(encoding="utf-8")
    assert "Leia já" in html and "Você recebe" in html  # pt_BR.po over the shipped pt.po


@pytest.mark.parametrize(("tag", "file"), [("zh-TW", "zh_Hant.po"), ("zh-HK", "zh_Hant.po"),
                                           ("iw", "he.po")])  # fmt: skip
def test_script_and_alias_tags_read_their_catalog(tmp_path: Path, tag: str, file: str) -> None:
    (tmp_path / "locale").mkdir()
    (tmp_path / "locale" / file).write_text(
        PO_HEAD + '\nmsgid "Read more"\nmsgstr "閱讀全文"\n', encoding="utf-8"
    )
    (tmp_path / "locale" / "zh.po").write_text(
        PO_HEAD + '\nmsgid "Read more"\nmsgstr "阅读全文"\n', encoding="utf-8"
    )
    assert language_of(load_templates(tmp_path), tag).gettext("Read more") == "閱讀全文"


def test_the_no_catalog_warning_names_a_file_that_would_be_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _compiled.cache_clear()
    language_of(load_templates(None), "zh-TW")
    assert "add <templates>/locale/zh_Hant.po" in caplog.text and "zh.po" not in caplog.text


def test_the_missing_words_warning_is_short(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _compiled.cache_clear()
    (tmp_path / "locale").mkdir()
    (tmp_path / "locale" / "eo.po").write_text(
        PO_HEAD + '\nmsgid "Read more"\nmsgstr "Legu pli"\n', encoding="utf-8"
    )
    language_of(load_templates(tmp_path), "eo")
    (warning,) = [r.getMessage() for r in caplog.records if "language eo" in r.getMessage()]
    assert re.search(r"eo: \d+ message\(s\) not translated, shown in English: '.+' and \d+ more",
                     warning)  # fmt: skip
    assert "locale/messages.pot" in warning and len(warning) < 400


def test_the_reviewed_wording_of_de_ja_pt_and_ar() -> None:
    de, _ = rendered("de")
    assert "Jederzeit mit einem Klick <a" in de.html and ">abmelden</a>." in de.html
    ja, _ = rendered("ja")
    assert "読者の皆さん、本日のダイジェスト" in fill_neutral(ja, ja.text, escape=False)
    pt, _ = rendered("pt")
    assert re.search("Nº[ \u00a0]7", pt.html) and "N.º" not in pt.html + pt.text
    info = dataclasses.replace(INFO, language="ar")
    web = render_edition(seed_edition(), load_templates(None), info, web=True)
    index = index_html([ArchivePage(seed_edition(), "s")], load_templates(None), info)
    assert "خلاصة Atom" in web.html and "خلاصة Atom" in index and "موجز Atom" not in index


def test_a_fuzzy_entry_is_not_checked_nor_used(tmp_path: Path) -> None:
    # what the catalog refresher writes for a changed sentence: its old translation, fuzzy
    (tmp_path / "locale").mkdir()
    (tmp_path / "locale" / "fr.po").write_text(
        PO_HEAD + '\n#, fuzzy, python-format\nmsgid "By %(author)s"\nmsgstr "Par %(said)s"\n',
        encoding="utf-8",
    )
    assert (
        language_of(load_templates(tmp_path), "fr").gettext("By %(author)s", author="A") == "Par A"
    )


@pytest.mark.parametrize("tag", ["ja", "zh"])
def test_japanese_and_chinese_text_parts_wrap_between_ideographs(tag: str) -> None:
    result, _ = rendered(tag)

    def columns(line: str) -> int:  # East Asian Width: wide and full-width take two
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)

    contents = next(p for p in result.text.split("\n\n") if "Technology、" in p)
    assert "\n" in contents and all(columns(line) <= 72 for line in contents.splitlines())
    assert "Environment。" in contents.splitlines()[-1]


def test_refreshing_the_catalogs_twice_rewrites_nothing_the_second_time(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).resolve().parent.parent / "templates" / "locale", tmp_path / "l")
    catalog_update.main([], tmp_path / "l")  # brings the copy up to date with the templates
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "l").iterdir()}
    time.sleep(0.05)

    catalog_update.main([], tmp_path / "l")

    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "l").iterdir()}
    assert after == before  # no file rewritten only to bump its POT-Creation-Date


def test_a_compact_storys_brief_is_cut_by_display_width_in_chinese() -> None:
    edition = seed_edition()
    second = edition.sections[1]
    story = dataclasses.replace(second.articles[0], summary="央行周三宣布维持基准利率不变" * 12)
    second = dataclasses.replace(second, articles=(story, *second.articles[1:]))
    edition = dataclasses.replace(
        edition, sections=(edition.sections[0], second, *edition.sections[2:])
    )
    result = render_edition(edition, load_templates(None), dataclasses.replace(INFO, language="zh"))
    brief = re.search(r'<p class="brief"[^>]*>([^<]*)</p>', result.html)
    assert brief is not None and brief.group(1).endswith("…")
    assert 100 <= columns(brief.group(1)) <= 110  # 110 columns: about 55 ideographs, not 110
