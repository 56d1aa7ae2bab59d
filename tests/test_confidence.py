"""Confidence read from the index equals confidence computed from the sentence text."""

import random

import numpy as np
import pytest

from retrieval.aliases import AliasTable
from retrieval.confidence import coverage, profile, sentence_credits
from retrieval.documents import load_paths
from retrieval.index import BM25Params
from retrieval.search import ArticleRecord, FieldConfig, SearchConfig, SearchIndex, SentenceRecord
from retrieval.sentences import split_sentences

PARAMS = BM25Params("plus", 0.2, 0.0)
CONFIG = SearchConfig(
    fields=(FieldConfig("light", 1.0, PARAMS), FieldConfig("ngram", 2.0, PARAMS), FieldConfig("root", 0.3, PARAMS)),
    article_weight=1.0,
    title_weight=4.0,
)
# Words that stress the trigram layout: one and two letters, repeated trigrams, digits, Latin.
ODD_SENTENCES = [
    "هههههه ضحك الجمهور طويلا على النكتة في المسرح الكبير.",
    "ب ت ث كلمات من حرف واحد او حرفين مثل بي وتي.",
    "باعت BMW نحو ٢٫٥ مليون سيارة في عام ٢٠٢٣ حسب Reuters.",
]
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def seed_index(seeds_dir, aliases=None):
    articles, sentences = [], []
    documents = load_paths([seeds_dir]).documents
    texts = [(d.title, d.text) for d in documents] + [("جمل غريبة", " ".join(ODD_SENTENCES))]
    for number, (title, text) in enumerate(texts):
        first = len(sentences)
        for position, span in enumerate(split_sentences(text), 1):
            sentences.append(
                SentenceRecord(len(sentences), number, position, span.start, span.end, text[span.start : span.end])
            )
        articles.append(ArticleRecord(number, title, f"doc{number}", None, first, len(sentences) - first))
    return SearchIndex(articles, sentences, CONFIG, aliases)


def misspell(word: str, rng: random.Random) -> str:
    letters = list(word)
    at = rng.randrange(len(letters))
    action = rng.choice(("replace", "drop", "add"))
    if action == "replace":
        letters[at] = rng.choice(LETTERS)
    elif action == "drop" and len(letters) > 1:
        del letters[at]
    else:
        letters.insert(at, rng.choice(LETTERS))
    return "".join(letters)


def questions(index: SearchIndex, n: int, seed: int = 3):
    rng = random.Random(seed)
    for _ in range(n):
        words = index.sentences[rng.randrange(len(index))].text.split()
        asked = rng.sample(words, min(len(words), rng.randint(1, 6)))
        if rng.random() < 0.5:
            i = rng.randrange(len(asked))
            asked[i] = misspell(asked[i], rng)
        yield rng.choice(("ما", "متى", "كم", "من")) + " " + " ".join(asked) + "؟"


def test_the_tuned_fields_read_confidence_from_the_index(seeds_dir):
    assert seed_index(seeds_dir).coverage_from_index
    one_field = SearchIndex([], [], SearchConfig())
    assert not one_field.coverage_from_index


@pytest.mark.parametrize("aliases", [None, AliasTable([["BMW", "بي إم دبليو"], ["شاومي", "Xiaomi"]])])
def test_index_confidence_equals_text_confidence(seeds_dir, aliases):
    index = seed_index(seeds_dir, aliases)
    # Ninety words, some misspelt: more probe words than one pass of the trigram table takes.
    rng = random.Random(8)
    words = " ".join(s.text for s in index.sentences).split()
    long = " ".join(misspell(w, rng) if rng.random() < 0.3 else w for w in rng.sample(words, 90))
    asked_questions = [
        *questions(index, 300), "كم وظيفة خلقتها شاومي في البحث والتطوير؟", "كم باعت بي ام دبليو؟", long
    ]
    compared = partial = 0
    for question in asked_questions:
        reference = profile(question, index.idf, index.aliases)
        for doc in range(len(index)):
            expected = coverage(reference, index.sentences[doc].text)
            assert index.confidence(doc, question) == pytest.approx(expected, abs=1e-12), (question, doc)
            compared += 1
            partial += 0 < expected < 1
    assert compared > 5_000
    assert partial > 100  # root and typo credits were exercised, not only 0 and 1


@pytest.mark.parametrize("aliases", [None, AliasTable([["BMW", "بي إم دبليو"], ["شاومي", "Xiaomi"]])])
def test_index_credits_without_near_spellings_equal_the_texts(seeds_dir, aliases):
    # The beyond-title coverage reads stems and roots only (one compiled pass over a thousand
    # candidates); word by word it must credit what the text gives without near spellings.
    index = seed_index(seeds_dir, aliases)
    docs = np.arange(len(index))
    partial = 0
    for question in [*questions(index, 150, seed=4), "كم باعت بي ام دبليو وشاومي؟"]:
        asked = profile(question, index.idf, index.aliases)
        ours = index.credits(asked, docs, near=False)
        expected = np.array([sentence_credits(asked, index.sentences[d].text, near=False) for d in docs])
        np.testing.assert_array_equal(ours, expected.reshape(ours.shape))
        partial += int(((ours > 0) & (ours < 1)).sum())
    assert partial > 50  # root credits were exercised


def test_a_misspelt_word_gets_partial_credit_from_the_index(seeds_dir):
    index = seed_index(seeds_dir)
    doc = next(i for i, s in enumerate(index.sentences) if "الكهربائية" in s.text)
    exact = index.confidence(doc, "الكهربائية")
    misspelt = index.confidence(doc, "الكهرباىية")
    assert exact == 1.0
    assert 0.5 <= misspelt < 1.0
    assert misspelt == pytest.approx(coverage(profile("الكهرباىية", index.idf), index.sentences[doc].text))


def test_hits_carry_the_index_confidence(seeds_dir):
    index = seed_index(seeds_dir)
    question = "كم سيارة باعت Great Wall في العام الماضي؟"
    result = index.search(question, 10)
    asked = profile(question, index.idf, index.aliases)
    assert [h.confidence for h in result.hits] == pytest.approx(
        [coverage(asked, index.sentences[h.doc].text) for h in result.hits], abs=1e-12
    )
    assert result.hits[0].confidence == pytest.approx(1.0)
