"""Sentence splitting: exact offsets, nothing lost, numbers and abbreviations whole."""

from hypothesis import given
from hypothesis import strategies as st

from retrieval.sentences import split_sentences


def sentences(text, **kw):
    return [text[s.start : s.end] for s in split_sentences(text, **kw)]


def test_splits_at_arabic_and_latin_marks():
    text = "هذه جملة أولى طويلة بما يكفي للاختبار. هل هذه جملة ثانية طويلة بما يكفي؟ نعم هذه جملة ثالثة طويلة جدا!"
    assert len(sentences(text, min_chars=1)) == 3


def test_period_without_space_still_ends_a_sentence():
    text = "تخطط شركة شاومي لصنع سيارات كهربائية مع مصنع الذكي.وتجري شاومي محادثات لاستخدام أحد المصانع في الصين."
    out = sentences(text)
    assert len(out) == 2
    assert out[0].endswith("الذكي.") and out[1].startswith("وتجري")


def test_numbers_are_never_split():
    text = "باعت الشركة 1.11 مليون سيارة في العام الماضي وبلغ عدد السكان 1.002.000 نسمة تقريبا."
    assert sentences(text) == [text]


def test_abbreviations_stay_whole():
    text = "بني المعبد في القرن الثالث ق.م على يد الملك. وقال د. أحمد إن البناء استمر عشرين عاما كاملة."
    out = sentences(text)
    assert len(out) == 2
    assert "ق.م" in out[0] and out[1].startswith("وقال د. أحمد")


def test_runs_of_marks_end_one_sentence():
    text = "لم يكن أحد يتوقع هذا النجاح الكبير... لكن الأرقام جاءت أعلى من كل التقديرات!!! فما السر وراء ذلك كله؟!"
    out = sentences(text, min_chars=1)
    assert len(out) == 3
    assert out[0].endswith("...") and out[1].endswith("!!!") and out[2].endswith("؟!")


def test_closing_quotes_and_brackets_stay_with_their_sentence():
    text = "قال المدير: «نحن شركة تخدم المستخدمين في كل مكان.» ثم أضاف كلاما آخر (وهو تعليق مهم جدا.) وانتهى اللقاء بعد ذلك."
    out = sentences(text, min_chars=1)
    assert out[0].endswith(".»")
    assert out[1].endswith(".)")


def test_semicolon_is_not_a_sentence_end():
    text = "ارتفعت المبيعات في الربع الأول؛ غير أن الأرباح تراجعت بسبب ارتفاع تكاليف الإنتاج."
    assert sentences(text) == [text]


def test_newlines_end_sentences_and_tiny_fragments_are_merged():
    text = "عنوان قصير جدا\n\nهذه فقرة أولى فيها جملة طويلة بما يكفي. نعم.\nوهذه جملة في سطر جديد طويلة بما يكفي أيضا."
    out = sentences(text)
    assert "نعم." not in out  # a lone fragment is merged with its neighbour
    assert any(s.endswith("نعم.") for s in out)
    assert out[0] == "عنوان قصير جدا"  # a blank line is never crossed


@given(st.text(alphabet=st.sampled_from(list("ابتثجح خدذر.!؟?…؛،\n «»()\"0123456789١٢xyz")), max_size=300))
def test_offsets_are_exact_and_nothing_is_lost(text):
    spans = split_sentences(text)
    cursor = 0
    for span in spans:
        assert text[cursor : span.start].strip() == ""  # only white space between sentences
        assert span.start < span.end
        assert text[span.start : span.end] == text[span.start : span.end].strip()
        cursor = span.end
    assert text[cursor:].strip() == ""


@given(
    st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
    st.integers(0, 999),
    st.sampled_from([".", ","]),
)
def test_a_number_is_never_cut(whole_parts, fraction, sep):
    number = sep.join(str(p) for p in whole_parts) + f".{fraction}"
    text = f"بلغت قيمة الصفقة المعلنة {number} مليون دولار في نهاية العام. وهذه جملة أخرى طويلة بعدها."
    assert any(number in s for s in sentences(text))
