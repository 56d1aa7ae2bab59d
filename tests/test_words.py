"""The compiled scanner that reads a corpus's raw words must find exactly the tokenizer's words."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.arabic import _TOKEN_RE
from retrieval.words import WordTable

# Letters, marks, tatweel, invisible controls, digits of several scripts (and a superscript,
# which is a word character but not a digit), number separators, underscores, Latin, presentation
# forms, emoji and a lone surrogate.
_MIXED = st.text(
    alphabet=st.sampled_from(
        list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئىة") + list("\u064b\u064e\u0650\u0651\u0652\u0640\u0670")
        + list("\u200c\u200f\u061c\ufeff0123456789٠١٢٣۴۵१²½٫٬.,_ -؟،\n\tabcXYZéßﷺﻻ😀𝒜\U00020000\ud800")
    ),
    max_size=60,
)


def scan(table: WordTable, texts: list[str]) -> list[list[str]]:
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    counts, ids = table.add(b"".join(encoded), np.array([len(e) for e in encoded], dtype=np.int64))
    words = table.words()
    cuts = np.concatenate(([0], np.cumsum(counts)))
    return [[words[i] for i in ids[a:b]] for a, b in itertools.pairwise(cuts.tolist())]


@settings(max_examples=300, deadline=None)  # the first example loads the compiled scanner
@given(st.lists(st.one_of(_MIXED, st.text(max_size=30)), max_size=12))
def test_the_scanner_finds_the_tokenizers_words(texts):
    assert scan(WordTable(), texts) == [_TOKEN_RE.findall(t) for t in texts]


def test_words_are_numbered_in_the_order_they_first_appear_across_batches():
    table = WordTable()
    assert scan(table, ["كتب الولد الدرس", "الدرس 12.5 مفيد"]) == [["كتب", "الولد", "الدرس"], ["الدرس", "12.5", "مفيد"]]
    scan(table, ["مفيد جدا", "كتب"])
    assert table.words() == ["كتب", "الولد", "الدرس", "12.5", "مفيد", "جدا"]
    assert table.words(4) == ["مفيد", "جدا"]


def test_the_tables_grow_without_losing_a_word():
    # Far more distinct words than the first tables hold, some long, in batches of every size.
    rng = np.random.default_rng(7)
    letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    vocabulary = [
        "".join(letters[i] for i in rng.integers(0, len(letters), size=n)) for n in rng.integers(2, 40, size=120_000)
    ]
    texts = [" ".join(vocabulary[i] for i in rng.integers(0, len(vocabulary), size=n)) for n in rng.integers(0, 30, 12_000)]
    table = WordTable()
    seen: dict[str, int] = {}
    start = 0
    for size in (1, 10, 100, 1000, 10_900):
        batch = texts[start : start + size]
        start += size
        found = scan(table, batch)
        assert found == [t.split() for t in batch]
        new = table.new_words()
        assert new == [w for w in dict.fromkeys(w for t in batch for w in t.split()) if w not in seen]
        seen.update((w, len(seen)) for w in new)
    assert table.words() == list(seen)
    assert len(table) == len(seen) > 60_000
