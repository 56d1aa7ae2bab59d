"""The console adapter: render answers for a terminal and run an interactive chat."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from .answers import Answer, AnswerStatus, Quote
from .bidi import RLM, cut_marks, highlight_spans, isolate_ltr, mark_up
from .service import AnswerService

BOLD, RESET = "\033[1m", "\033[0m"

WELCOME = (
    "سند: اسأل عن المقالات المفهرسة (المقالات: {articles}، الجمل: {sentences})، "
    "وسأجيبك بالجملة التي تجيب عن سؤالك مع مصدرها.\n"
    "اكتب سؤالك ثم اضغط Enter. للخروج: خروج أو Ctrl+D. للمزيد من المصادر: المزيد"
)
PROMPT = "سؤالك: "
GOODBYE = "مع السلامة."
NO_MORE = "لا توجد مصادر أخرى لهذا السؤال."
EXIT_WORDS = {"خروج", "exit", "quit", ":q"}
MORE_WORDS = {"المزيد", "مزيد", "more"}


def render_quote(quote: Quote, *, bold: bool) -> str:
    """One quote in guillemets (with "…" where an excerpt cuts its sentence) and its source."""
    spans = highlight_spans(quote.text, quote.highlights) if bold else []
    body = mark_up(quote.text, spans, open_mark=BOLD, close_mark=RESET)
    body = cut_marks(body, before=quote.trimmed_before, after=quote.trimmed_after)
    where = f"المصدر: {isolate_ltr(quote.title)} — الجملة {quote.position} من {quote.sentence_count}"
    link = f"\n{RLM}{quote.url}" if quote.url else ""
    return f"{RLM}«{body}»\n{RLM}{where}{link}"


def render_answer(answer: Answer, *, bold: bool = False) -> str:
    """A readable, right-to-left safe text for a terminal."""
    if answer.status is AnswerStatus.ANSWERED:
        blocks = [render_quote(q, bold=bold) for q in answer.quotes]
        if answer.has_more:
            blocks.append(f"{RLM}(اكتب «المزيد» لمصادر أخرى)")
        return "\n\n".join(blocks)
    text = f"{RLM}{answer.reason or ''}"
    if answer.suggestions:
        titles = "\n".join(f"{RLM}• {isolate_ltr(t)}" for t in answer.suggestions)
        text += f"\n{RLM}أقرب المقالات إلى سؤالك:\n{titles}"
    return text


def chat(
    service: AnswerService,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    read: Callable[[str], str] | None = None,
) -> int:
    """Interactive console chat over the answer service until end of input or "خروج"."""
    interactive = stdin.isatty() and stdout.isatty()
    bold = stdout.isatty()

    def ask_line(prompt: str) -> str:
        if read is not None:
            return read(prompt)
        if interactive:
            return input(prompt)
        line = stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    index = service.index
    print(WELCOME.format(articles=len(index.articles), sentences=len(index.sentences)), file=stdout)
    last: Answer | None = None
    while True:
        try:
            line = ask_line(PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            print(f"\n{GOODBYE}", file=stdout)
            return 0
        if not line:
            continue
        if line.lower() in EXIT_WORDS:
            print(GOODBYE, file=stdout)
            return 0
        if line in MORE_WORDS:
            if last is None or not last.has_more or last.question_id is None:
                print(f"{RLM}{NO_MORE}", file=stdout)
                continue
            nxt = service.more(last.question_id, last.offset + len(last.quotes))
            if nxt is None or not nxt.quotes:
                print(f"{RLM}{NO_MORE}", file=stdout)
                continue
            last = nxt
        else:
            last = service.ask(line, platform="console", user_id="console")
        print(render_answer(last, bold=bold), file=stdout)
        print(file=stdout)
