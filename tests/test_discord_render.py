"""Discord rendering without a connection: limits, splitting, escaping, right-to-left safety."""

from __future__ import annotations

import string
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answers import Answer, AnswerStatus, Quote, ReindexReport, Stats
from bot.bidi import LRI, PDI, RLM
from bot.discord_bot import render

from .discord_fakes import unrender


def quote(text: str, highlights=(), title: str = "عنوان", url: str | None = None) -> Quote:
    return Quote(
        text=text, article_id=1, title=title, source="/x.txt", url=url, position=2, sentence_count=9,
        start=0, end=len(text), score=1.0, highlights=tuple(highlights),
    )


def test_matched_words_separated_by_spaces_are_one_bold_run_and_one_isolate():
    # Two isolates with a space between would read "Wall Great" in a right-to-left line.
    text = "كما تبني Great Wall مصنعًا"
    md = render.markdown(text, [(9, 14), (15, 19)])

    assert md == f"كما تبني **{LRI}Great Wall{PDI}** مصنعًا"


def test_a_match_inside_a_latin_run_keeps_the_run_in_one_isolate():
    md = render.markdown("شركة Great Wall الصينية", [(11, 15)])

    assert md.count(LRI) == md.count(PDI) == 1
    assert unrender(md) == "شركة Great Wall الصينية"


def test_markdown_characters_are_escaped():
    md = render.plain("*نجمة* _سطر_ `رمز` ~~خط~~ ||سر|| > اقتباس")

    assert unrender(md) == "*نجمة* _سطر_ `رمز` ~~خط~~ ||سر|| > اقتباس"
    for char in "*_`~|":
        assert md.count("\\" + char) == md.count(char)


words = st.sampled_from(["الزعفران", "Great", "Wall", "1.11", "*", "_x_", "`", "مليون", "سيارة", "a" * 300])
texts = st.lists(words, min_size=1, max_size=400).map(" ".join)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(text=texts, limit=st.integers(min_value=40, max_value=4096), data=st.data())
def test_quote_chunks_fit_the_limit_and_together_are_the_whole_sentence(text, limit, data):
    starts = [i for i in range(len(text)) if i == 0 or text[i - 1] == " "]
    picked = data.draw(st.lists(st.sampled_from(starts), max_size=5, unique=True))
    highlights = sorted((s, text.find(" ", s) if " " in text[s:] else len(text)) for s in picked)

    chunks = render.quote_chunks(quote(text, highlights), limit)

    assert all(len(c) <= limit for c in chunks)
    joined = " ".join(unrender(c) for c in chunks)
    # Pieces are cut between words, so they join back into the sentence with one space; only
    # a word too long for a piece on its own is cut between letters.
    assert joined.replace(" ", "") == f"«{text}»".replace(" ", "")
    if limit >= 2 * max(len(w) for w in text.split()) + 10:
        assert joined == f"«{text}»"
    for chunk in chunks:  # each piece is valid on its own
        assert chunk.count(LRI) == chunk.count(PDI)
        assert chunk.replace("\\*", "").count("**") % 2 == 0


def test_an_excerpt_shows_an_ellipsis_inside_the_guillemets_where_its_sentence_was_cut():
    text = "باعت Great Wall مليون سيارة"
    both = replace(quote(text, [(5, 10)]), sentence_start=-40, sentence_end=len(text) + 9)
    head = replace(quote(text), sentence_start=-40, sentence_end=len(text))

    (md,) = render.quote_chunks(both)
    assert md.startswith(f"«{RLM}… ") and md.endswith(f" …{RLM}»") and "**" in md
    assert unrender(md) == f"«{RLM}… {text} …{RLM}»"
    assert unrender(render.quote_chunks(head)[0]) == f"«{RLM}… {text}»"
    # Split over several pieces, the marks stay at the excerpt's two ends.
    long_text = " ".join(["كلمة"] * 400)
    chunks = [unrender(c) for c in render.quote_chunks(replace(quote(long_text), sentence_start=-1, sentence_end=10**6), 500)]
    assert len(chunks) > 2 and chunks[0].startswith(f"«{RLM}… ") and chunks[-1].endswith(f" …{RLM}»")
    assert all("…" not in c for c in chunks[1:-1])


def test_a_short_quote_is_one_embed_with_title_link_and_position():
    (embed,) = render.quote_embeds(quote("جملة قصيرة.", url="https://example.com/a"))

    assert embed.title == "عنوان" and embed.url == "https://example.com/a"
    assert embed.footer.text == "الجملة 2 من 9"


def test_an_address_discord_would_reject_is_shown_in_the_footer_instead():
    (embed,) = render.quote_embeds(quote("جملة.", url="example.com/a"))

    assert embed.url is None and "example.com/a" in embed.footer.text


def test_very_long_titles_are_clipped_to_the_embed_title_limit():
    (embed,) = render.quote_embeds(quote("جملة.", title="عنوان طويل " * 60))

    assert len(embed.title) <= render.TITLE_CHARS and embed.title.endswith("…")


def test_pack_keeps_messages_within_ten_embeds_and_6000_characters():
    quotes = [quote("كلمة " * 500) for _ in range(12)] + [quote("قصيرة.") for _ in range(15)]

    pages = render.pack(render.quote_embeds(q) for q in quotes)

    assert all(len(p.embeds) <= 10 and sum(len(e) for e in p.embeds) <= 6000 for p in pages)
    assert sum(len(p.embeds) for p in pages) == 27


def test_no_answer_text_fits_one_message_even_with_huge_titles():
    answer = Answer("س", AnswerStatus.NO_ANSWER, reason="لم أجد.", suggestions=("عنوان " * 400,) * 5)

    text = render.no_answer_text(answer)

    assert len(text) <= render.MESSAGE_CHARS and text.startswith("لم أجد.")


def test_question_choices_are_at_most_25_of_at_most_100_characters():
    long_question = "سؤال " * 30
    choices = render.question_choices("", [long_question, "سؤال قصير؟"], ["عنوان " * 40] + [f"مقالة {i}" for i in range(40)])

    assert len(choices) == 25
    assert choices[0].value == "سؤال قصير؟"  # a question too long to offer whole is left out
    assert all(len(c.name) <= 100 and len(c.value) <= 100 for c in choices)


def test_stats_embed_keeps_fields_within_limits():
    stats = Stats(3, 40, 2, "2025-01-01T00:00:00", 90, 50, 30, 10, 7, 2, tuple((q * 100, 3) for q in string.ascii_letters))

    embed = render.stats_embed(stats)

    assert len(embed.fields) <= render.FIELDS_PER_EMBED
    assert all(len(f.value) <= render.FIELD_VALUE_CHARS for f in embed.fields)
    assert len(embed) <= render.EMBED_TOTAL_CHARS


def test_reindex_text_lists_problem_files_by_name_within_one_message():
    problems = tuple((f"/srv/corpus/file{i}.txt", "الملف فارغ (empty file)") for i in range(200))
    report = ReindexReport(1, 2, 3, 4, 5, 60, 1.5, 7, problems)

    text = render.reindex_text(report)

    assert len(text) <= render.MESSAGE_CHARS
    assert "1 مضافة" in text and "file0.txt" in text and "/srv/corpus" not in text
