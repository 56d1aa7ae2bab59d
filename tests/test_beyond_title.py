"""Within an article about X, the sentence that answers what is asked about X comes first."""

from dataclasses import replace

import numpy as np
import pytest

from bot.service import search_config
from bot.settings import Settings
from retrieval.beyond_title import beyond_title_coverage, title_holds
from retrieval.confidence import profile
from retrieval.index import TermSetIndex
from retrieval.search import ArticleRecord, SearchConfig, SearchIndex, SentenceRecord

ARTICLES = {
    "جبران خليل جبران": [
        "جبران خليل جبران شاعر وكاتب ورسام لبناني، ويعرف جبران خليل جبران بكتاب النبي، وولد جبران في بشري.",
        "انتقل مع أسرته إلى بوسطن وهو صغير، ثم درس الرسم في باريس.",
        "توفي سنة 1931 في مستشفى بمدينة نيويورك.",
    ],
    "نيويورك": [
        "نيويورك أكبر مدن الولايات المتحدة من حيث عدد السكان.",
        "تقع نيويورك على ساحل المحيط الأطلسي.",
    ],
    "السل": [
        "السل مرض معد تسببه بكتيريا المتفطرة السلية.",
        "ينتقل السل عن طريق الهواء.",
    ],
}


def build(config: SearchConfig) -> SearchIndex:
    articles, sentences = [], []
    for number, (title, texts) in enumerate(ARTICLES.items()):
        first = len(sentences)
        offset = 0
        for position, text in enumerate(texts, 1):
            sentences.append(SentenceRecord(len(sentences), number, position, offset, offset + len(text), text))
            offset += len(text) + 1
        articles.append(ArticleRecord(number, title, f"doc{number}", None, first, len(texts)))
    return SearchIndex(articles, sentences, config)


@pytest.fixture(scope="module")
def tuned() -> SearchIndex:
    return build(search_config(Settings()))


def texts(index: SearchIndex, question: str, k: int = 3) -> list[str]:
    return [index.sentences[h.doc].text for h in index.search(question, k).hits]


def test_the_sentence_about_what_is_asked_beats_the_one_that_repeats_the_name(tuned):
    question = "متى توفي جبران خليل جبران؟"
    assert texts(tuned, question)[0] == "توفي سنة 1931 في مستشفى بمدينة نيويورك."
    # Without the beyond-title score the opening sentence, which names Gibran three times
    # but says nothing of his death, comes first: that is what this score is for.
    plain = build(replace(tuned.config, beyond_title_weight=0.0))
    assert texts(plain, question)[0].startswith("جبران خليل جبران شاعر")


def test_a_question_about_the_subject_itself_still_gets_the_opening_sentence(tuned):
    # Nothing is asked beyond the title: the article's context and the lead prior decide.
    assert texts(tuned, "من هو جبران خليل جبران؟")[0].startswith("جبران خليل جبران شاعر")


def test_other_articles_still_answer_their_own_questions(tuned):
    assert texts(tuned, "كيف ينتقل مرض السل؟")[0] == "ينتقل السل عن طريق الهواء."
    assert texts(tuned, "أين تقع نيويورك؟")[0] == "تقع نيويورك على ساحل المحيط الأطلسي."


def test_coverage_counts_only_what_the_title_does_not_hold():
    # Question words weigh 1, 2 and 3; the first sentence's title holds the first word.
    credits = np.array([[1.0, 1.0, 0.0], [1.0, 0.5, 1.0], [1.0, 0.0, 0.0]])
    held = np.array([[True, False, False], [False, False, False], [True, True, True]])
    got = beyond_title_coverage([1.0, 2.0, 3.0], credits, held)
    # 2 of the 5 left; 1 + 1 + 3 of 6; nothing is left to cover: 0, not a division by zero.
    assert got.tolist() == pytest.approx([2 / 5, 5 / 6, 0.0])


