"""Picture sizes learnt at collection: feeds' pictures over HTTP (a real server on
loopback, tests/feedserver.py), article files' pictures from their files; what the edition
then writes in ``width``/``height``; and pictures that cannot be measured."""

from __future__ import annotations

import io
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import Project
from feedserver import FeedServer, Reply, picture, rss, rss_item, serving, slow
from PIL import Image

from newsletter.collect.images import FIRST_BYTES, MAX_BYTES, size_of
from newsletter.collect.outside import internal


def serve_feed(feeds: FeedServer, pictures: dict[str, str], path: str = "/news.xml") -> str:
    """A feed with one item per picture (title → picture path on ``feeds``, or URL);
    returns its URL."""
    items = [
        rss_item(
            title,
            guid=f"{path}-{title}",
            link=feeds.url(f"/story/{title}"),
            age_hours=1 + i,
            description=f'<p><img src="{src if "//" in src else feeds.url(src)}" alt="{title}">'
            f"</p><p>Text of {title}.</p>",
        )
        for i, (title, src) in enumerate(pictures.items())
    ]
    feeds.add(path, rss("News", items))
    return feeds.url(path)


def configure(project: Project, *urls: str) -> None:
    tables = "".join(f'\n[[sources]]\nurl = "{u}"\n' for u in urls)
    project.write("newsletter.toml", f"feed_timeout = 2\nmax_articles = 50\n{tables}")


def stored_sizes(project: Project) -> dict[str, tuple[int | None, int | None]]:
    with sqlite3.connect(project.path / "newsletter.db") as db:
        rows = db.execute("SELECT title, image_width, image_height FROM articles")
        return {title: (w, h) for title, w, h in rows}


def images_in_preview(project: Project) -> dict[str, dict[str, str]]:
    """alt → the attributes of each <img> of the previewed edition."""
    run = project.run("preview")
    assert run.code == 0, run.err
    html = Path(run.out.split()[0]).read_text()
    found = {}
    for tag in re.findall(r"<img\b[^>]*>", html):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag))
        found[attrs["alt"]] = attrs
    return found


def test_feed_pictures_are_measured_from_their_first_bytes(
    project: Project, feeds: FeedServer
) -> None:
    shapes = {"Wide": (1200, 675), "Tall": (600, 900), "Tiny": (80, 60), "Jpeg": (1000, 750)}
    for name, size in shapes.items():
        fmt = "JPEG" if name == "Jpeg" else "PNG"
        feeds.add(f"/img/{name}", picture(size, fmt), f"image/{fmt.lower()}")
    configure(project, serve_feed(feeds, {n: f"/img/{n}" for n in shapes}))

    run = project.run("collect")

    assert run.code == 0, run.err
    assert stored_sizes(project) == shapes
    for name in shapes:
        (asked,) = feeds.requests_for(f"/img/{name}")
        assert asked["range"] == f"bytes=0-{FIRST_BYTES - 1}"
        assert asked["accept-encoding"] == "identity"


def test_the_edition_keeps_each_pictures_shape_and_never_enlarges_it(
    project: Project, feeds: FeedServer
) -> None:
    shapes = {"Lead": (1200, 675), "Wide": (1600, 400), "Tall": (600, 900), "Tiny": (40, 30)}
    for name, size in shapes.items():
        feeds.add(f"/img/{name}", picture(size), "image/png")
    configure(project, serve_feed(feeds, {n: f"/img/{n}" for n in shapes}))
    assert project.run("collect").code == 0

    images = images_in_preview(project)

    assert set(images) == set(shapes)
    for name, (w, h) in shapes.items():
        shown_w, shown_h = int(images[name]["width"]), int(images[name]["height"])
        assert shown_w <= w  # never blown up past its own width
        assert abs(shown_h - shown_w * h / w) <= 1, name  # the picture's own ratio
        assert "aspect-ratio" not in images[name]["style"]
        assert "object-fit" not in images[name]["style"]
        assert "height:auto" in images[name]["style"].replace(" ", "")
    assert images["Lead"]["width"] == "536"  # the lead story's large picture
    assert images["Tiny"]["width"] == "40"
    assert int(images["Wide"]["width"]) < 200  # the others: a thumbnail


