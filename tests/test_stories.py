"""Story clustering: near-duplicates join a story, different stories stay apart, on disk."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler import schema, signatures
from crawler.db import open_database, write_transaction
from crawler.errors import StoreError
from crawler.shingles import shingle, strip_boilerplate
from crawler.stories import MIN_SHINGLES, StoryAssignment, StoryIndex, similarity
from crawler.story_store import BRIEF_BANDS
from tests.corpus import CORPUS, corpus_text

SEED = CORPUS.parent / "seed" / "casino-org-2022-03-11-cambodia-crackdown.txt"
KHMER = CORPUS / "khmer" / "km" / "khmer-nltk__samples_input.txt"
THAI = CORPUS / "khmer" / "th" / "newspaper4k__thai_article.txt"

BACKGROUND = (
    "Cambodia has faced mounting international pressure over scam compounds where trafficked"
    " workers are forced to defraud people online. Rights groups estimate that tens of"
    " thousands of people remain inside such compounds across the country."
)
RAID_TUESDAY = "\n\n".join(
    [
        "Police in Preah Sihanouk province raided a walled compound in Ochheuteal commune on"
        " Tuesday and freed 312 foreign nationals who said they had been forced to work for"
        " online scam operations, the provincial police said.",
        "The provincial police chief said officers entered five buildings shortly after 6 a.m."
        " and found workers from Indonesia, China, Vietnam and Myanmar. Six Chinese men believed"
        " to be managers were arrested at the scene.",
        "Police seized 1,100 mobile phones, 230 computers and scripts used to lure victims into"
        " fake cryptocurrency investments. The compound had been inspected twice last year"
        " without any arrests.",
        BACKGROUND,
    ]
)
RAID_THURSDAY = "\n\n".join(
    [
        "Police in Preah Sihanouk province raided a seven-storey building in Commune 4 on"
        " Thursday and freed 87 Thai and Vietnamese nationals held by an online gambling"
        " operation, two days after a larger raid in Ochheuteal commune.",
        "The deputy provincial police chief said the operation followed a complaint from a"
        " Vietnamese man who jumped from a fourth-floor window on Sunday and was found with a"
        " broken leg near the beach road.",
        "Officers found handcuffs, electric batons and a room the workers called the dark room."
        " Three Chinese nationals and a Cambodian security guard were detained.",
        BACKGROUND,
    ]
)
CONTEXT = (
    "The raid comes as neighbouring countries step up warnings to their citizens about fake"
    " job offers in Cambodia, Myanmar and Laos that lure people into forced labour."
)


@pytest.fixture
def db(store_db: sqlite_utils.Database) -> sqlite_utils.Database:
    """The story index's tests run on both backends."""
    return store_db


@pytest.fixture
def index(db: sqlite_utils.Database) -> StoryIndex:
    return StoryIndex(db)


def _assign(
    index: StoryIndex,
    article_id: int,
    title: str,
    text: str,
    *,
    source: str | None = None,
    links: tuple[str, ...] = (),
) -> StoryAssignment:
    with index.db.atomic():
        return index.assign(article_id, title=title, text=text, source=source, links=links)


def _lsh_rows(db: sqlite_utils.Database) -> int:
    """Rows of the similarity bands of long texts (not the briefs' keys)."""
    return db.execute("SELECT count(*) FROM story_bands WHERE band < ?", [BRIEF_BANDS]).fetchone()[
        0
    ]


def test_assign_first_article_starts_story(index: StoryIndex, db: sqlite_utils.Database) -> None:
    result = _assign(index, 7, "Raid in Sihanoukville", RAID_TUESDAY)
    assert result == StoryAssignment(
        story_id=result.story_id, is_new_story=True, similar_to=None, similarity=None
    )
    (story,) = db.query("SELECT * FROM stories WHERE id = ?", [result.story_id])
    assert story["first_article"] == 7
    assert story["title"] == "Raid in Sihanoukville"
    assert _lsh_rows(db) == signatures.BANDS


