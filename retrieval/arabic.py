"""Arabic text analysis: normalisation, tokenisation with offsets, stop words and stemming.

One analyzer serves both the indexed sentences and the users' questions, so the two always
meet in the same form. Every token keeps the character span it came from in the original
text; that is how matched words are highlighted in the verbatim quote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import NamedTuple

# Harakat, Quranic annotation marks and superscript alef: they change the reading, not the word.
_DIACRITICS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
_TATWEEL = "\u0640"
# Zero-width and bidi controls are invisible and pasted in from other apps; they must not split
# or change a word.
_INVISIBLE = "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff"

_STRIP_RE = re.compile(f"[{_DIACRITICS}{_TATWEEL}{_INVISIBLE}]")

_LETTER_MAP = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ٲ": "ا",
        "ٳ": "ا",
        "ى": "ي",
        "ی": "ي",  # Persian yeh
        "ې": "ي",
        "ة": "ه",
        "ۀ": "ه",
        "ک": "ك",  # Persian keheh
        "٫": ".",  # Arabic decimal separator
        "٬": ",",  # Arabic thousands separator
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
    }
)

# A word is a run of letters/digits, possibly carrying marks and invisible characters inside;
# a number keeps its decimal and grouping separators (1.11, 1.002.000, ١٫٥).
# Digits glued to letters ("2023م", "x5") give separate terms: people type them either way.
# Runs of letters and runs of marks alternate (rather than one character at a time): the same
# matches in a quarter less time.
_NUMBER_SEPARATORS = ".,\u066b\u066c"
_WORD_MARKS = f"{_DIACRITICS}{_TATWEEL}{_INVISIBLE}"
_TOKEN_RE = re.compile(rf"\d+(?:[{_NUMBER_SEPARATORS}]\d+)*|(?:[^\W\d_]+|[{_WORD_MARKS}]+)+")
# What the pattern is made of, for the compiled scanner that reads a corpus (retrieval/words.py).
TOKEN_CLASSES = {
    "word": rf"[^\W\d_]|[{_WORD_MARKS}]",
    "digit": r"\d",
    "separator": f"[{_NUMBER_SEPARATORS}]",
}
_ARABIC_RE = re.compile("[\u0600-\u06ff]")


def normalize(text: str) -> str:
    """Return *text* in the canonical form used for matching.

    Presentation forms are folded (NFKC), diacritics, tatweel and invisible controls removed,
    alef/yeh/teh-marbuta variants unified, Arabic-Indic and Persian digits made ASCII and Latin
    case-folded. The result may be shorter than the input, so it is never used for offsets.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _STRIP_RE.sub("", text)
    return text.translate(_LETTER_MAP).casefold()


class Token(NamedTuple):
    """A word of the original text: its normalised form and where it stands.

    A named tuple: answering makes a few hundred of them, at half a frozen dataclass's cost.
    """

    norm: str
    start: int
    end: int


# Words repeat (Zipf): a question and the sentences quoted for it are mostly words seen before.
_normalize_word = lru_cache(maxsize=65_536)(normalize)


@lru_cache(maxsize=1024)
def tokenize(text: str) -> tuple[Token, ...]:
    """Split *text* into normalised word tokens, each with its span in *text*.

    Remembered for recent texts: answering reads a question's words half a dozen times (each
    field, the confidence, the excerpt) and a quoted sentence's twice (highlights, excerpt).
    """
    return tuple(
        Token(norm, *match.span())
        for match in _TOKEN_RE.finditer(text)
        if (norm := _normalize_word(match.group()))
    )


def has_words(text: str) -> bool:
    """True when *text* holds at least one letter or digit (not only emoji or punctuation)."""
    return bool(tokenize(text))


def is_arabic(word: str) -> bool:
    """True when *word* contains Arabic letters."""
    return bool(_ARABIC_RE.search(word))


