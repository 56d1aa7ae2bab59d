"""Everything the Discord adapter says to people, in Arabic, in one place.

Command and option descriptions are Discord metadata: at most 100 characters each. Discord has
no Arabic locale for localized names, so the Arabic text is the default description.
"""

from __future__ import annotations

# --- command metadata (each at most 100 characters) ---------------------------------------------
ASK_DESCRIPTION = "اسأل عن المقالات المفهرسة، فأجيبك بالجملة التي تجيب عن سؤالك مع مصدرها"
ASK_QUESTION_DESCRIPTION = "سؤالك بالعربية، مثلا: متى تخطط شاومي لإنتاج أول سيارة؟"
ASK_PRIVATE_DESCRIPTION = "اجعل الجواب مرئيا لك وحدك"
SOURCES_DESCRIPTION = "المقالات المفهرسة وعدد جمل كل منها"
HELP_DESCRIPTION = "كيف تستعمل سند"
REINDEX_DESCRIPTION = "للمشرفين: إعادة فهرسة المقالات من مجلد المقالات"
STATS_DESCRIPTION = "للمشرفين: إحصاءات المقالات والأسئلة والتقييمات"

# --- buttons ------------------------------------------------------------------------------------
MORE_LABEL = "مصادر أخرى"
PREVIOUS_LABEL = "السابق"
NEXT_LABEL = "التالي"

# --- answers ------------------------------------------------------------------------------------
CLOSEST_TITLES = "أقرب المقالات إلى سؤالك:"
POSITION = "الجملة {position} من {count}"
NO_MORE = "لا توجد مصادر أخرى لهذا السؤال."
QUESTION_GONE = "لم أعد أجد هذا السؤال؛ اسأله من جديد بالأمر /ask."
VOTE_UP_THANKS = "شكرا! سجّلت أن الجواب أفادك 👍"
VOTE_DOWN_THANKS = "شكرا! سجّلت أن الجواب لم يفدك 👎، وسيساعدنا ذلك على التحسين."

# --- limits and errors --------------------------------------------------------------------------
RATE_LIMITED = "أرسلت أسئلة كثيرة خلال دقيقة واحدة. انتظر قليلا ثم أعد المحاولة، من فضلك."
RATE_LIMITED_AGAIN = "تمهّل قليلا، من فضلك."
NOT_ADMIN = "هذا الأمر للمشرفين فقط."
GUILD_ONLY = "هذا الأمر متاح داخل الخوادم فقط."
APOLOGY = "عذرا، حدث خطأ غير متوقع. حاول مرة أخرى بعد قليل."

# --- sources ------------------------------------------------------------------------------------
SOURCES_TITLE = "المقالات المفهرسة ({count})"
SOURCES_EMPTY = "لا توجد مقالات مفهرسة بعد."
SOURCES_LINE = "{number}. {title} — {sentences} جملة"
PAGE = "الصفحة {page} من {pages}"

# --- admin --------------------------------------------------------------------------------------
REINDEX_RUNNING = "إعادة الفهرسة جارية الآن؛ انتظر حتى تنتهي ثم أعد المحاولة."
CORPUS_MISSING = "مجلد المقالات غير موجود على الخادم؛ راجع الإعداد CORPUS_DIR."
REINDEX_DONE = (
    "اكتملت إعادة الفهرسة في {duration:.2f} ثانية.\n"
    "المقالات: {added} مضافة، {updated} محدّثة، {removed} محذوفة، {unchanged} دون تغيير.\n"
    "في الفهرس الآن {articles} مقالة و{sentences} جملة (النسخة {version})."
)
REINDEX_PROBLEMS = "تعذرت قراءة {count} ملف:"
STATS_TITLE = "إحصاءات سند"
STATS_ARTICLES = "المقالات"
STATS_SENTENCES = "الجمل"
STATS_INDEX = "نسخة الفهرس"
STATS_INDEX_VALUE = "{version} (بُنيت {built})"
STATS_NEVER_BUILT = "لم تُبنَ بعد"
STATS_QUESTIONS = "الأسئلة"
STATS_QUESTIONS_VALUE = "{questions}: {answered} مجابة، {unanswered} بلا جواب، {invalid} غير صالحة"
STATS_FEEDBACK = "التقييمات"
STATS_UNANSWERED = "أكثر الأسئلة التي لم أجد لها جوابا"

# --- help ---------------------------------------------------------------------------------------
HELP_TITLE = "سند: كيف أستعمله؟"
HELP_BODY = (
    "أجيب عن أسئلتك عن المقالات المفهرسة بالجملة التي تجيب عنها كما وردت حرفيا، مع عنوان المقالة "
    "وموضع الجملة فيها.\n\n"
    "**\u2066/ask\u2069** اكتب سؤالك في الخيار \u2066question\u2069، واختر \u2066private\u2069 لتراه وحدك.\n"
    "تحت الجواب: زر «مصادر أخرى» لجمل أخرى تجيب عن السؤال، و👍 أو 👎 لتقييم الجواب.\n"
    "**\u2066/sources\u2069** قائمة المقالات المفهرسة وعدد جمل كل منها.\n"
    "**\u2066/help\u2069** هذه الرسالة.\n\n"
    "إن لم أجد جوابا قلت ذلك، واقترحت أقرب المقالات إلى سؤالك."
)
HELP_ADMIN = "للمشرفين داخل الخوادم: **\u2066/reindex\u2069** لإعادة الفهرسة، و**\u2066/stats\u2069** للإحصاءات."