def test_assign_syndicated_copy_joins_story(index: StoryIndex) -> None:
    text = corpus_text(SEED)
    first = _assign(index, 1, "Cambodia's Government Faces Mounting Pressure", text)
    # What a second outlet's CMS does to wire copy: straight quotes, other dashes, spacing.
    copy = text.replace("\u2019", "'").replace("\u201c", '"').replace(". ", ".  ")
    second = _assign(index, 2, "Cambodia\u2019s Government Faces Mounting Pressure", copy)
    assert second.story_id == first.story_id
    assert second.is_new_story is False
    assert second.similar_to == 1
    assert second.similarity == 1.0


def test_assign_headline_changed_copy_joins(index: StoryIndex) -> None:
    first = _assign(index, 1, "Police raid Sihanoukville compound, free 312", RAID_TUESDAY)
    second = _assign(index, 2, "312 foreigners rescued in Sihanoukville scam raid", RAID_TUESDAY)
    assert (second.story_id, second.similar_to) == (first.story_id, 1)
    assert second.similarity == pytest.approx(1.0)


def test_assign_paragraph_added_and_boilerplate_joins(index: StoryIndex) -> None:
    text = corpus_text(SEED)
    first = _assign(index, 1, "Crackdown", text)
    paragraphs = text.split("\n\n")
    edited = "\n\n".join(
        [
            "By Staff Reporter | Phnom Penh",
            *paragraphs[:4],
            CONTEXT,
            *paragraphs[4:],
            "Read more: Cambodia vows to stamp out scam compounds",
            "\u00a9 2024 Example News. All rights reserved.",
        ]
    )
    second = _assign(index, 2, "Crackdown (updated)", edited)
    assert second.story_id == first.story_id
    assert 0.8 <= second.similarity < 1.0


def test_assign_paragraph_removed_joins(index: StoryIndex) -> None:
    text = corpus_text(SEED)
    first = _assign(index, 1, "Crackdown", text)
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    shortened = "\n\n".join(paragraphs[:6] + paragraphs[7:])
    assert _assign(index, 2, "Crackdown", shortened).story_id == first.story_id


def test_assign_different_raids_same_topic_stay_apart(index: StoryIndex) -> None:
    # Same province, same police force, same week, a shared background paragraph.
    assert len(shingle(RAID_THURSDAY).shingles) >= MIN_SHINGLES
    first = _assign(index, 1, "Police raid Sihanoukville compound", RAID_TUESDAY)
    second = _assign(index, 2, "Police raid Sihanoukville building", RAID_THURSDAY)
    assert second.is_new_story is True
    assert second.story_id != first.story_id
    assert similarity(RAID_TUESDAY, RAID_THURSDAY) < 0.3


def test_assign_closest_earlier_article_is_reported(index: StoryIndex) -> None:
    text = corpus_text(SEED)
    _assign(index, 1, "Crackdown", text)
    longer = text + "\n\n" + CONTEXT
    _assign(index, 2, "Crackdown", longer)
    third = _assign(index, 3, "Crackdown, again", longer + " ")
    assert (third.similar_to, third.similarity) == (2, 1.0)


def test_assign_khmer_copy_joins_and_thai_text_does_not(index: StoryIndex) -> None:
    khmer = corpus_text(KHMER)
    thai = corpus_text(THAI)
    lines = khmer.splitlines()
    assert shingle(khmer).char_mode is True
    first = _assign(index, 1, lines[0], khmer)
    # Copies of Khmer text differ in zero-width spaces; this one also lost a paragraph.
    copy = "\n".join(lines[:5] + lines[6:]).replace("\u200b", "")
    second = _assign(index, 2, lines[0], copy)
    assert second.story_id == first.story_id
    assert second.similarity >= 0.8
    assert _assign(index, 3, "ข่าว", thai).is_new_story is True


