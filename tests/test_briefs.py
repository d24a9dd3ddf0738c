"""Feed-item rules: facts that tell events apart, summaries that make copies, headlines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.briefs import (
    BRIEF_CHARS,
    compare_briefs,
    feed_text,
    find_facts,
    is_brief,
    lookup_keys,
    make_brief,
)

OCHHEUTEAL = (
    "Police in Preah Sihanouk province on Tuesday rescued 40 Indonesian nationals who said"
    " they had been trafficked from Indonesia and forced to work for an online scam operation"
    " in Ochheuteal commune."
)
COMMUNE_4 = (
    "Police in Preah Sihanouk province on Thursday rescued 23 Thai nationals from a"
    " seven-storey building in Commune 4 after one of them sent a video of beatings to"
    " relatives in Bangkok."
)
KHMER = (
    "កាលពីថ្ងៃអង្គារ សមត្ថកិច្ចខេត្តព្រះសីហនុ បានជួយសង្គ្រោះជនជាតិឥណ្ឌូនេស៊ីចំនួន ៤០នាក់"
    " ដែលត្រូវបានគេជួញដូរ និងបង្ខំឱ្យធ្វើការបោកប្រាស់តាមអនឡាញ។"
)
CHINESE = "西哈努克省警方周二突袭奥彻迪区一处网络诈骗园区，解救40名遭人口贩卖的印尼籍人员。"


def test_find_facts_reads_numbers_and_dates_in_three_languages() -> None:
    assert find_facts(OCHHEUTEAL).numbers == {40}
    assert find_facts(OCHHEUTEAL).dates == {"day1"}
    # Khmer digits, and Tuesday as ថ្ងៃអង្គារ.
    assert find_facts(KHMER) == find_facts("Tuesday: 40")
    # 周二 is Tuesday (and a 2); 一处 is "one place".
    assert find_facts(CHINESE).dates == {"day1"}
    assert find_facts(CHINESE).numbers == {1, 2, 40}
    assert find_facts("Twenty-three Thais, forty-one Vietnamese and 7 others").numbers == {
        23,
        41,
        7,
    }
    assert find_facts("四十名印尼人、一百零五名泰国人、两名越南人").numbers == {40, 105, 2}
    assert find_facts("Officials may release them on 13 March").dates == {"month2"}
    assert find_facts("Workers marched on Sundays").dates == frozenset()


def test_facts_conflict_only_when_each_side_has_its_own() -> None:
    tuesday, thursday = find_facts(OCHHEUTEAL), find_facts(COMMUNE_4)
    assert tuesday.conflicts_with(thursday) and thursday.conflicts_with(tuesday)
    # A dateline adds facts, a trimmed summary drops some: neither contradicts.
    dated = find_facts("PHNOM PENH, March 12 (Xinhua) -- " + OCHHEUTEAL)
    assert not tuesday.conflicts_with(dated)
    assert not tuesday.conflicts_with(find_facts("Police rescued Indonesians."))


def test_feed_text_drops_lines_feeds_append() -> None:
    summary = (
        "Police rescued 40 people [\u2026]\n"
        "The post Police rescue 40 appeared first on Khmer Times.\n"
        "អានបន្ថែម៖ ព័ត៌មានសន្តិសុខ"
    )
    assert feed_text(summary) == "Police rescued 40 people [\u2026]"
    assert feed_text("西港警方解救40名印尼人……阅读全文") == "西港警方解救40名印尼人"
    assert (
        feed_text("【柬中时报】西港警方解救40名印尼人\n责任编辑：王宁")
        == "【柬中时报】西港警方解救40名印尼人"
    )


def test_is_brief_by_length() -> None:
    assert is_brief(OCHHEUTEAL)
    assert not is_brief("word " * (BRIEF_CHARS // 4))


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        # Same summary, reworded headline, another outlet.
        (
            ("Police rescue 40 Indonesians from Sihanoukville compound", OCHHEUTEAL, "kt"),
            ("40 Indonesians freed from Sihanoukville scam compound", OCHHEUTEAL, "gazette"),
        ),
        # Trimmed with "[...]" and a WordPress footer.
        (
            ("Police rescue 40 Indonesians", OCHHEUTEAL, "kt"),
            (
                "Raid frees 40 Indonesian scam workers",
                OCHHEUTEAL[:120] + " [\u2026]\nThe post Raid frees 40 appeared first on X.",
                "expat",
            ),
        ),
        # An agency dateline in front.
        (
            ("Raid", OCHHEUTEAL, "kt"),
            ("Raid in Cambodia", "PHNOM PENH, March 12 -- " + OCHHEUTEAL, "xinhua"),
        ),
        # Khmer copy with zero-width spaces and another headline.
        (("ក", KHMER, "fresh"), ("ខ", KHMER.replace(" ", "\u200b "), "kt-km")),
        # Chinese copy with a paper's tag and end mark.
        (("西港", CHINESE, "cct"), ("印尼人获救", "【柬中时报】" + CHINESE + "（完）", "jhrb")),
        # A headline-only item (aggregator) against the item with a summary.
        (
            ("Police rescue 40 Indonesians from Sihanoukville compound", OCHHEUTEAL, "kt"),
            (
                "Police rescue 40 Indonesians from Sihanoukville compound - Khmer Times",
                "Police rescue 40 Indonesians from Sihanoukville compound Khmer Times",
                "news.google",
            ),
        ),
    ],
)
def test_compare_briefs_accepts_copies(
    earlier: tuple[str, str, str], later: tuple[str, str, str]
) -> None:
    score = compare_briefs(make_brief(*earlier), make_brief(*later))
    assert score is not None and score >= 0.85


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        # Two raids in one town in one week, one template.
        (
            ("Police rescue 40 Indonesians", OCHHEUTEAL, "kt"),
            ("Police rescue 23 Thais", COMMUNE_4, "kt"),
        ),
        (
            ("Police rescue 40", OCHHEUTEAL, "kt"),
            ("Police rescue 40", OCHHEUTEAL.replace("Tuesday", "Saturday"), "post"),
        ),
        # One outlet's fixed description under different headlines.
        (
            ("Floods close 14 schools", "The latest news from Phnom Penh, by our newsroom.", "cp"),
            (
                "Police arrest two thieves",
                "The latest news from Phnom Penh, by our newsroom.",
                "cp",
            ),
        ),
        # One headline, two accidents, two summaries.
        (
            (
                "Traffic accident kills two in Phnom Penh",
                "Two people died after a truck hit their motorbike on National Road 4,"
                " police said.",
                "kt",
            ),
            (
                "Traffic accident kills two in Phnom Penh",
                "Two people died when a car crashed into a tuk-tuk on Sisowath Quay, police said.",
                "kt",
            ),
        ),
        # A recurring short headline with nothing else.
        (("Weekly crime roundup", "", "cp"), ("Weekly crime roundup", "", "cp")),
        # A follow-up that repeats the first report's facts inside its own.
        (
            ("Police rescue 40 Indonesians", OCHHEUTEAL, "kt"),
            (
                "Six Chinese charged over Ochheuteal compound",
                "The provincial court on Friday charged six Chinese nationals over the Ochheuteal"
                " commune compound where police rescued 40 Indonesians on Tuesday.",
                "kt",
            ),
        ),
    ],
)
def test_compare_briefs_keeps_other_events_apart(
    earlier: tuple[str, str, str], later: tuple[str, str, str]
) -> None:
    assert compare_briefs(make_brief(*earlier), make_brief(*later)) is None


def test_lookup_keys_survive_trimming_and_headline_suffix() -> None:
    full = lookup_keys("Police rescue 40 Indonesians from Sihanoukville compound", OCHHEUTEAL)
    trimmed = lookup_keys(
        "Police rescue 40 Indonesians from Sihanoukville compound - Khmer Times",
        OCHHEUTEAL[:100] + "...",
    )
    assert full[0] == trimmed[0] and full[0].startswith("lead ")
    assert full[1] == trimmed[1] and full[1].startswith("head ")
    assert lookup_keys("Weekly crime roundup", "") == ()


@given(
    st.sampled_from(["Monday", "Tuesday", "Friday"]),
    st.sampled_from(["Monday", "Tuesday", "Friday"]),
    st.integers(min_value=2, max_value=999),
    st.integers(min_value=2, max_value=999),
)
def test_template_items_join_only_when_their_facts_agree(
    day_a: str, day_b: str, count_a: int, count_b: int
) -> None:
    template = (
        "Police in Svay Rieng province on {day} detained {count} foreign nationals in a raid on"
        " an online gambling operation in Bavet city, provincial police said."
    )
    a = make_brief("Bavet raid", template.format(day=day_a, count=count_a), "kt")
    b = make_brief("Bavet gambling raid", template.format(day=day_b, count=count_b), "post")
    joined = compare_briefs(a, b) is not None
    assert joined == (day_a == day_b and count_a == count_b)
    assert joined == (compare_briefs(b, a) is not None)