def test_title_holds_reads_the_titles_light_stems(tuned):
    titles = TermSetIndex.build([["جبر", "خليل"], ["نيويورك"]])
    asked = profile("متى توفي جبران خليل جبران في نيويورك", tuned.idf)
    held = title_holds(asked, titles, np.array([0, 1, 1, 0]))
    words = [w.stem for w in asked.words]
    assert words == ["توف", "جبر", "خليل", "جبر", "نيويورك"]
    assert held.tolist() == [
        [False, True, True, True, False],
        [False, False, False, False, True],
        [False, False, False, False, True],
        [False, True, True, True, False],
    ]


def test_read_from_the_index_or_from_the_text_it_is_the_same_number(tuned):
    # A configuration without root and n-gram fields reads credits from the sentence text.
    from_text = build(SearchConfig(article_weight=1.0, beyond_title_weight=1.0))
    assert tuned.coverage_from_index and not from_text.coverage_from_index
    docs = np.arange(len(tuned))
    for question in ("متى توفي جبران خليل جبران؟", "كيف ينتقل مرض السل؟", "أين تقع نيويورك الامريكية؟"):
        a = tuned.beyond_title(profile(question, tuned.idf), docs)
        b = from_text.beyond_title(profile(question, from_text.idf), docs)
        assert a.tolist() == pytest.approx(b.tolist())


def test_the_compiled_pass_gives_the_coverage_of_the_credits(tuned):
    # One pass over the candidates instead of the credits array and numpy steps: same numbers,
    # with alternative spellings (an alias group), titles holding some words and none.
    from retrieval.aliases import AliasTable

    index = build(replace(search_config(Settings()), fields=tuned.config.fields))
    index.aliases = AliasTable([("نيويورك", "نيو يورك", "New York")])
    docs = np.arange(len(index))
    checked = 0
    for question in (
        "متى توفي جبران خليل جبران؟", "كيف ينتقل مرض السل؟", "أين تقع نيو يورك؟", "New York مستشفى جبران",
        "بوسطن باريس الرسم", "؟",
    ):
        asked = profile(question, index.idf, index.aliases)
        titled = title_holds(asked, index._title_index, index.doc_article[docs])
        expected = beyond_title_coverage(asked.weights, index.credits(asked, docs, near=False), titled)
        got = index._indexed_coverage.beyond_title(asked, docs, titled)
        assert got.tolist() == pytest.approx(expected.tolist(), abs=1e-12), question
        checked += bool(any(asked.alternatives)) + bool(expected.any())
    assert checked >= 5


def test_the_confidence_of_reranked_hits_is_the_sentences_own_coverage(tuned):
    # The hits' confidence reuses the stems, roots and titles the re-rank looked up for them.
    checked = 0
    for question in ("متى توفي جبران خليل جبران؟", "كيف ينتقل مرض السل؟", "New York مستشفى جبران", "بوسطن باريس الرسم"):
        hits = tuned.search(question, 10).hits
        assert [h.confidence for h in hits] == pytest.approx([tuned.confidence(h.doc, question) for h in hits]), question
        checked += len(hits)
    assert checked >= 6


def test_the_confidence_reads_a_sentence_with_its_title(tuned):
    # "توفي سنة 1931 ..." does not name Gibran, but in his article it answers the question: the
    # bar must not refuse it for leaving the subject to the title.
    question = "متى توفي جبران خليل جبران؟"
    hit = tuned.search(question, 1).hits[0]
    assert tuned.sentences[hit.doc].text.startswith("توفي سنة 1931")
    assert hit.confidence == pytest.approx(1.0)
    alone = build(replace(tuned.config, title_in_confidence=False))
    assert alone.confidence(hit.doc, question) < 0.5
    # A sentence of another article gets no credit from Gibran's title.
    other = next(i for i, s in enumerate(tuned.sentences) if s.text.startswith("تقع نيويورك"))
    assert tuned.confidence(other, question) == pytest.approx(alone.confidence(other, question))