def test_story_index_persists_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    db = open_database(path)
    first = _assign(StoryIndex(db), 1, "Raid", RAID_TUESDAY)
    _assign(StoryIndex(db), 2, "Other raid", RAID_THURSDAY)
    db.close()

    reopened = open_database(path)
    bands_before = _lsh_rows(reopened)
    index = StoryIndex(reopened)
    assert _lsh_rows(reopened) == bands_before
    copy = _assign(index, 3, "Raid, copied", RAID_TUESDAY + " The investigation continues.")
    assert (copy.story_id, copy.similar_to) == (first.story_id, 1)
    assert _lsh_rows(reopened) == bands_before + signatures.BANDS
    reopened.close()


def test_story_index_schema_has_indexed_band_lookup(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")  # SQLite's plan; PostgreSQL's key is the same
    StoryIndex(db)
    assert {"stories", "story_signatures", "story_bands"} <= set(db.table_names())
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT article_id FROM story_bands WHERE band = 3 AND hash = 42"
    ).fetchall()
    assert "PRIMARY KEY (band=? AND hash=?)" in " ".join(str(row) for row in plan)
    assert db["story_signatures"].pks == ["article_id"]


class _Rollback(Exception):
    pass


def test_assign_does_not_commit_the_callers_transaction(db: sqlite_utils.Database) -> None:
    index = StoryIndex(db)
    with pytest.raises(_Rollback), write_transaction(db):
        index.assign(1, title="Raid", text=RAID_TUESDAY)
        assert db.conn.in_transaction
        raise _Rollback
    assert not db.conn.in_transaction
    assert db.execute("SELECT count(*) FROM story_signatures").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 0


def test_fingerprint_ignores_case_punctuation_and_invisible_marks(index: StoryIndex) -> None:
    plain = index.fingerprint("Police raid compound", "Forty freed, police said.")
    noisy = index.fingerprint("POLICE RAID COMPOUND!", "Forty\u200b freed \u2014 police said")
    assert plain == noisy
    assert len(plain) == 20
    assert plain != index.fingerprint("Police raid compound", "Fourty freed, police said.")
    assert plain != index.fingerprint("Police raid", "compound Forty freed, police said.")
    # Stored fingerprints must not change between versions: pin the normalised form.
    expected = hashlib.sha1(
        b"police\x1fraid\x1fcompound\x1eforty\x1ffreed\x1fpolice\x1fsaid"
    ).digest()
    assert plain == expected


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet="abcdefghijkl\u1780\u1781\u17b6", min_size=1, max_size=6),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([", ", " - ", "\u200b ", "  ", "; "]),
)
def test_fingerprint_separator_noise_property(words: list[str], separator: str) -> None:
    db = open_database(":memory:")
    try:
        index = StoryIndex(db)
        plain = index.fingerprint("t", " ".join(words))
        assert plain == index.fingerprint("T.", separator.join(words))
    finally:
        db.close()


def test_assign_exact_short_copy_joins_by_fingerprint(index: StoryIndex) -> None:
    summary = (
        "Police in Preah Sihanouk province on Tuesday rescued 40 Indonesian nationals from"
        " a compound in Ochheuteal commune, provincial police said."
    )
    first = _assign(index, 1, "Police rescue 40 Indonesians from Sihanoukville compound", summary)
    copy = _assign(
        index,
        2,
        "POLICE RESCUE 40 INDONESIANS FROM SIHANOUKVILLE COMPOUND.",
        summary.replace(",", " -"),
    )
    assert (copy.story_id, copy.similar_to, copy.similarity) == (first.story_id, 1, 1.0)


SHORT_SUMMARY = (
    "Police in Preah Sihanouk province on {day} rescued 40 Indonesian nationals from a"
    " compound in {place}, provincial police said."
)
SHORT_TITLE = "Police rescue 40 Indonesians from Sihanoukville compound"


