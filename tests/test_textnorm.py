"""Normalisation for matching: folding, accents, invisible characters, offsets back."""

from __future__ import annotations

import unicodedata

import pytest

from crawler.textnorm import (
    continues_word,
    is_nospace_char,
    normalise,
    normalise_term,
    word_position,
)
from tests.corpus import corpus_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SIHANOUKVILLE", "sihanoukville"),
        ("Sihanoukvílle", "sihanoukville"),
        ("Sihanoukvi\u0301lle", "sihanoukville"),  # decomposed accent
        ("ＳＣＡＭ", "scam"),  # full width
        ("Straße", "strasse"),
        ("ﬁnancial", "financial"),
        ("Phnom\nPenh", "phnom penh"),
        ("Phnom \r\n\t Penh", "phnom penh"),
        ("Phnom\u00a0Penh", "phnom penh"),
        ("Phnom\u3000Penh", "phnom penh"),
        ("traf\u00adficking", "trafficking"),
        ("\ufeffscam\u200b compound\u200d", "scam compound"),
        ("  leading and trailing  ", "leading and trailing "),
        ("Việt Nam", "viet nam"),
        ("O\u2019Smach \u201cscam\u201d \u2014 raid", 'o\'smach "scam" - raid'),
    ],
)
def test_normalise_folds_case_accents_and_space(text: str, expected: str) -> None:
    assert normalise(text).text == expected


@pytest.mark.parametrize(
    "word",
    ["ក្រុងព្រះសីហនុ", "ភ្នំពេញ", "ប៉ោយប៉ែត", "นครพนม", "သတင်းစာ", "西港", "诈骗", "カジノ"],
)
def test_normalise_keeps_marks_of_non_latin_scripts(word: str) -> None:
    assert normalise(word).text == unicodedata.normalize("NFKC", word)
    assert normalise_term(word) == unicodedata.normalize("NFKC", word)


def test_normalise_removes_zero_width_space_inside_khmer() -> None:
    assert normalise("ក្រុង\u200bព្រះសីហនុ").text == "ក្រុងព្រះសីហនុ"


def test_normalise_maps_spans_back_to_original() -> None:
    text = "Police in SIHANOUKVI\u0301LLE raided a\n\nscam\u200bcompound near ក្រុងព្រះសីហនុ."
    norm = normalise(text)
    for word, original in [
        ("sihanoukville", "SIHANOUKVI\u0301LLE"),
        ("a scam", "a\n\nscam"),
        ("scamcompound", "scam\u200bcompound"),
        ("ក្រុងព្រះសីហនុ", "ក្រុងព្រះសីហនុ"),
        ("police", "Police"),
    ]:
        start = norm.text.index(word)
        a, b = norm.original_span(start, start + len(word))
        assert text[a:b] == original


def test_normalise_every_character_maps_inside_original() -> None:
    text = "Ａ ß\u0301 ﬁ ทำ\u200b 梁振英，香港  end"
    norm = normalise(text)
    spans = [norm.original_span(i, i + 1) for i in range(len(norm.text))]
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


def test_normalise_empty_text() -> None:
    assert normalise("").text == ""
    assert normalise("\u200b\u00ad").text == ""


def test_normalise_real_khmer_article_keeps_text_and_drops_zero_width() -> None:
    text = corpus_text("khmer/km/khmer-nltk__samples_input.txt")
    norm = normalise(text)
    assert "\u200b" in text
    assert "\u200b" not in norm.text
    # Removing the invisible characters and folding case is all that happens to Khmer.
    expected = " ".join(text.replace("\u200b", "").split()).casefold()
    assert norm.text.strip() == unicodedata.normalize("NFKC", expected)
    start = norm.text.index("ទីក្រុងប៉ារីស")
    a, b = norm.original_span(start, start + len("ទីក្រុងប៉ារីស"))
    assert text[a:b] == "ទីក្រុងប៉ារីស"


@pytest.mark.parametrize(
    ("relative", "word"),
    [
        ("khmer/th/newspaper4k__thai_article.txt", "นครพนม"),
        ("khmer/zh/newspaper4k__chinese_article.txt", "梁振英"),
        ("khmer/my/newspaper4k__burmese_article.txt", "သတင်းစာ"),
    ],
)
def test_normalise_real_articles_map_words_back(relative: str, word: str) -> None:
    text = corpus_text(relative)
    norm = normalise(text)
    start = norm.text.index(normalise_term(word))
    a, b = norm.original_span(start, start + len(normalise_term(word)))
    assert unicodedata.normalize("NFKC", text[a:b]) == unicodedata.normalize("NFKC", word)


def test_continues_word_separates_scripts() -> None:
    assert continues_word("b") and continues_word("é") and continues_word("_")
    assert continues_word("\u0301")  # a combining mark belongs to its word
    assert not continues_word(" ") and not continues_word("-") and not continues_word("'")
    assert not continues_word("ក") and not continues_word("港")
    assert is_nospace_char("ក") and is_nospace_char("ท") and is_nospace_char("カ")
    assert not is_nospace_char("a") and not is_nospace_char("한")


def test_word_position_counts_space_separated_words() -> None:
    text = normalise("Scam  compound,\nnear ក្រុងព្រះសីហនុ").text
    assert word_position(text, text.index("scam")) == 0
    assert word_position(text, text.index("near")) == 2
    assert word_position(text, text.index("ព្រះ")) == 3