def recorded(project: Project) -> set[str]:
    """The picture paths the store has an outcome for (a size or definitely none)."""
    with sqlite3.connect(project.path / "newsletter.db") as db:
        return {urlsplit(url).path for (url,) in db.execute("SELECT url FROM image_sizes")}


def test_pictures_that_cannot_be_measured_cost_nothing_but_their_size(
    project: Project, feeds: FeedServer
) -> None:
    huge = picture((64, 64))  # a PNG header claiming 100000 x 100000 pixels
    huge = huge[:16] + (100000).to_bytes(4, "big") * 2 + huge[24:]
    feeds.routes["/img/slow"] = slow(30, (200, {"Content-Type": "image/png"}, picture((9, 9))))
    feeds.routes["/img/busy"] = lambda _h: (503, {"Retry-After": "60"}, b"busy")
    feeds.routes["/img/limited"] = lambda _h: (429, {"Retry-After": "60"}, b"slow down")
    feeds.add("/img/page", "<html><body>" + "not a picture " * 20000, "text/html")
    feeds.add("/img/bomb", huge, "image/png")
    feeds.add("/img/noise", bytes(range(256)) * 40000, "image/png")  # 10 MB, no header
    feeds.add("/img/good", picture((300, 200)), "image/png")
    names = ["Missing", "Slow", "Busy", "Limited", "Page", "Bomb", "Noise", "Good"]
    paths = [f"/img/{n.lower()}" for n in names]
    configure(project, serve_feed(feeds, dict(zip(names, paths, strict=True))))

    started = time.monotonic()
    run = project.run("collect")
    took = time.monotonic() - started

    assert run.code == 0, run.err
    assert "8 new articles stored; 3 pictures not measured yet, retried next run" in run.out
    assert took < 10  # the slow one had its 2 s (feed_timeout), no more
    # No picture there is 0 x 0 (known missing); a size that cannot be read, and a failure
    # for now, stay unknown (None).
    unknown = ["Slow", "Busy", "Limited", "Noise"]
    assert stored_sizes(project) == {n: (None, None) for n in unknown} | {
        n: (0, 0) for n in ["Missing", "Page", "Bomb"]
    } | {"Good": (300, 200)}
    # Definitely none is recorded (never fetched again); a failure for now is not.
    assert recorded(project) == {
        "/img/missing",
        "/img/page",
        "/img/bomb",
        "/img/noise",
        "/img/good",
    }
    images = images_in_preview(project)
    # a picture known to be missing is left out (no broken box); one not measured yet
    # gets a width only
    assert not {"Missing", "Page", "Bomb"} & images.keys()
    for name in ["Slow", "Noise"]:
        assert "height" not in images[name] and images[name]["width"]

    # The next run, the servers answer: what failed for now is measured, nothing else asked.
    for name, size in {"slow": (9, 9), "busy": (40, 30), "limited": (30, 40)}.items():
        feeds.add(f"/img/{name}", picture(size), "image/png")
    run = project.run("collect")
    assert run.code == 0, run.err
    assert run.out.splitlines()[-1] == "0 new articles stored; not taken: 8 already seen"
    sizes = stored_sizes(project)
    assert (sizes["Slow"], sizes["Busy"], sizes["Limited"]) == ((9, 9), (40, 30), (30, 40))
    for path in ["/img/missing", "/img/page", "/img/bomb", "/img/noise", "/img/good"]:
        assert len(feeds.requests_for(path)) == 1, path


def test_feed_pictures_collected_before_sizes_were_measured_are_measured_later(
    project: Project, feeds: FeedServer
) -> None:
    feeds.add("/img/old", picture((500, 250)), "image/png")
    configure(project, serve_feed(feeds, {"Old": "/img/old"}))
    assert project.run("collect").code == 0
    with sqlite3.connect(project.path / "newsletter.db") as db:  # as an older version left it
        db.execute("DELETE FROM image_sizes")
        db.execute("UPDATE articles SET image_width = NULL, image_height = NULL")

    run = project.run("collect")

    assert run.code == 0, run.err
    assert stored_sizes(project)["Old"] == (500, 250)
    assert len(feeds.requests_for("/img/old")) == 2