def test_assign_short_template_item_of_another_raid_stays_apart(index: StoryIndex) -> None:
    summary = SHORT_SUMMARY.format(day="Tuesday", place="Ochheuteal commune")
    first = _assign(index, 1, SHORT_TITLE, summary, source="khmer-times")
    # One template, another raid: similar enough to look like a copy at this length.
    other_summary = SHORT_SUMMARY.format(day="Friday", place="Kampenh commune")
    other = _assign(index, 2, SHORT_TITLE, other_summary, source="post")
    assert other.is_new_story and other.story_id != first.story_id
    assert _lsh_rows(index.db) == 0


def test_assign_short_summary_under_reworded_headline_joins(index: StoryIndex) -> None:
    # Issue 11: a second outlet carried the summary under its own headline.
    summary = SHORT_SUMMARY.format(day="Tuesday", place="Ochheuteal commune")
    first = _assign(index, 1, SHORT_TITLE, summary, source="khmer-times")
    copy = _assign(index, 2, "40 Indonesians freed", summary, source="gazette")
    assert (copy.story_id, copy.similar_to, copy.similarity) == (first.story_id, 1, 1.0)
    # A trimmed copy ("[...]" and WordPress's footer line) joins as well.
    trimmed = (
        summary[:90] + " [\u2026]\nThe post 40 Indonesians freed appeared first on Expat News."
    )
    assert _assign(index, 3, "Raid frees 40", trimmed, source="expat").story_id == first.story_id


def test_assign_one_outlets_repeated_description_does_not_join(index: StoryIndex) -> None:
    description = (
        "The latest news from Phnom Penh, updated throughout the day by the Capital Post newsroom."
    )
    first = _assign(
        index,
        1,
        "Traffic police to fine riders without helmets",
        description,
        source="capital-post",
    )
    second = _assign(
        index, 2, "Police arrest two over motorbike thefts", description, source="capital-post"
    )
    assert second.is_new_story and second.story_id != first.story_id


def test_assign_headline_only_item_joins_item_with_summary(index: StoryIndex) -> None:
    summary = SHORT_SUMMARY.format(day="Tuesday", place="Ochheuteal commune")
    first = _assign(index, 1, SHORT_TITLE, summary, source="khmer-times")
    # An aggregator's item: the headline with the outlet's name, a description repeating it.
    aggregated = _assign(
        index,
        2,
        SHORT_TITLE + " - Khmer Times",
        SHORT_TITLE + "\u00a0\u00a0Khmer Times",
        source="google-news",
    )
    assert aggregated.story_id == first.story_id


def test_assign_same_article_behind_other_addresses_joins(index: StoryIndex) -> None:
    summary = SHORT_SUMMARY.format(day="Tuesday", place="Ochheuteal commune")
    first = _assign(
        index,
        1,
        SHORT_TITLE,
        summary,
        source="khmer-times",
        links=("https://www.khmertimeskh.com/501470001/police-rescue/", "501470001"),
    )
    # The mobile AMP page of the same article, fetched later under an updated headline.
    mobile = _assign(
        index,
        2,
        "Six Chinese managers arrested after Sihanoukville rescue",
        "Six Chinese men were arrested on Tuesday when police freed the Indonesians.",
        source="khmer-times-mobile",
        links=("https://m.khmertimeskh.com/501470001/police-rescue/amp/",),
    )
    assert (mobile.story_id, mobile.similar_to) == (first.story_id, 1)
    # A feed proxy's item whose GUID is the permalink another feed used as its link.
    proxied = _assign(
        index,
        3,
        "Sihanoukville rescue: managers held",
        "Managers were held.",
        source="proxy",
        links=(
            "https://feeds.feedburner.com/~r/kt/~3/k7Qm2xT0aZ4/",
            "https://www.khmertimeskh.com/501470001/police-rescue/",
        ),
    )
    assert proxied.story_id == first.story_id


