"""Arabic analysis: what a user types must meet what the article says."""

import re
from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import arabic
from retrieval.arabic import STOP_WORDS, Analyzer, light_stem, normalize, tokenize


def test_diacritics_tatweel_and_letter_variants_are_unified():
    assert normalize("مُحَمَّدٌ") == "محمد"
    assert normalize("العـــربية") == "العربيه"
    assert normalize("أحمد إبراهيم آمن ٱلله") == "احمد ابراهيم امن الله"
    assert normalize("مستشفى") == "مستشفي"
    assert normalize("مدرسة") == "مدرسه"


def test_digits_are_ascii_and_latin_is_case_folded():
    assert normalize("٢٠٢٣") == "2023"
    assert normalize("۱۴۰۲") == "1402"
    assert normalize("XIAOMI Xiaomi") == "xiaomi xiaomi"


def test_invisible_controls_do_not_split_or_change_words():
    hidden = "شا\u200cومي \u202bXiao\u200bmi\u202c"
    assert [t.norm for t in tokenize(hidden)] == ["شاومي", "xiaomi"]


def test_numbers_keep_their_separators_and_split_from_letters():
    assert [t.norm for t in tokenize("باعت 1.11 مليون و1.002.000 في ٢٠٢٣م")] == [
        "باعت", "1.11", "مليون", "و", "1.002.000", "في", "2023", "م",
    ]


def test_question_words_are_stop_words():
    analyzer = Analyzer("light")
    assert analyzer.terms("ما هو؟ متى كيف لماذا هل أين كم") == []
    for word in ("ما", "متى", "كم", "من", "في"):
        assert normalize(word) in STOP_WORDS


def test_light_stemming_joins_inflections():
    assert light_stem(normalize("والتطوير")) == light_stem(normalize("التطوير")) == "تطوير"
    assert light_stem(normalize("السيارات")) == light_stem(normalize("سيارات"))
    assert light_stem("xiaomi") == "xiaomi"


def test_question_with_diacritics_and_hamza_variants_meets_plain_text():
    analyzer = Analyzer("light")
    assert analyzer.terms("إنتاجُ السيّارةِ الأولى") == analyzer.terms("انتاج السياره الاولي")


def test_ngram_field_has_boundary_marks():
    terms = Analyzer("ngram").terms("سيارة")
    assert "#سي" in terms and "ره#" in terms


def test_spans_point_at_the_original_words():
    text = "تُخطِّط شركةُ Xiaomi لإنتاج ١٠٠ سيارة."
    for term in Analyzer("light").terms_with_spans(text):
        original = text[term.start : term.end]
        assert normalize(original), original


@given(st.text())
def test_tokenize_never_fails_and_spans_are_inside(text):
    for token in tokenize(text):
        assert 0 <= token.start < token.end <= len(text)
        assert token.norm


# What a word is, one character at a time: a letter, or a mark, tatweel or invisible control.
_MARKS = f"{arabic._DIACRITICS}{arabic._TATWEEL}{arabic._INVISIBLE}"
CHARACTERWISE = re.compile(rf"\d+(?:[.,\u066b\u066c]\d+)*|(?:[^\W\d_]|[{_MARKS}])+")


_WORDISH = st.text(
    alphabet=st.sampled_from(
        list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئىة") + list("\u064b\u064e\u0650\u0651\u0652\u0640")
        + list("\u200c\u200f\u061c\ufeff0123456789٠١٢٣٫٬.,_ -؟،abcXYZﷺﻻ😀")
    ),
    max_size=40,
)


@given(st.one_of(_WORDISH, st.text()))
def test_words_are_the_runs_of_letters_and_marks_and_the_numbers(text):
    # The tokenizer matches runs of letters and runs of marks (faster); these are the words
    # a character-at-a-time definition finds, with the same spans.
    assert [(t.start, t.end) for t in tokenize(text)] == [
        m.span() for m in CHARACTERWISE.finditer(text) if normalize(m.group())
    ]


_ARABIC_WORDS = st.text(
    alphabet=st.sampled_from(list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئىة") + list("\u064b\u064e\u0650\u0651\u0652\u0653")),
    min_size=0,
    max_size=12,
)


@lru_cache(maxsize=1)
def _nltk_isri():
    from nltk.stem.isri import ISRIStemmer

    return ISRIStemmer().stem


@given(st.one_of(_ARABIC_WORDS, st.text()))
def test_a_light_stem_is_part_of_its_word(word):
    # Highlighting skips the stemmer for words that contain none of the question's terms.
    analyzer = Analyzer("light")
    assert analyzer.terms_inside_words and not Analyzer("root").terms_inside_words
    word = normalize(word)
    for term in analyzer.word_terms(word):
        assert term in word


_SENTENCES = st.lists(st.one_of(_ARABIC_WORDS, _WORDISH, st.sampled_from(["السيارات", "سيارة", "التي", "الذي", "في", "1.5"])), max_size=12)


@settings(deadline=None)  # roots load NLTK on first use
@given(_SENTENCES, _SENTENCES, st.sampled_from(["light", "none", "root", "ngram"]))
def test_the_spans_of_a_questions_terms_are_the_words_that_have_them(words, asked, kind):
    # Highlighting skips tokens and the stemmer for words that hold none of the terms; it must
    # find what analysing every word finds (terms taken from the sentence's own words too, stop
    # words among them: a stop word is never highlighted, whatever its stem).
    analyzer = Analyzer(kind)
    text = " ".join(words)
    own = [term for token in tokenize(text)[::2] for term in analyzer.word_terms(token.norm)]
    terms = frozenset(analyzer.terms(" ".join(asked)) + own)
    expected = [(t.start, t.end) for t in analyzer.words(text) if set(analyzer.word_terms(t.norm)) & terms]
    assert analyzer.spans_of(text, terms) == expected


@settings(max_examples=500, deadline=None)  # the first example loads NLTK
@given(st.one_of(_ARABIC_WORDS, st.sampled_from(["وبالمستشفيات", "أكلوا", "إستخدام", "آمنوا", "كانت", "فيها", "ال"])))
def test_roots_are_nltks_isri_roots(word):
    # The stemmer behind root_stem skips NLTK's timed regular expressions; its roots must not change.
    assert arabic._isri()(word) == _nltk_isri()(word)