def test_a_feed_picture_that_is_not_found_leaves_no_broken_box_in_the_edition(
    project: Project, feeds: FeedServer
) -> None:
    feeds.add("/img/here", picture((600, 400)), "image/png")  # /img/gone: 404
    configure(project, serve_feed(feeds, {"Lead": "/img/gone", "Other": "/img/here"}))
    assert project.run("collect").code == 0
    assert stored_sizes(project)["Lead"] == (0, 0)

    run = project.run("send")

    assert run.code == 0, run.err
    images = images_in_preview(project)
    assert set(images) == {"Other"}  # the lead's <img> is left out, not a broken box
    html = (project.path / "archive" / f"{sent_day(project)}.html").read_text()
    assert "/img/gone" not in html and "/img/here" in html


def sent_day(project: Project) -> str:
    with sqlite3.connect(project.path / "newsletter.db") as db:
        return db.execute("SELECT MAX(day) FROM editions").fetchone()[0]


def test_a_picture_is_fetched_once_across_runs(project: Project, feeds: FeedServer) -> None:
    feeds.add("/img/shared", picture((640, 480)), "image/png")
    feeds.add("/img/gone", b"", "image/png")  # measured as no size: not asked again either
    first = serve_feed(feeds, {"One": "/img/shared", "Two": "/img/shared", "X": "/img/gone"})
    configure(project, first)
    assert project.run("collect").code == 0
    second = serve_feed(feeds, {"Three": "/img/shared", "Y": "/img/gone"}, "/more.xml")
    configure(project, first, second)

    assert project.run("collect").code == 0

    assert len(feeds.requests_for("/img/shared")) == 1
    assert len(feeds.requests_for("/img/gone")) == 1
    sizes = stored_sizes(project)
    assert sizes["Three"] == sizes["One"] == sizes["Two"] == (640, 480)


def test_an_article_files_picture_is_measured_from_the_file(project: Project) -> None:
    (project.path / "seeds" / "pics").mkdir()
    (project.path / "seeds" / "pics" / "harbour.jpg").write_bytes(picture((900, 1200), "JPEG"))
    project.write(
        "seeds/010_harbour.md",
        """
        ---
        title: The harbour at dawn
        image: pics/harbour.jpg
        ---
        Fishing boats come back at dawn.
        """,
    )
    project.write(
        "seeds/011_lost.md",
        """
        ---
        title: A lost picture
        image: pics/lost.jpg
        ---
        The picture of this story was never saved.
        """,
    )

    assert project.run("collect").code == 0

    sizes = stored_sizes(project)
    assert sizes["The harbour at dawn"] == (900, 1200)
    assert sizes["A lost picture"] == (0, 0)  # a path naming no picture: known missing
    # A picture given by URL in an article file is not fetched: it has no size.
    assert sizes["River restoration project brings back salmon after 40 years"] == (None, None)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_sizes_are_read_from_the_header_of_each_web_format(fmt: str) -> None:
    data = picture((731, 411), fmt)
    assert size_of(data) == (731, 411)
    assert size_of(data[:4]) is None  # not enough yet
    assert size_of(b"<!DOCTYPE html>" + data) is None


def test_a_preview_before_any_collection_shows_the_pictures_as_the_send_will(
    project: Project, feeds: FeedServer
) -> None:
    feeds.add("/img/tall", picture((600, 900)), "image/png")
    configure(project, serve_feed(feeds, {"Tall": "/img/tall"}))

    images = images_in_preview(project)

    # the lead's box is 536 x 402: a tall picture is narrower, in its own shape
    assert (images["Tall"]["width"], images["Tall"]["height"]) == ("268", "402")
    assert not (project.path / "newsletter.db").exists()  # a preview records nothing


