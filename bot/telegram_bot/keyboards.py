"""Buttons under answers, and the callback data they carry.

Callback data holds everything a button needs (the question log id and the next offset), so a
button pressed after a restart still works: nothing is kept in memory between the answer and
the press. Telegram allows 64 bytes of callback data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

from ..answers import Answer, AnswerStatus
from . import texts

MAX_CALLBACK_BYTES = 64
CALLBACK_PATTERN = r"^(more|vote):"

_MORE = re.compile(r"more:([0-9]{1,19}):([0-9]{1,9})")
_VOTE = re.compile(r"vote:([0-9]{1,19}):([+-]1)")


@dataclass(frozen=True, slots=True)
class MoreSources:
    """"مصادر أخرى": the quotes of question *question_id* from *offset* on."""

    question_id: int
    offset: int


@dataclass(frozen=True, slots=True)
class Vote:
    """👍 (+1) or 👎 (-1) on the answer to question *question_id*."""

    question_id: int
    vote: int


Callback = MoreSources | Vote


def encode(callback: Callback) -> str:
    """The callback data string for *callback*; raises ValueError if it would exceed 64 bytes."""
    if isinstance(callback, MoreSources):
        data = f"more:{callback.question_id}:{callback.offset}"
    else:
        data = f"vote:{callback.question_id}:{'+1' if callback.vote > 0 else '-1'}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Callback | None:
    """The button behind *data*, or None for data this bot did not write (or no longer reads)."""
    if not data:
        return None
    if match := _MORE.fullmatch(data):
        return MoreSources(int(match[1]), int(match[2]))
    if match := _VOTE.fullmatch(data):
        return Vote(int(match[1]), int(match[2]))
    return None


def answer_keyboard(answer: Answer) -> InlineKeyboardMarkup | None:
    """"مصادر أخرى" when more quotes exist, and 👍/👎, under an answered question."""
    if answer.status is not AnswerStatus.ANSWERED or not answer.quotes or answer.question_id is None:
        return None
    rows = []
    if answer.has_more:
        following = MoreSources(answer.question_id, answer.offset + len(answer.quotes))
        rows.append([InlineKeyboardButton(texts.MORE_BUTTON, callback_data=encode(following))])
    rows.append(votes_row(answer.question_id))
    return InlineKeyboardMarkup(rows)


def votes_row(question_id: int) -> list[InlineKeyboardButton]:
    """The 👍/👎 buttons for question *question_id*."""
    return [
        InlineKeyboardButton(texts.VOTE_UP_BUTTON, callback_data=encode(Vote(question_id, +1))),
        InlineKeyboardButton(texts.VOTE_DOWN_BUTTON, callback_data=encode(Vote(question_id, -1))),
    ]


def examples_keyboard(examples: Sequence[str]) -> ReplyKeyboardMarkup | None:
    """Example questions as reply-keyboard buttons: a tap sends the question as the user's message.

    A reply keyboard (rather than callback buttons) carries the whole question, whatever its
    length, and the answer then replies to a real question in the chat.
    """
    if not examples:
        return None
    return ReplyKeyboardMarkup(
        [[KeyboardButton(example)] for example in examples],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=texts.INPUT_PLACEHOLDER,
    )