# Function words and question words, written as people write them; they are normalised below
# so that the list and the analysed text always agree.
_STOP_WORDS_RAW = """
ما ماذا متى كم من أين اين لماذا لما كيف هل أي أية أيّ ممن مما عما فيم بم لم لن لا لات ليس ليست
في على إلى الى عن مع منذ مذ حتى عند لدى لدي خلال ضمن دون بين نحو حول عبر تجاه قبل بعد فوق تحت
و أو أم ثم بل لكن لكن ف ب ل ك قد لقد إن أن إنّ أنّ كأن لأن لعل إذا إذ اذا اذ لو لولا كي كما
هذا هذه هذان هاتان هؤلاء ذلك ذلكم تلك أولئك هنا هناك هنالك ثمة
هو هي هما هم هن أنا انا نحن أنت انت أنتم انتم أنتما أنتن إياه إياها
الذي التي الذين اللذان اللتان اللتين اللذين اللاتي اللواتي اللائي
كان كانت كانوا يكون تكون يكن كنت أصبح صار ظل مازال ما زال
كل بعض غير سوى أيضا ايضا جدا فقط إلا الا ذات ذو ذي
به بها بهم له لها لهم لهن منه منها منهم فيه فيها فيهم عليه عليها عليهم إليه إليها عنه عنها
يا أيها يمكن تم يتم
ماهو ماهي ماهى ماذا منهو منهي ماالذي ماهم ماسبب ماهما ايه شو وش فين امتى ليش
تعرف أعرف اعرف أخبرني اخبرني حدثني أريد اريد نريد أود سمحت فضلك رجاء
"""

STOP_WORDS: frozenset[str] = frozenset(normalize(w) for w in _STOP_WORDS_RAW.split())


# --- Light stemming --------------------------------------------------------------------------
# Larkey, Ballesteros and Connell's "light10" (also Lucene's ArabicStemmer): strip one definite
# article or conjunction prefix, then the common plural, dual, feminine and pronoun suffixes,
# always keeping at least two letters. Applied to normalised words (ة is already ه).
_LIGHT_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال", "و")
_LIGHT_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")


@lru_cache(maxsize=200_000)
def light_stem(word: str) -> str:
    """Light10 stem of a normalised Arabic *word*; non-Arabic words are returned unchanged."""
    if not is_arabic(word):
        return word
    # The alif left by tanween fatha once diacritics are gone (موظفاً -> موظفا).
    if len(word) >= 5 and word.endswith("ا"):
        word = word[:-1]
    for prefix in _LIGHT_PREFIXES:
        minimum = 4 if len(prefix) == 1 else len(prefix) + 2
        if len(word) >= minimum and word.startswith(prefix):
            word = word[len(prefix) :]
            break
    for suffix in _LIGHT_SUFFIXES:
        if len(word) >= len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
    return word


@lru_cache(maxsize=1)
def _snowball() -> Callable[[str], str]:
    import Stemmer  # PyStemmer: the Snowball Arabic stemmer, in C

    return Stemmer.Stemmer("arabic").stemWord


@lru_cache(maxsize=200_000)
def snowball_stem(word: str) -> str:
    """Snowball Arabic stem (PyStemmer) of a normalised word; non-Arabic words unchanged."""
    if not is_arabic(word):
        return word
    return normalize(_snowball()(word)) or word


@lru_cache(maxsize=1)
def _isri() -> Callable[[str], str]:
    from nltk.stem.isri import ISRIStemmer  # root extraction; needs no downloaded data

    class Stemmer(ISRIStemmer):
        """NLTK's ISRI stemmer with the same results, faster: NLTK runs its two normalisation
        substitutions through a regular expression engine with a timeout (a quarter of the CPU
        a reindex spends analysing words) and looks stop words up in a list."""

        _SHORT_VOWELS = dict.fromkeys(range(0x064B, 0x0653))  # the class [\u064B-\u0652]
        _INITIAL_HAMZAS = "\u0622\u0623\u0625"

        def __init__(self) -> None:
            super().__init__()
            self.stop_words = frozenset(self.stop_words)

        def norm(self, word: str, num: int = 3) -> str:
            if num in (1, 3):
                word = word.translate(self._SHORT_VOWELS)
            if num in (2, 3) and word and word[0] in self._INITIAL_HAMZAS:
                word = "\u0627" + word[1:]
            return word

    return Stemmer().stem


