"""feed-source's reading of RSS 2.0 and Atom documents, and its choice of what to send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ndxp_feed_source.feed import FeedError, parse_feed, parse_time
from ndxp_feed_source.source import unsent

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Văn bản mới</title>
    <item>
      <guid isPermaLink="false">moj:13/2023/ND-CP</guid>
      <title>Nghị định 13/2023/NĐ-CP</title>
      <link>/van-ban/13-2023-nd-cp</link>
      <description>&lt;p&gt;Bảo vệ dữ liệu cá nhân&lt;/p&gt;</description>
      <category>Nghị định</category>
      <category>Chính phủ</category>
      <pubDate>Mon, 17 Apr 2023 09:30:00 +0700</pubDate>
    </item>
    <item>
      <link>https://vbpl.example/van-ban/2</link>
      <title>Thông tư 2</title>
      <dc:date>2024-05-01T10:00:00.123456Z</dc:date>
    </item>
    <item>
      <guid>moj:no-date</guid>
      <title>Không có ngày</title>
    </item>
    <item>
      <description>neither a guid nor a title</description>
      <pubDate>yesterday</pubDate>
    </item>
  </channel>
</rss>
""".encode()

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Công báo</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-05-02T08:00:00+07:00</updated>
  <entry>
    <id>urn:moj:cong-bao:1</id>
    <title type="xhtml">
      <div xmlns="http://www.w3.org/1999/xhtml">Quyết <b>định</b> 1</div>
    </title>
    <link rel="edit" href="/edit/1"/>
    <link href="entries/1"/>
    <content type="text">Nội dung</content>
    <category term="quyet-dinh"/>
    <published>2024-05-01T08:00:00+07:00</published>
    <updated>2024-05-02T08:00:00+07:00</updated>
  </entry>
  <entry>
    <id>urn:moj:cong-bao:2</id>
    <title>Quyết định 2</title>
    <updated>2024-05-02T08:00:00</updated>
  </entry>
</feed>
""".encode()


def test_rss_items_become_records_and_unmappable_ones_say_why() -> None:
    items = parse_feed(RSS, "https://vbpl.example/feeds/moi.rss")

    first, second, no_date, nothing = items
    assert first.error is None
    assert first.value == {
        "id": "moj:13/2023/ND-CP",
        "title": "Nghị định 13/2023/NĐ-CP",
        "link": "https://vbpl.example/van-ban/13-2023-nd-cp",
        "summary": "<p>Bảo vệ dữ liệu cá nhân</p>",
        "categories": ["Nghị định", "Chính phủ"],
        "published": datetime(2023, 4, 17, 2, 30, tzinfo=UTC),
        "updated": datetime(2023, 4, 17, 2, 30, tzinfo=UTC),
    }
    assert first.position == {"id": "moj:13/2023/ND-CP", "updated": "2023-04-17T02:30:00.000Z"}
    assert first.identity == "moj:13/2023/ND-CP"
    # no guid: the link is the id; dc:date stands in for pubDate, cut to the millisecond
    assert second.position == {
        "id": "https://vbpl.example/van-ban/2",
        "updated": "2024-05-01T10:00:00.123Z",
    }
    assert second.value is not None
    assert second.value["summary"] is None
    assert second.value["categories"] == []
    assert no_date.error == "the item has no <pubDate>"
    assert no_date.position["id"] == "moj:no-date"
    assert nothing.error == (
        'the item has no <guid> or <link>; the item has no <title>; <pubDate> "yesterday" is not'
        " a date-time with a UTC offset"
    )
    assert set(nothing.position) == {"digest"}
    assert nothing.value is not None
    assert "neither a guid nor a title" in nothing.value["source"]


def test_atom_entries_take_the_alternate_link_and_need_an_offset_on_updated() -> None:
    entry, naive = parse_feed(ATOM, "https://congbao.example/feeds/atom.xml")

    assert entry.value == {
        "id": "urn:moj:cong-bao:1",
        "title": "Quyết định 1",
        "link": "https://congbao.example/feeds/entries/1",
        "summary": "Nội dung",
        "categories": ["quyet-dinh"],
        "published": datetime(2024, 5, 1, 1, 0, tzinfo=UTC),
        "updated": datetime(2024, 5, 2, 1, 0, tzinfo=UTC),
    }
    assert naive.error == '<updated> "2024-05-02T08:00:00" is not a date-time with a UTC offset'


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"<rss><channel><item>", "not well-formed XML"),
        (b"<html><body>Maintenance</body></html>", "neither RSS 2.0 (<rss>) nor Atom"),
        (b"<rss version='2.0'/>", "has no <channel>"),
        # billion laughs: refused before a single entity is declared, let alone expanded
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b"<rss><channel><item><title>&lol2;</title></item></channel></rss>",
            "the document is refused",
        ),
        # XXE: the file is never read
        (
            b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<rss><channel><item><title>&x;</title></item></channel></rss>",
            "the document is refused",
        ),
    ],
)
def test_unreadable_documents_raise_feed_error(document: bytes, reason: str) -> None:
    with pytest.raises(FeedError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_feed(document)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 30 Apr 2024 17:00:00 GMT", datetime(2024, 4, 30, 17, tzinfo=UTC)),
        ("Wed, 01 May 2024 00:00:00 +0700", datetime(2024, 4, 30, 17, tzinfo=UTC)),
        ("2024-05-01T00:00:00+07:00", datetime(2024, 4, 30, 17, tzinfo=UTC)),
        ("2024-04-30T17:00:00.999999Z", datetime(2024, 4, 30, 17, 0, 0, 999000, tzinfo=UTC)),
        ("Wed, 01 May 2024 00:00:00 -0000", None),  # RFC 5322: the offset is unknown
        ("2024-05-01", None),
        ("01/05/2024", None),
    ],
)
def test_times_are_rfc_822_or_rfc_3339_with_an_offset(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


def test_only_versions_not_seen_are_sent_oldest_first_each_once() -> None:
    items = parse_feed(RSS, "https://vbpl.example/feeds/moi.rss")
    first, second, no_date, nothing = items
    doubled = [*items, first]  # a feed that lists an item twice

    records, seen = unsent(doubled, [])
    assert [r.position for r in records] == [
        no_date.position,
        nothing.position,
        first.position,
        second.position,
    ]
    assert [r.key for r in records] == ["moj:no-date", None, first.identity, second.identity]
    assert [r.error is None for r in records] == [False, False, True, True]
    assert seen == [i.position for i in items]

    # The next poll: the same document gives nothing; a new version of the first item is sent.
    assert unsent(items, seen) == ([], seen)
    newer = RSS.replace(b"09:30:00 +0700", b"10:00:00 +0700")
    records, later = unsent(parse_feed(newer), seen)
    assert [r.position for r in records] == [
        {"id": "moj:13/2023/ND-CP", "updated": "2023-04-17T03:00:00.000Z"}
    ]
    assert later[0] == records[0].position
    assert later[1:] == seen[1:]
