"""Long sentences quoted as excerpts: what the user reads, and how `sanad eval` counts them."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import excerpt
from bot.app import build_app
from bot.bidi import ELLIPSIS, LRI, PDI, RLM
from bot.console import BOLD, RESET, render_answer
from bot.evaluation import evaluate
from bot.settings import Settings, SettingsError

from .conftest import make_settings

TITLE = "مدينة الزهراء"
LONG = (
    "في زمن بعيد، قبل أن تعرف المنطقة النفط والطرق الحديثة والمطارات الكبيرة، "
    "يقول المؤرخون إن الصيادين الذين نزلوا الساحل الشرقي قبل ثلاثة قرون بنوا أكواخا من سعف النخيل "
    "وحفروا آبارا للماء العذب وزرعوا حولها البساتين، ثم جاء التجار من المدن البعيدة فبنوا الأسواق "
    "والخانات والمساجد وأقاموا فيها سنوات طويلة، وحين اكتمل بناء الميناء الكبير في عام 1890 صارت "
    "الزهراء أهم مرفأ لتصدير اللؤلؤ والتمور في الخليج كله، وما زالت أسواقها القديمة تجذب الزوار من "
    "كل مكان حتى اليوم."
)
SHORT = "ويبلغ عدد سكان الزهراء اليوم نحو مئتي ألف نسمة."
EXPORTS = "ما أهم صادرات ميناء الزهراء؟"
MERCHANTS = "ماذا بنى التجار القادمون من المدن البعيدة؟"


def zahra_app(tmp_path: Path, **settings):
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "zahra.txt").write_text(f"{TITLE}\n\n{LONG} {SHORT}\n", encoding="utf-8")
    return build_app(make_settings(f"sqlite:///{tmp_path}/sanad.db", corpus_dir=corpus, **settings))


@pytest.fixture
def zahra(tmp_path):
    app = zahra_app(tmp_path)
    yield app
    app.close()


def article_text(app, article_id: int) -> str:
    with app.store.engine.connect() as connection:
        return connection.exec_driver_sql("select text from articles where id=?", (article_id,)).scalar()


def test_a_long_sentence_is_quoted_as_an_excerpt_that_holds_the_answer(zahra):
    answer = zahra.service.ask(EXPORTS)
    quote = answer.quotes[0]
    article = article_text(zahra, quote.article_id)

    assert len(LONG) > 400 and 220 >= len(quote.text)
    assert article[quote.start : quote.end] == quote.text  # verbatim and contiguous, at its offsets
    assert article[quote.sentence_start : quote.sentence_end] == LONG
    assert "أهم مرفأ لتصدير اللؤلؤ والتمور" in quote.text
    # Cut between words: the excerpt starts a word of the sentence and runs to its end.
    assert quote.trimmed_before and not quote.trimmed_after
    assert article[quote.start - 1] == " " and quote.end == quote.sentence_end
    shown = render_answer(answer)
    assert f"«{RLM}{ELLIPSIS} {quote.text}»" in shown.replace(LRI, "").replace(PDI, "")


def test_highlights_land_on_the_matched_words_of_the_excerpt(zahra):
    answer = zahra.service.ask(MERCHANTS, 1)
    [quote] = answer.quotes
    article = article_text(zahra, quote.article_id)

    assert quote.trimmed_before and quote.trimmed_after  # the matched words are mid-sentence
    assert [quote.text[s:e] for s, e in quote.highlights] == ["التجار", "المدن", "البعيدة"]
    for s, e in quote.highlights:
        assert article[quote.start + s : quote.start + e] == quote.text[s:e]
    assert "الأسواق والخانات والمساجد" in quote.text  # what they built follows the matched words
    shown = render_answer(answer, bold=True)
    assert f"{BOLD}التجار{RESET}" in shown and f"{BOLD}البعيدة{RESET}" in shown
    assert shown.split("\n")[0].endswith(f" {ELLIPSIS}{RLM}»")


def test_a_short_sentence_is_quoted_whole_without_an_ellipsis(zahra):
    answer = zahra.service.ask("كم عدد سكان الزهراء؟", 1)
    [quote] = answer.quotes
    assert quote.text == SHORT and not quote.trimmed_before and not quote.trimmed_after
    assert (quote.start, quote.end) == (quote.sentence_start, quote.sentence_end)
    assert ELLIPSIS not in render_answer(answer)


def test_quote_max_chars_zero_quotes_whole_sentences(tmp_path):
    app = zahra_app(tmp_path, quote_max_chars=0)
    try:
        [quote] = app.service.ask(EXPORTS, 1).quotes
    finally:
        app.close()
    assert quote.text == LONG and not quote.trimmed_before and not quote.trimmed_after
    assert Settings.from_env({"QUOTE_MAX_CHARS": "0"}, env_file=None).quote_max_chars == 0
    assert Settings.from_env({}, env_file=None).quote_max_chars == 220
    with pytest.raises(SettingsError, match="QUOTE_MAX_CHARS"):
        Settings.from_env({"QUOTE_MAX_CHARS": "-5"}, env_file=None)


def test_a_sentence_up_to_quote_whole_max_chars_is_quoted_whole(tmp_path):
    # 249 characters: over the excerpt length, but cutting it would save little reading.
    middling = LONG[LONG.index("ثم جاء التجار") :]
    assert 220 < len(middling) <= 400
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "zahra.txt").write_text(f"{TITLE}\n\n{middling}\n", encoding="utf-8")

    def quote_with(**settings):
        app = build_app(make_settings(f"sqlite:///{tmp_path}/sanad.db", corpus_dir=corpus, **settings))
        try:
            [quote] = app.service.ask(EXPORTS, 1).quotes
        finally:
            app.close()
        return quote

    whole = quote_with()
    assert whole.text == middling and not whole.trimmed_before and not whole.trimmed_after
    cut = quote_with(quote_whole_max_chars=0)  # every sentence over QUOTE_MAX_CHARS is cut
    assert len(cut.text) <= 220 and cut.trimmed_after and "اللؤلؤ والتمور" in cut.text
    assert Settings.from_env({}, env_file=None).quote_whole_max_chars == 400
    assert Settings.from_env({"QUOTE_WHOLE_MAX_CHARS": "0"}, env_file=None).quote_whole_max_chars == 0
    with pytest.raises(SettingsError, match="QUOTE_WHOLE_MAX_CHARS"):
        Settings.from_env({"QUOTE_WHOLE_MAX_CHARS": "many"}, env_file=None)


def test_json_output_gives_the_excerpt_and_the_whole_sentence_offsets(zahra):
    data = zahra.service.ask(EXPORTS, 1).to_json()["answers"][0]
    article = article_text(zahra, data["article_id"])
    assert article[data["start"] : data["end"]] == data["quote"]
    assert article[data["sentence_start"] : data["sentence_end"]] == LONG


@given(
    words=st.lists(st.sampled_from(["الميناء", "الزهراء", "1890", "Great", "و", "(بالإنجليزية:", "ق.م"]), min_size=1, max_size=80),
    spaces=st.lists(st.sampled_from([" ", "  ", "\n"]), min_size=80, max_size=80),
    limit=st.integers(min_value=1, max_value=300),
    matched=st.sets(st.integers(min_value=0, max_value=79), max_size=6),
)
def test_an_excerpt_is_whole_words_and_fits_the_limit(words, spaces, limit, matched):
    text = "".join(w + s for w, s in zip(words, spaces, strict=False)).strip()
    spans, at = [], 0
    for word in text.split():
        at = text.index(word, at)
        spans.append((at, at + len(word)))
        at += len(word)
    credits = [(s, e, (1.0, 0.5)) for i, (s, e) in enumerate(spans) if i in matched]
    first, last = excerpt.window(text, credits, [2.0, 1.0], limit)
    assert (first, last) in {(s, e) for s, _ in spans for _, e in spans}  # starts and ends a word
    assert last - first <= limit or len(text[first:last].split()) == 1  # a lone word may be longer
    if len(text) <= limit:
        assert (first, last) == (0, len(text))


def _first_strong(text: str) -> str | None:
    """The bidi class of the first strong character outside isolates (how a paragraph's
    direction is guessed), as Telegram and Discord clients do."""
    depth = 0
    for ch in text:
        if ch == LRI:
            depth += 1
        elif ch == PDI:
            depth = max(0, depth - 1)
        elif depth == 0 and unicodedata.bidirectional(ch) in ("L", "R", "AL"):
            return unicodedata.bidirectional(ch)
    return None


def test_an_excerpt_starting_with_a_latin_name_still_reads_right_to_left(tmp_path):
    from bot.telegram_bot.render import quote_blocks

    from .telegram_fakes import visible_text

    sentence = (
        "وأعلنت الشركة في مؤتمرها السنوي الذي حضره مئات الصحفيين والمستثمرين من مختلف دول العالم "
        "أن Great Wall Motors باعت أكثر من مليون سيارة كهربائية خلال العام الماضي وحده، وهو رقم "
        "قياسي لم تبلغه أي شركة صينية أخرى من قبل في تاريخ صناعة السيارات الكهربائية في البلاد."
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gw.txt").write_text(f"السيارات\n\n{sentence}\n", encoding="utf-8")
    app = build_app(make_settings(f"sqlite:///{tmp_path}/sanad.db", corpus_dir=corpus, quote_max_chars=120, quote_whole_max_chars=0))
    try:
        [quote] = app.service.ask("كم سيارة باعت Great Wall Motors؟", 1).quotes
    finally:
        app.close()
    assert quote.text.startswith("Great Wall Motors باعت") and quote.trimmed_before
    [block] = quote_blocks(quote)
    shown = visible_text(block.split("\n")[0])
    assert shown.startswith(f"{RLM}{ELLIPSIS} {LRI}Great Wall Motors{PDI}")
    assert _first_strong(shown) == "R"  # the paragraph is right to left: "…" on the right


# --- `sanad eval` ----------------------------------------------------------------------------


def squad_file(tmp_path: Path, question: str, answer: str, *, in_copy: bool) -> Path:
    """ARCD-like: the long sentence, then restated in a later paragraph (with a double space);
    the gold span is in the first or in the copy. The service quotes the first copy."""
    copy = LONG.replace("الصيادين الذين", "الصيادين  الذين")
    second = f"وفي الزهراء اليوم متحف صغير يروي تاريخ السفن الشراعية. {copy}"
    qas = [{"id": "1", "question": question, "answers": [{"text": answer}]}]
    qas[0]["answers"][0]["answer_start"] = second.index(answer) if in_copy else LONG.index(answer)
    squad = {
        "data": [
            {
                "title": TITLE,
                "paragraphs": [
                    {"context": LONG, "qas": [] if in_copy else qas},
                    {"context": second, "qas": qas if in_copy else []},
                ],
            }
        ]
    }
    path = tmp_path / "zahra.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    return path


def p_at_1(tmp_path: Path, path: Path, limit: int) -> float:
    return evaluate(path, make_settings(f"sqlite:///{tmp_path}/unused.db", quote_max_chars=limit)).p_at_1


def test_eval_counts_an_excerpt_that_cuts_the_answer_away_as_wrong(tmp_path):
    # The answer comes before the question's words; a 60-character excerpt starts after it.
    path = squad_file(tmp_path, "من نزل الساحل الشرقي قبل ثلاثة قرون؟", "الصيادين", in_copy=False)
    assert p_at_1(tmp_path, path, 0) == 1.0
    assert p_at_1(tmp_path, path, 60) == 0.0


def test_eval_carries_the_gold_span_into_a_copy_of_its_sentence(tmp_path):
    # The quote is an excerpt of the first copy; the gold span is in the second.
    path = squad_file(tmp_path, EXPORTS, "اللؤلؤ والتمور", in_copy=True)
    assert p_at_1(tmp_path, path, 0) == 1.0  # the whole copy reads the same as the gold sentence
    assert p_at_1(tmp_path, path, 220) == 1.0  # an excerpt of the copy that shows the answer
    assert p_at_1(tmp_path, path, 60) == 0.0  # one that stops before it, though the copy holds it