def test_assign_home_page_address_joins_nothing(index: StoryIndex) -> None:
    # Broken feeds give every item the site's address as GUID: it names no article.
    first = _assign(
        index,
        1,
        "Flood closes schools",
        "Schools shut after floods in the capital.",
        links=("https://www.example.org/",),
    )
    other = _assign(
        index,
        2,
        "Market fire",
        "A fire destroyed forty stalls at a market.",
        links=("https://example.org",),
    )
    assert other.is_new_story and other.story_id != first.story_id


def test_assign_similar_brief_with_other_day_stays_apart(index: StoryIndex) -> None:
    # Long enough for shingle similarity, which is above the threshold: the facts decide.
    summary = (
        "Police in Preah Sihanouk province on {day} rescued 40 Indonesian nationals who said"
        " they had been trafficked from Jakarta and forced to work for an online scam"
        " operation in a walled compound in Ochheuteal commune, where officers also seized"
        " hundreds of mobile phones, dozens of computers and the scripts used to lure victims"
        " into fake cryptocurrency investments, the provincial police said in a statement."
    )
    tuesday, thursday = summary.format(day="Tuesday"), summary.format(day="Thursday")
    assert len(shingle(tuesday).shingles) >= MIN_SHINGLES
    assert similarity(tuesday, thursday) >= 0.8
    first = _assign(index, 1, SHORT_TITLE, tuesday, source="khmer-times")
    other = _assign(index, 2, SHORT_TITLE, thursday, source="post")
    assert other.is_new_story and other.story_id != first.story_id
    copy = _assign(index, 3, "Indonesians freed", tuesday + " Read more", source="gazette")
    assert copy.story_id == first.story_id


def test_story_index_opens_database_of_earlier_version(tmp_path: Path) -> None:
    # A database at schema version 2 (before feed items had rules) holding a story.
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    schema.upgrade(conn, schema.MIGRATIONS[:2])
    old = sqlite_utils.Database(conn)
    long_text = RAID_TUESDAY + "\n\n" + RAID_THURSDAY  # too long to be a feed item
    _assign(StoryIndex(old), 1, "Raids", long_text)
    conn.close()

    reopened = open_database(path)
    index = StoryIndex(reopened)
    assert schema.schema_version(reopened.conn) == schema.LATEST
    assert "story_briefs" in reopened.table_names()
    copy = _assign(index, 2, "Raids, copied", long_text + " The investigation continues.")
    assert (copy.story_id, copy.similar_to) == (1, 1)
    summary = SHORT_SUMMARY.format(day="Tuesday", place="Ochheuteal commune")
    first = _assign(index, 3, SHORT_TITLE, summary, source="a")
    assert _assign(index, 4, "Retitled", summary, source="b").story_id == first.story_id
    reopened.close()


def test_assign_headline_only_items_stay_apart(index: StoryIndex) -> None:
    first = _assign(index, 1, "Weekly crime roundup", "")
    second = _assign(index, 2, "Weekly crime roundup", "")
    assert second.is_new_story and second.story_id != first.story_id


def test_threshold_changes_which_rewrites_join(tmp_path: Path) -> None:
    words = RAID_TUESDAY.split(" ")
    # Light rewording: one word in fifteen replaced.
    rewrite = " ".join(w if n % 15 else "altered" for n, w in enumerate(words))
    estimate = similarity(RAID_TUESDAY, rewrite)
    assert 0.5 < estimate < 0.8
    strict_db = open_database(tmp_path / "strict.db")
    loose_db = open_database(tmp_path / "loose.db")
    for db, threshold, joins in ((strict_db, 0.8, False), (loose_db, 0.5, True)):
        index = StoryIndex(db, threshold=threshold)
        first = _assign(index, 1, "Raid", RAID_TUESDAY)
        second = _assign(index, 2, "Raid", rewrite)
        assert (second.story_id == first.story_id) is joins
        db.close()


