"""Rule warnings: rules that can never match, rules that match almost everything."""

from __future__ import annotations

import pytest

from alerts.errors import QueryError
from alerts.rules.lint import lint_rule, word_form_warnings
from alerts.rules.matcher import Document, Matcher
from alerts.rules.rule import Rule


@pytest.mark.parametrize(
    "query",
    [
        "scam AND NOT scam",
        "scam -scam",
        '"scam compound" AND NOT scam',
        "title:poipet AND NOT poipet",
        "trafficking AND NOT traffick*",
        '"scam compound"~3 AND NOT compound',
        "scam AND NOT (compound OR scam)",
        "NOT *",
    ],
)
def test_lint_rule_contradiction_can_never_match(query: str) -> None:
    (warning,) = lint_rule(Rule("r", query))
    assert warning.startswith("can never match:")


def test_lint_rule_exclude_vetoing_everything() -> None:
    warnings = lint_rule(Rule("r", "scam AND poipet", exclude="poipet OR casino"))
    assert warnings == ["can never match: exclude vetoes every article the query matches"]


@pytest.mark.parametrize(
    ("query", "word"),
    [("the", "'the'"), ("news OR sihanoukville", "'news'"), ("的", "'的'"), ("/\\w+/", "'/\\w+/'")],
)
def test_lint_rule_common_word_matches_almost_everything(query: str, word: str) -> None:
    (warning,) = lint_rule(Rule("r", query))
    assert warning.startswith("matches almost every article:")
    assert word in warning


def test_lint_rule_star_and_negations_match_everything() -> None:
    assert lint_rule(Rule("r", "*")) == ["matches every article"]
    (warning,) = lint_rule(Rule("r", "NOT casino"))
    assert "containing none of its terms" in warning


def test_lint_rule_lower_case_operator_word() -> None:
    warnings = lint_rule(Rule("r", "scam or fraud"))
    assert warnings[0] == "'or' is searched as a word; write OR in capitals for the operator"


def test_lint_rule_min_hits_without_positive_terms() -> None:
    warnings = lint_rule(Rule("r", "NOT casino", min_hits=3))
    assert warnings[-1] == "min_hits has no effect: the query has no positive terms to count"


@pytest.mark.parametrize(
    "rule",
    [
        Rule("r", '("scam compound" OR traffick*) AND (sihanoukville OR poipet OR bavet)'),
        Rule("r", "scam AND NOT casino", exclude="football"),
        Rule("r", "ក្រុងព្រះសីហនុ OR 西港 OR 诈骗"),
        Rule("r", "title:raid AND NOT body:football", min_hits=2),
        Rule("r", "a* AND sihanoukville"),
    ],
)
def test_lint_rule_sensible_rules_have_no_warnings(rule: Rule) -> None:
    assert lint_rule(rule) == []


def test_lint_rule_never_match_agrees_with_matcher() -> None:
    rule = Rule("r", '"scam compound" AND NOT scam')
    docs = [
        Document(title="scam compound", body=""),
        Document(title="", body="a scam"),
        Document(title="", body="nothing"),
    ]
    assert lint_rule(rule)
    matcher = Matcher.build([rule])
    assert all(matcher.match(d) == [] for d in docs)


def test_lint_rule_raises_on_malformed_rule() -> None:
    with pytest.raises(QueryError, match="rule 'r': query: unclosed"):
        lint_rule(Rule("r", "(scam"))


@pytest.mark.parametrize(
    ("query", "word", "forms"),
    [
        ("raid AND Poipet", "raid", "raids, raided or raiding"),
        ("crackdown AND Cambodia", "crackdown", "crackdowns"),
        ("title:scam", "scam", "scams, scammed or scamming"),
    ],
)
def test_word_form_warnings_bare_word_misses_its_forms(query: str, word: str, forms: str) -> None:
    (warning,) = word_form_warnings(Rule("r", query))
    assert warning.startswith(f"'{word}' matches that exact word only, not {forms}:")
    assert f"write {word}* " in warning


@pytest.mark.parametrize(
    "query",
    [
        "raid* AND Poipet",  # the prefix covers every form
        "traffick* OR industry",  # an author who writes prefixes chose the exact word
        "raid OR raids",  # the author thought about forms
        "kidnapping OR trafficked",  # already inflected forms
        "Poipet OR Sihanoukville OR 西港",  # names, other scripts
        "China AND Raid",  # capitalised words are taken for names
        "NOT raid",  # excluded words are not the point
        '"police raid"',  # a phrase is deliberate
        "url:raid OR source:raid",  # names in URLs and sources
        "the",  # common words have their own warning
    ],
)
def test_word_form_warnings_quiet_when_forms_are_covered_or_irrelevant(query: str) -> None:
    assert word_form_warnings(Rule("r", query)) == []


def test_word_forms_table_knows_regular_forms() -> None:
    from alerts.rules.wordforms import word_forms

    assert word_forms("raid") == ("raids", "raided", "raiding")
    assert word_forms("rescue") == ("rescues", "rescued", "rescuing")
    assert "kidnapped" in word_forms("kidnap") and "kidnapping" in word_forms("kidnap")
    assert word_forms("poipet") == () and word_forms("raided") == ()
