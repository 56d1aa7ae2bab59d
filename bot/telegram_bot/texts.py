"""Every sentence the Telegram bot says, in one place so the wording can be reviewed together.

Texts are plain, not HTML: ``{placeholders}`` are filled with ``str.format`` first, and the
renderer then escapes the whole sentence (values included) and isolates its Latin runs.
"""

from __future__ import annotations

PLATFORM = "telegram"

# Shown on /start when no earlier question can serve as an example (a fresh install over the
# seed articles); each is only offered when it actually gets an answer from the current index.
FALLBACK_EXAMPLES = (
    "كم سيارة باعت Great Wall في العام الماضي؟",
    "متى تخطط شاومي لإنتاج أول سيارة؟",
)

GREETING = (
    "أهلا بك! أنا سند. أجيب عن أسئلتك من {articles} بالجملة التي تجيب عنها، "
    "منقولة كما هي مع عنوان مقالتها وموضعها فيها."
)
GREETING_EXAMPLES_PRIVATE = "اكتب سؤالك، أو جرّب أحد هذين السؤالين:"
GREETING_EXAMPLES_GROUP = "في المجموعات اسألني بالأمر /ask، مثلا:"
GREETING_NO_EXAMPLES = "اكتب سؤالك بالعربية وسأبحث لك عن الجملة التي تجيب عنه."
INPUT_PLACEHOLDER = "اكتب سؤالك…"

HELP = (
    "اكتب سؤالك وسأجيبك بالجملة التي تجيب عنه من المقالات، مع عنوان المقالة وموضع الجملة فيها.\n"
    "تحت الجواب: «مصادر أخرى» لجمل أخرى، و👍 أو 👎 لتقييم الجواب.\n"
    "\n"
    "الأوامر:\n"
    "/ask سؤالك — اسأل سؤالا\n"
    "/start — الترحيب وأمثلة\n"
    "/help — هذه المساعدة\n"
    "\n"
    "في المجموعات: استعمل /ask أو اذكرني ({mention}) أو رد على إحدى رسائلي."
)
HELP_ADMIN = (
    "\n\nللمشرفين:\n"
    "/reindex — إعادة فهرسة المقالات\n"
    "/stats — الإحصاءات\n"
    "أرسل ملف مقالات (txt أو md أو json أو jsonl) مستندًا في المحادثة الخاصة لإضافته."
)

# Command menu (setMyCommands): descriptions of at most 256 characters.
COMMANDS = (
    ("ask", "اسأل سؤالا عن المقالات"),
    ("start", "الترحيب وأمثلة على الأسئلة"),
    ("help", "طريقة الاستعمال والأوامر"),
)
ADMIN_COMMANDS = (
    ("reindex", "إعادة فهرسة المقالات (للمشرفين)"),
    ("stats", "الإحصاءات (للمشرفين)"),
)

ASK_EMPTY = "اكتب سؤالك بعد الأمر، مثلا:\n/ask {example}"
MENTION_EMPTY = "نعم؟ اكتب سؤالك مع ذكري، مثلا:\n{mention} {example}"
NOT_TEXT = "أفهم الأسئلة المكتوبة فقط. اكتب سؤالك نصا، من فضلك."
UNKNOWN_COMMAND = "لا أعرف هذا الأمر. اكتب /help لترى الأوامر."
RATE_LIMITED = "أرسلت أسئلة كثيرة في دقيقة واحدة. انتظر قليلا ثم اسأل من جديد، من فضلك."
NO_ANSWER = "لم أجد جوابا لسؤالك. جرّب صياغة أخرى أو كلمات أدق."  # when the service gives no reason
NO_ANSWER_SUGGESTIONS = "أقرب المقالات إلى سؤالك:"
SENTENCE_POSITION = "الجملة {position} من {count}"
APOLOGY = "عذرا، حدث خطأ أثناء معالجة طلبك. حاول مرة أخرى بعد قليل."