def test_similarity_is_symmetric_and_bounded() -> None:
    assert similarity(RAID_TUESDAY, RAID_TUESDAY) == 1.0
    assert similarity(RAID_TUESDAY, RAID_THURSDAY) == similarity(RAID_THURSDAY, RAID_TUESDAY)
    assert similarity("", RAID_TUESDAY) == 0.0
    with pytest.raises(TypeError, match="b must be str"):
        similarity("text", None)  # type: ignore[arg-type]


def test_strip_boilerplate_keeps_story_lines() -> None:
    text = "\n".join(
        [
            "By Sok Chea | Phnom Penh",
            "Police freed 40 people.",
            "Read more: other story",
            "By the end of the day, officers had searched every floor of the building and found"
            " more workers hiding.",
            "AFP",
            "\u00a9 2024 Example. All rights reserved.",
        ]
    )
    kept = strip_boilerplate(text).splitlines()
    assert kept == [
        "Police freed 40 people.",
        "By the end of the day, officers had searched every floor of the building and found"
        " more workers hiding.",
    ]


def test_story_index_rejects_bad_arguments(index: StoryIndex, db: sqlite_utils.Database) -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        StoryIndex(db, threshold=1.5)
    with pytest.raises(TypeError, match="threshold must be a number"):
        StoryIndex(db, threshold="0.8")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="article_id must be an int"):
        index.assign("1", title="t", text="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text of article 1 must be str"):
        index.assign(1, title="t", text=None)  # type: ignore[arg-type]


def test_assign_same_article_twice_is_an_error(index: StoryIndex) -> None:
    first = _assign(index, 1, "Raid", RAID_TUESDAY)
    with pytest.raises(StoreError, match=f"article 1 already belongs to story {first.story_id}"):
        _assign(index, 1, "Raid", RAID_TUESDAY)


def test_story_index_refuses_other_signature_scheme(db: sqlite_utils.Database) -> None:
    StoryIndex(db)
    db.execute("UPDATE story_meta SET value = 'minhash-old' WHERE key = 'scheme'")
    with pytest.raises(StoreError) as caught:
        StoryIndex(db)
    assert "minhash-old" in str(caught.value)
    assert caught.value.hint is not None and "rebuild" in caught.value.hint


def test_story_index_reports_a_database_without_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite_utils.Database(path).execute("CREATE TABLE other (x INTEGER)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(StoreError, match="could not read the story index") as caught:
        StoryIndex(sqlite_utils.Database(conn))
    assert caught.value.hint is not None and "open_database" in caught.value.hint
    conn.close()


def test_lsh_layout_finds_pairs_at_the_default_threshold() -> None:
    # The documented design point: near-certain candidates at 0.8, few at low similarity.
    assert signatures.candidate_probability(0.8) > 0.999
    assert signatures.candidate_probability(0.7) > 0.98
    assert signatures.candidate_probability(0.2) < 0.03
    assert re.fullmatch(r"minhash-affine32-.*-v\d+", signatures.SCHEME)


def test_assign_headline_only_item_fitting_two_stories_joins_neither(index: StoryIndex) -> None:
    # Two outlets' own reports under one headline are two stories; an aggregator's
    # headline-only item cannot tell which one it belongs to.
    tuesday = SHORT_SUMMARY.format(day="Tuesday", place="Ochheuteal commune")
    first = _assign(index, 1, SHORT_TITLE, tuesday, source="post")
    other = _assign(
        index, 2, SHORT_TITLE, "Forty Indonesians were freed on Tuesday, police said.", source="kt"
    )
    assert other.is_new_story
    aggregated = _assign(
        index, 3, SHORT_TITLE + " - Khmer Times", SHORT_TITLE + " Khmer Times", source="gn"
    )
    assert aggregated.is_new_story
    assert len({first.story_id, other.story_id, aggregated.story_id}) == 3