@lru_cache(maxsize=200_000)
def root_stem(word: str) -> str:
    """ISRI root of a normalised Arabic word (coarser than a light stem)."""
    if not is_arabic(word) or len(word) < 3:
        return word
    return normalize(_isri()(word)) or word


def char_ngrams(word: str, sizes: Iterable[int] = (3, 4)) -> list[str]:
    """Character n-grams of *word* with boundary marks, so prefixes and suffixes stay visible."""
    marked = f"#{word}#"
    grams: list[str] = []
    for n in sizes:
        if len(marked) <= n:
            grams.append(marked)
            break
        grams.extend(marked[i : i + n] for i in range(len(marked) - n + 1))
    return grams


STEMMERS: dict[str, Callable[[str], str]] = {
    "light": light_stem,
    "snowball": snowball_stem,
    "root": root_stem,
    "none": lambda word: word,
}


class Term(NamedTuple):
    """An index term and the span of the original word it came from."""

    term: str
    start: int
    end: int


class Analyzer:
    """Turns text into index terms for one field (stems, roots or character n-grams).

    The same instance analyses sentences at index time and questions at query time.
    """

    def __init__(self, kind: str = "light", *, stop_words: frozenset[str] = STOP_WORDS) -> None:
        if kind != "ngram" and kind not in STEMMERS:
            raise ValueError(f"unknown analyzer {kind!r}")
        self.kind = kind
        self._stop_words = stop_words
        self._stem = STEMMERS.get(kind, STEMMERS["none"])
        # Light stemming only cuts letters off the ends: a word's term is part of the word.
        self.terms_inside_words = kind in ("light", "none")

    def __repr__(self) -> str:
        return f"Analyzer({self.kind!r})"

    def words(self, text: str) -> list[Token]:
        """The content words of *text* (stop words removed), normalised, with spans."""
        return [t for t in tokenize(text) if t.norm not in self._stop_words]

    def terms_with_spans(self, text: str) -> list[Term]:
        """Index terms of *text* with the span of the word each came from."""
        out: list[Term] = []
        for token in self.words(text):
            for term in self.word_terms(token.norm):
                out.append(Term(term, token.start, token.end))
        return out

    def word_terms(self, word: str) -> list[str]:
        """Index terms for one normalised content word."""
        if self.kind == "ngram":
            # Grams of the normalised word, not its stem: they carry typo and affix tolerance
            # that the stem field lacks.
            return char_ngrams(word)
        return [self._stem(word)]

    def terms(self, text: str) -> list[str]:
        """Index terms of *text*, in order, repeats kept (BM25 counts them)."""
        return [term for token in self.words(text) for term in self.word_terms(token.norm)]

    def spans_of(self, text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
        """Spans in *text* of its content words that have one of *terms* among their terms."""
        if not self.terms_inside_words:
            return [(t.start, t.end) for t in self.words(text) if any(x in terms for x in self.word_terms(t.norm))]
        if not terms:
            return []
        # A word's term is part of the word, so a word that holds none of *terms* is skipped
        # before it is stemmed or made a token: most words of a sentence are, and a quote's
        # words cost 5 µs each through tokenize() and a test per term (at a million sentences
        # most are missing from the stemmer's cache too). Not a compiled alternation of the
        # terms: compiling one costs 0.2 ms, for each new question.
        inside = tuple(terms)
        stem, stop_words = self._stem, self._stop_words
        spans = []
        for match in _TOKEN_RE.finditer(text):
            norm = _normalize_word(match.group())
            if norm and any(map(norm.__contains__, inside)) and norm not in stop_words and stem(norm) in terms:
                spans.append(match.span())
        return spans
