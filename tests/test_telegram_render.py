"""How answers look in Telegram: escaping, bold, isolates, links, message splitting, button data."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from bot.answers import Quote
from bot.bidi import LRI, PDI, RLM
from bot.telegram_bot import keyboards, render
from bot.telegram_bot.admin import safe_file_name

from .telegram_fakes import visible_text


def quote(text: str = "قالت الشركة إنها باعت 1.11 مليون سيارة.", **changes) -> Quote:
    values = dict(
        text=text, article_id=1, title="عنوان", source="a.txt", url=None, position=3, sentence_count=12,
        start=0, end=len(text), score=1.0, highlights=(),
    )
    values.update(changes)
    return Quote(**values)


def test_matched_words_are_bold_and_latin_runs_isolated_across_the_bold():
    text = "باعت Great Wall <b>1.11</b> & Co مليون"
    great = (text.index("Great"), text.index("Great") + 5)
    markup = render.marked_sentence(text, [great])
    assert markup == (
        f"باعت {LRI}<b>Great</b> Wall{PDI} &lt;{LRI}b{PDI}&gt;{LRI}1.11{PDI}&lt;/{LRI}b{PDI}&gt; &amp; {LRI}Co{PDI} مليون"
    )
    assert visible_text(markup).replace(LRI, "").replace(PDI, "") == text


def test_an_excerpt_shows_an_ellipsis_where_its_sentence_was_cut():
    text = "باعت الشركة 1.11 مليون سيارة"
    [block] = render.quote_blocks(quote(text, sentence_start=0, sentence_end=len(text) + 30))
    assert visible_text(block).startswith(f"{text.replace('1.11', f'{LRI}1.11{PDI}')} …{RLM}\n")
    [block] = render.quote_blocks(quote(text, start=12, end=12 + len(text), sentence_start=0, sentence_end=12 + len(text)))
    assert visible_text(block).startswith(f"{RLM}… باعت")
    [block] = render.quote_blocks(quote(text))  # a whole sentence: no mark
    assert "…" not in visible_text(block)
    # An excerpt too long for one message: the marks stay at its two ends.
    long_text = " ".join(["كلمة"] * 1500)
    blocks = render.quote_blocks(quote(long_text, start=5, end=5 + len(long_text), sentence_start=0, sentence_end=10**6))
    quoted = [visible_text(b).split("\n")[0] for b in blocks]
    assert len(quoted) >= 2 and quoted[0].startswith(f"{RLM}… ") and quoted[-1].endswith(f" …{RLM}")
    assert all(render.visible_length(b) <= render.TELEGRAM_LIMIT for b in blocks)


def test_the_source_line_links_web_addresses_only_and_escapes_them():
    url = 'https://example.com/a?x=1&y="2"'
    line = render.source_line(quote(url=url, title="Tom & <Jerry>"))
    assert '<a href="https://example.com/a?x=1&amp;y=&quot;2&quot;">' in line
    assert visible_text(line).replace(LRI, "").replace(PDI, "").endswith("📄 Tom & <Jerry> — الجملة 3 من 12")
    assert "<a " not in render.source_line(quote(url="javascript:alert(1)"))


def test_visible_length_counts_what_telegram_counts():
    assert render.visible_length("<b>a&amp;b</b>") == 3
    assert render.visible_length("😀") == 2  # Telegram counts UTF-16 code units


@given(st.lists(st.integers(min_value=1, max_value=render.TELEGRAM_LIMIT), min_size=1, max_size=12))
def test_packing_never_exceeds_the_limit_and_never_splits_a_block(sizes):
    blocks = [f"<blockquote>{chr(0x627 + i % 20) * n}</blockquote>" for i, n in enumerate(sizes)]
    messages = render.pack(blocks)
    assert all(render.visible_length(m) <= render.TELEGRAM_LIMIT for m in messages)
    assert render.BLOCK_SEPARATOR.join(messages) == render.BLOCK_SEPARATOR.join(blocks)
    # As few messages as greedy packing allows: no two neighbours would have fit together.
    for first, second in itertools.pairwise(messages):
        next_block = second.split(render.BLOCK_SEPARATOR)[0]
        assert render.visible_length(first + render.BLOCK_SEPARATOR + next_block) > render.TELEGRAM_LIMIT


def test_callback_data_fits_in_64_bytes_even_for_huge_ids_and_reads_back():
    for action in (keyboards.MoreSources(10**19 - 1, 10**9 - 1), keyboards.Vote(10**19 - 1, -1), keyboards.Vote(5, +1)):
        data = keyboards.encode(action)
        assert len(data.encode()) <= 64
        assert keyboards.decode(data) == action


def test_callback_data_this_bot_did_not_write_reads_as_nothing():
    for data in ("", None, "more:1", "more:-1:2", "vote:1:+2", "vote:1:1", "more:1:2:3", "x" * 64, "more:١:٢"):
        assert keyboards.decode(data) is None


def test_uploaded_file_names_cannot_leave_or_hide_in_the_uploads_folder():
    assert safe_file_name("../../etc/cron.d/evil.txt") == "evil.txt"
    assert safe_file_name("..\\..\\evil.md") == "evil.md"
    assert safe_file_name(".hidden.json") == "hidden.json"
    assert safe_file_name("مقالات الأسبوع (1).txt") == "مقالات الأسبوع _1_.txt"
    assert safe_file_name("") == ""