# Buttons and their acknowledgements.
MORE_BUTTON = "مصادر أخرى"
VOTE_UP_BUTTON = "👍"
VOTE_DOWN_BUTTON = "👎"
VOTE_THANKS = "شكرا لتقييمك!"
NO_MORE = "لا توجد مصادر أخرى لهذا السؤال."
STALE_BUTTON = "هذا الزر قديم ولم يعد يعمل. اسأل سؤالك من جديد، من فضلك."

# Admin.
ADMIN_ONLY = "عذرا، هذا الأمر للمشرفين فقط."
ADMIN_ONLY_UPLOAD = "عذرا، إضافة المقالات للمشرفين فقط. أرسل سؤالك نصا إن أردت أن تسأل."
STATS_PRIVATE_ONLY = "الإحصاءات تحوي أسئلة المستخدمين، فأرسل /stats في محادثتي الخاصة، من فضلك."
REINDEX_STARTED = "بدأت إعادة الفهرسة… سأخبرك حين تنتهي. تبقى الأسئلة تُجاب من الفهرس الحالي أثناءها."
REINDEX_BUSY = "إعادة فهرسة جارية الآن. انتظر حتى تنتهي، من فضلك."
REINDEX_DONE = (
    "انتهت إعادة الفهرسة في {duration} ثانية.\n"
    "المقالات: أضيف {added}، حُدّث {updated}، حُذف {removed}، وبقي {unchanged} بلا تغيير.\n"
    "في الفهرس الآن {articles} و{sentences}."
)
REINDEX_PROBLEMS = "ملفات لم تُقرأ:"
REINDEX_NO_CORPUS = "لم تتم إعادة الفهرسة: مجلد المقالات غير موجود على الخادم."
REINDEX_FAILED = "فشلت إعادة الفهرسة، وما زال الفهرس السابق يجيب عن الأسئلة. التفاصيل في سجل الخادم."
UPLOAD_BAD_TYPE = "لا أقرأ هذا النوع من الملفات. أرسل ملفا من نوع txt أو md أو json أو jsonl."
UPLOAD_TOO_BIG = "الملف أكبر من {limit} ميغابايت، وهو أكبر ما يسمح تيليغرام للبوت بتنزيله."
UPLOAD_BAD_FILE = "لم أضف الملف: {reason}"
UPLOAD_SAVED = "حفظت الملف {name} ({articles}). أعيد الفهرسة الآن…"
UPLOAD_BUSY = "إعادة فهرسة جارية الآن، فلم أحفظ الملف. أرسله مرة أخرى بعد انتهائها، من فضلك."

STATS = (
    "الإحصاءات\n"
    "الفهرس: {articles} و{sentences} (النسخة {version}، بُني {built})\n"
    "الأسئلة: {questions} — أُجيب {answered}، بلا جواب {unanswered}، غير صالحة {invalid}\n"
    "التقييمات: 👍 {up} — 👎 {down}"
)
STATS_NEVER_BUILT = "لم يُبنَ بعد"
STATS_TOP_UNANSWERED = "أكثر الأسئلة التي لم أجد لها جوابا:"
STATS_NO_UNANSWERED = "لا أسئلة بلا جواب حتى الآن."


def count_articles(n: int) -> str:
    """"n articles" with the Arabic plural form the number takes."""
    return _count(n, "مقالة واحدة", "مقالتين", "مقالات", "مقالة")


def count_sentences(n: int) -> str:
    """"n sentences" with the Arabic plural form the number takes."""
    return _count(n, "جملة واحدة", "جملتين", "جمل", "جملة")


def _count(n: int, one: str, two: str, few: str, many: str) -> str:
    if n == 0:
        return f"0 {many}"
    if n == 1:
        return one
    if n == 2:
        return two
    if 3 <= n % 100 <= 10:
        return f"{n} {few}"
    return f"{n} {many}"