def turned_jpeg(size: tuple[int, int], orientation: int) -> bytes:
    """A JPEG stored ``size`` with that EXIF Orientation (6: shown turned a quarter)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.new("RGB", size, (90, 90, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_photo_turned_by_its_exif_orientation_is_measured_as_shown(
    project: Project, feeds: FeedServer
) -> None:
    feeds.add("/img/portrait", turned_jpeg((1600, 900), 6), "image/jpeg")
    feeds.add("/img/upright", turned_jpeg((1600, 900), 1), "image/jpeg")
    configure(project, serve_feed(feeds, {"Portrait": "/img/portrait", "Upright": "/img/upright"}))

    assert project.run("collect").code == 0

    assert stored_sizes(project) == {"Portrait": (900, 1600), "Upright": (1600, 900)}
    for orientation in (5, 6, 7, 8):  # the header's first KB tells
        assert size_of(turned_jpeg((1600, 900), orientation)[:1024]) == (900, 1600)


def in_parts(data: bytes, content_type: str) -> Callable[[dict[str, str]], Reply]:
    """A route answering ``Range: bytes=a-b`` with that part (206), as most servers do."""

    def route(headers: dict[str, str]) -> Reply:
        first, last = (int(n) for n in headers["range"].removeprefix("bytes=").split("-"))
        part = data[first : last + 1]
        end = first + len(part) - 1
        return (
            206,
            {"Content-Type": content_type, "Content-Range": f"bytes {first}-{end}/{len(data)}"},
            part,
        )

    return route


def jpeg_with_profile(size: tuple[int, int], profile_bytes: int) -> bytes:
    """A JPEG whose ICC profile (before the size, in the header) is that large."""
    out = io.BytesIO()
    Image.new("RGB", size, (10, 80, 10)).save(out, "JPEG", icc_profile=b"\0" * profile_bytes)
    return out.getvalue()


def test_a_size_past_a_large_icc_profile_is_read_from_one_more_part(
    project: Project, feeds: FeedServer
) -> None:
    feeds.routes["/img/profiled"] = in_parts(jpeg_with_profile((1600, 900), 150_000), "image/jpeg")
    feeds.routes["/img/huge"] = in_parts(jpeg_with_profile((1600, 900), 400_000), "image/jpeg")
    feeds.routes["/img/small"] = in_parts(picture((120, 90)), "image/png")
    configure(
        project,
        serve_feed(
            feeds, {"Profiled": "/img/profiled", "Huge": "/img/huge", "Small": "/img/small"}
        ),
    )

    assert project.run("collect").code == 0
    assert project.run("collect").code == 0  # nothing asked again: every outcome is final

    sizes = stored_sizes(project)
    assert sizes == {"Profiled": (1600, 900), "Huge": (None, None), "Small": (120, 90)}
    asked = [f"bytes=0-{FIRST_BYTES - 1}", f"bytes={FIRST_BYTES}-{MAX_BYTES - 1}"]
    assert [h["range"] for h in feeds.requests_for("/img/profiled")] == asked
    assert [h["range"] for h in feeds.requests_for("/img/huge")] == asked  # then gives up
    assert [h["range"] for h in feeds.requests_for("/img/small")] == asked[:1]


def test_pictures_on_internal_addresses_other_than_the_feeds_own_are_not_fetched(
    project: Project, feeds: FeedServer
) -> None:
    # another service on this machine: a feed must not reach it
    with serving() as other:
        other.add("/img/inside", picture((50, 50)), "image/png")
        moved = other.url("/img/inside")
        feeds.routes["/img/hop"] = lambda _h: (302, {"Location": moved}, b"")
        feeds.add("/img/own", picture((320, 160)), "image/png")
        url = serve_feed(
            feeds,
            {
                "Other": other.url("/img/inside"),
                "Metadata": "http://169.254.169.254/latest/meta-data/pic.png",
                "Mapped": f"http://[::ffff:127.0.0.1]:{other.port}/img/inside",
                "Hop": "/img/hop",
                "Own": "/img/own",
            },
        )
        configure(project, url)

        started = time.monotonic()
        run = project.run("collect")
        took = time.monotonic() - started
        images_in_preview(project)  # a preview refuses them too

    assert run.code == 0, run.err
    assert other.log == []  # not one request reached the other service, redirect included
    assert len(feeds.requests_for("/img/hop")) == 1  # the feed's own host is asked
    assert took < 5  # refused at once: no waiting for 169.254.169.254 to answer
    sizes = stored_sizes(project)
    assert sizes == {n: (0, 0) for n in ["Other", "Metadata", "Mapped", "Hop"]} | {
        "Own": (320, 160)
    }
    assert "/latest/meta-data/pic.png" in recorded(project)  # refused for good


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fd00::1", True),
        ("::ffff:10.0.0.1", True),
        ("224.0.0.1", True),
        ("93.184.215.14", False),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", False),
    ],
)
def test_internal_addresses(address: str, inside: bool) -> None:
    assert internal(address) is inside
