"""Recognition-tolerant phrase matching for playbook patterns.

Text is first turned into a *key string*: one token per Chinese character (its toneless pinyin, so
homophone errors such as 征信/正信 compare equal and word segmentation or stray spaces do not
matter), one token per English word (lower-cased, a word the playbook does not know corrected to a
playbook word within a small edit distance), digit runs as one token, clause punctuation as ``|``.
Patterns are compiled to regular expressions over that key string.

Pattern syntax (see docs/playbooks.md)::

    告诉|通知 ~ {third_party}          two slots, up to the default gap of tokens between them
    take you to court ~2 today|tomorrow   ``~N`` allows at most N tokens between slots
    arrest*                              ``*`` at the end of an English word matches any ending
    {name}                               expands to the lexicon entry ``name`` (a list of alternatives)

A match is *negated* when a negator (不/没/别, not/never/won't…) stands right before it, allowing
only filler tokens (会/去, will/going/to…) in between, inside the same clause.  Checks that opt in
(`scope=True`: the agent-side violation checks) are also negated by a *scope negator* (没有人/绝不/never/no one…)
up to `scope_max` tokens earlier in the same clause unless a scope break (如果/就/if/but…) or, in
English, a comma comes between; and by a *post negator* (是不可能的/不存在/isn't true…) up to
`post_max` tokens after the match in the same clause (坐牢是不可能的), or right after the agent echoes
the customer's word as a question (黑名单？没有这回事).
"""

from __future__ import annotations

import bisect
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import Style, pinyin
from rapidfuzz.distance import DamerauLevenshtein

BOUNDARY = "|"
_CLAUSE_PUNCT = set("，。！？；：,.!?;:、…\n")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_GAP = re.compile(r"^~(\d*)$")


class PatternError(ValueError):
    """A playbook pattern that cannot be compiled; the message names the pattern."""


@lru_cache(maxsize=20000)
def _char_pinyin(ch: str) -> str:
    return pinyin(ch, style=Style.NORMAL, heteronym=False, errors="ignore")[0][0] if ch else ""


def _fuzzy(py: str) -> str:
    if py[:2] in ("zh", "ch", "sh"):
        py = py[0] + py[2:]
    if py.endswith(("ing", "eng")):
        py = py[:-1]
    return py


@dataclass(slots=True)
class Tokens:
    """The key-string view of one text."""

    text: str
    keys: str  # " tok tok tok " (leading and trailing space)
    toks: list[str]
    offsets: list[int]  # offset of each token in `keys`
    spans: list[tuple[int, int]]  # character span of each token in `text`

    _heads: frozenset[str] | None = None

    @property
    def heads(self) -> frozenset[str]:
        """The pinyin / word of every token (what a pattern's first slot can start with)."""
        if self._heads is None:
            self._heads = frozenset(t.split("/", 1)[0] for t in self.toks)
        return self._heads

    def token_at(self, key_offset: int) -> int:
        return max(0, bisect.bisect_right(self.offsets, key_offset) - 1)

    def char_span(self, tok_start: int, tok_end: int) -> tuple[int, int]:
        """Character span covering tokens [tok_start, tok_end)."""
        if not self.spans:
            return (0, 0)
        tok_end = max(tok_start + 1, tok_end)
        return (self.spans[tok_start][0], self.spans[min(tok_end, len(self.spans)) - 1][1])


def _build(text: str, toks: list[str], spans: list[tuple[int, int]]) -> Tokens:
    offsets: list[int] = []
    pos = 1
    for t in toks:
        offsets.append(pos)
        pos += len(t) + 1
    keys = " " + " ".join(toks) + " " if toks else " "
    return Tokens(text=text, keys=keys, toks=toks, offsets=offsets, spans=spans)


class Normalizer(ABC):
    """Turns text into tokens; one per language family."""

    language: str = ""

    @abstractmethod
    def tokens(self, text: str) -> Tokens: ...

    @abstractmethod
    def pattern_tokens(self, text: str) -> list[str]:
        """Exact key tokens of a phrase (for negators and fillers, compared literally)."""
        ...

    @abstractmethod
    def alternative_regex(self, text: str, anchored: bool = False) -> str | None:
        """Regex (over key strings) for one pattern alternative; None if it has no words."""
        ...

    @abstractmethod
    def words(self, text: str) -> list[str]:
        """The plain words of a pattern alternative (the English vocabulary is built from them)."""
        ...

    @abstractmethod
    def head(self, text: str) -> str | None:
        """The key the first token of an alternative has in any text it matches; None if unknown."""
        ...


class ChineseNormalizer(Normalizer):
    """Per Chinese character a key ``pinyin/char`` (toneless pinyin, after `synonyms` such as 您→你);
    spaces ignored; latin words and digit runs kept as lower-case tokens.

    Patterns compare on the pinyin, so homophone errors match (征信 = 正信), except that an alternative
    of at most `literal_max` characters must also agree on at least one character that is not in
    `weak_chars` (so 打折 does not match 打这 and 你妈 does not match 你马上, while 正信 still matches
    征信 through 信) — unless it has two or more characters and follows an earlier slot of its pattern, which
    anchors it (全部给你 ~ 免了 also hears 面了; a single character such as 姐 stays literal).
    """

    language = "zh"

    def __init__(
        self, synonyms: Mapping[str, str] | None = None, fuzzy: bool = False, weak_chars: str = "", literal_max: int = 2
    ) -> None:
        self.synonyms = dict(synonyms or {})
        self.fuzzy = fuzzy
        self.weak = set(weak_chars)
        self.literal_max = literal_max
        self._cache: dict[str, str] = {}

    def _py(self, ch: str) -> str:
        k = self._cache.get(ch)
        if k is None:
            k = _char_pinyin(ch) or ch
            if self.fuzzy:
                k = _fuzzy(k)
            self._cache[ch] = k
        return k

    def units(self, text: str) -> list[tuple[str, str | None, tuple[int, int]]]:
        """(pinyin or word, character or None, span) per token; BOUNDARY for clause punctuation."""
        out: list[tuple[str, str | None, tuple[int, int]]] = []
        i, n = 0, len(text)
        syn = self.synonyms
        while i < n:
            ch = text[i]
            if _CJK.match(ch):
                c = syn.get(ch, ch)
                out.append((self._py(c), c, (i, i + 1)))
                i += 1
            elif ch.isascii() and ch.isalnum():
                j = i + 1
                kind = ch.isdigit()
                while j < n and text[j].isascii() and text[j].isalnum() and text[j].isdigit() == kind:
                    j += 1
                out.append((text[i:j].lower(), None, (i, j)))
                i = j
            else:
                if ch in _CLAUSE_PUNCT and (not out or out[-1][0] != BOUNDARY):
                    out.append((BOUNDARY, None, (i, i + 1)))
                i += 1
        return out

    def tokens(self, text: str) -> Tokens:
        us = self.units(text)
        return _build(text, [f"{py}/{c}" if c else py for py, c, _ in us], [sp for _, _, sp in us])

    def pattern_tokens(self, text: str) -> list[str]:
        return [f"{py}/{c}" if c else py for py, c, _ in self.units(text) if py != BOUNDARY]

    def words(self, text: str) -> list[str]:
        return [py for py, c, _ in self.units(text) if c is None and py != BOUNDARY]

    def head(self, text: str) -> str | None:
        us = [py for py, _, _ in self.units(text) if py != BOUNDARY]
        return us[0] if us else None

    def alternative_regex(self, text: str, anchored: bool = False) -> str | None:
        us = [(py, c) for py, c, _ in self.units(text) if py != BOUNDARY]
        if not us:
            return None
        cjk = [i for i, (_, c) in enumerate(us) if c]

        def tok(i: int, literal: bool) -> str:
            py, c = us[i]
            if c is None:
                return re.escape(py)
            return re.escape(py) + "/" + (re.escape(c) if literal else r"[^ ]+")

        if (
            not cjk
            or len(cjk) > self.literal_max
            or (anchored and len(cjk) > 1 and any(us[i][1] not in self.weak for i in cjk))
        ):
            # long enough, or anchored by the slot before it (全部给你 ~ 免了 also hears 面了)
            return " ".join(tok(i, False) for i in range(len(us)))
        anchors = [i for i in cjk if us[i][1] not in self.weak]
        if not anchors:  # only function characters (不还, 你们): they must match exactly
            return " ".join(tok(i, True) for i in range(len(us)))
        variants = [" ".join(tok(i, i == a) for i in range(len(us))) for a in anchors]
        return variants[0] if len(variants) == 1 else "(?:" + "|".join(variants) + ")"


# Words are Latin letters and digits, or Hangul syllables (U+AC00-U+D7A3): Korean is written with spaces
# between words, so a Korean playbook is matched word by word like English.
_EN_WORD = re.compile(r"[a-z0-9\uac00-\ud7a3]+(?:'[a-z]+)?|[.!?;:]")  # commas do not end a clause
_EN_PATTERN_WORD = re.compile(r"[a-z0-9\uac00-\ud7a3]+(?:'[a-z]+)?\*?")


class EnglishNormalizer(Normalizer):
    """Lower-cased words; an unknown word within edit distance 1 (2 for long words) of exactly one
    playbook word is read as that word."""

    language = "en"

    def __init__(
        self, vocabulary: Iterable[str] = (), keep: Iterable[str] = (), min_len: int = 5, long_len: int = 9
    ) -> None:
        self.vocab: set[str] = {w for w in vocabulary if w and w != BOUNDARY}
        self.keep = {w.lower() for w in keep}
        self.min_len = min_len
        self.long_len = long_len
        self._by_len: dict[int, list[str]] = {}
        for w in self.vocab:
            if len(w) >= min_len and w.isalpha():
                self._by_len.setdefault(len(w), []).append(w)
        self._cache: dict[str, str] = {}

    def correct(self, word: str) -> str:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        out = word
        if word not in self.vocab and word not in self.keep and len(word) >= self.min_len and word.isalpha():
            limit = 2 if len(word) >= self.long_len else 1
            best: list[str] = []
            best_d = limit + 1
            for ln in range(len(word) - limit, len(word) + limit + 1):
                for cand in self._by_len.get(ln, ()):
                    if cand[0] != word[0] and cand[-1] != word[-1]:
                        continue
                    d = DamerauLevenshtein.distance(word, cand, score_cutoff=limit)
                    if d <= limit:
                        if d < best_d:
                            best, best_d = [cand], d
                        elif d == best_d:
                            best.append(cand)
            if len(best) == 1:
                out = best[0]
        if len(self._cache) < 50000:
            self._cache[word] = out
        return out

    def tokens(self, text: str) -> Tokens:
        """Words, corrected toward the playbook vocabulary.  A capitalised word inside a sentence of
        mixed-case text is a name and is never corrected ("Simmons" stays, it is not "summons")."""
        low = text.lower().replace("\u2019", "'")
        mixed = text != text.lower()
        toks: list[str] = []
        spans: list[tuple[int, int]] = []
        sentence_start = True
        for m in _EN_WORD.finditer(low):
            w = m.group(0)
            if not w[0].isalnum():
                if toks and toks[-1] != BOUNDARY:
                    toks.append(BOUNDARY)
                    spans.append(m.span())
                sentence_start = w in ".!?"
                continue
            name = mixed and not sentence_start and text[m.start()].isupper()
            toks.append(w if name else self.correct(w))
            spans.append(m.span())
            sentence_start = False
        return _build(text, toks, spans)

    def pattern_tokens(self, text: str) -> list[str]:
        return [m.group(0) for m in _EN_PATTERN_WORD.finditer(text.lower().replace("\u2019", "'"))]

    def words(self, text: str) -> list[str]:
        return [w.rstrip("*") for w in self.pattern_tokens(text)]

    def head(self, text: str) -> str | None:
        toks = self.pattern_tokens(text)
        return toks[0] if toks and not toks[0].endswith("*") else None

    def alternative_regex(self, text: str, anchored: bool = False) -> str | None:
        toks = self.pattern_tokens(text)
        if not toks:
            return None
        rx = []
        for t in toks:
            if t.endswith("*") and len(t) > 1:
                rx.append(re.escape(t[:-1]) + r"[^ |]*")
            else:
                rx.append(re.escape(t))
        return " ".join(rx)


def normalizer_for(
    language: str,
    synonyms: Mapping[str, str] | None = None,
    fuzzy: bool = False,
    vocabulary: Iterable[str] = (),
    keep: Iterable[str] = (),
    weak_chars: str = "",
    literal_max: int = 2,
) -> Normalizer:
    if language.lower().startswith("zh"):
        return ChineseNormalizer(synonyms, fuzzy, weak_chars, literal_max)
    return EnglishNormalizer(vocabulary, keep)


# ---------------------------------------------------------------- patterns


def _expand(alt: str, lexicon: Mapping[str, Sequence[str]], src: str, depth: int = 0) -> list[str]:
    alt = alt.strip()
    if alt.startswith("{") and alt.endswith("}"):
        name = alt[1:-1].strip()
        if name not in lexicon:
            raise PatternError(f"pattern {src!r}: unknown lexicon entry {{{name}}}")
        if depth > 4:
            raise PatternError(f"pattern {src!r}: lexicon entries nest too deep at {{{name}}}")
        out: list[str] = []
        for entry in lexicon[name]:
            for sub in str(entry).split("|"):
                out.extend(_expand(sub, lexicon, src, depth + 1))
        return out
    if "{" in alt or "}" in alt:
        raise PatternError(f"pattern {src!r}: a lexicon reference must be a whole alternative, got {alt!r}")
    return [alt] if alt else []


def split_pattern(src: str) -> list[tuple[int | None, str]]:
    """Split a pattern into (gap before, slot text) pairs; gap None = default."""
    if any(c in src for c in "?？()[]"):
        raise PatternError(f"pattern {src!r}: ?, () and [] are not pattern syntax; use ~N gaps and | alternatives")
    parts = re.split(r"\s*(~\d*)\s*", src.strip())
    out: list[tuple[int | None, str]] = []
    gap: int | None = 0
    for i, part in enumerate(parts):
        if i % 2 == 1:
            g = _GAP.match(part)
            assert g is not None
            gap = int(g.group(1)) if g.group(1) else None
            continue
        if not part.strip():
            raise PatternError(f"pattern {src!r}: empty slot")
        out.append((gap, part))
    return out


def pattern_words(src: str, lexicon: Mapping[str, Sequence[str]], norm: Normalizer) -> set[str]:
    words: set[str] = set()
    for _gap, slot in split_pattern(src):
        for alt in slot.split("|"):
            for a in _expand(alt, lexicon, src):
                words.update(norm.words(a))
    return words


def compile_pattern(
    src: str, lexicon: Mapping[str, Sequence[str]], norm: Normalizer, default_gap: int
) -> re.Pattern[str]:
    pieces: list[str] = []
    for n, (gap, slot) in enumerate(split_pattern(src)):
        alts: list[str] = []
        for alt in slot.split("|"):
            for a in _expand(alt, lexicon, src):
                rx = norm.alternative_regex(a, anchored=n > 0)
                if rx:
                    alts.append(rx)
        if not alts:
            raise PatternError(f"pattern {src!r}: slot {slot!r} has no words")
        alts.sort(key=len, reverse=True)
        body = "(?:" + "|".join(dict.fromkeys(alts)) + ")"
        if n == 0:
            pieces.append(body)
        else:
            g = default_gap if gap is None else gap
            # the gap is captured so a negator inside it can be seen ("I'm not an attorney")
            pieces.append(" " + (f"((?:[^ |]+ ){{0,{g}}}?)" if g else "") + body)
    try:
        return re.compile("(?<= )" + "".join(pieces) + "(?= )")
    except re.error as e:  # pragma: no cover - escaped input
        raise PatternError(f"pattern {src!r}: {e}") from e


def pattern_heads(src: str, lexicon: Mapping[str, Sequence[str]], norm: Normalizer) -> frozenset[str] | None:
    """Keys a text must contain for the pattern to have a chance (its first slot's first tokens), so a
    pattern is skipped without running its regex; None when that cannot be known (a `word*` start)."""
    heads: set[str] = set()
    _gap, slot = split_pattern(src)[0]
    for alt in slot.split("|"):
        for a in _expand(alt, lexicon, src):
            h = norm.head(a)
            if h is None:
                if norm.alternative_regex(a):
                    return None
                continue
            heads.add(h)
    return frozenset(heads)


@dataclass(slots=True)
class Hit:
    pattern: str
    tok_start: int
    tok_end: int
    start: int  # character offsets in the text
    end: int
    negated: bool = False

    def quote(self, text: str) -> str:
        return text[self.start : self.end]


class Negation:
    """Negators and fillers of one playbook, as token sequences."""

    def __init__(self, negators: Iterable[str], fillers: Iterable[str], norm: Normalizer, max_fillers: int = 4) -> None:
        self.negators = [tuple(norm.pattern_tokens(n)) for n in negators if norm.pattern_tokens(n)]
        self.fillers = sorted(
            {tuple(norm.pattern_tokens(f)) for f in fillers if norm.pattern_tokens(f)}, key=len, reverse=True
        )
        self.max_fillers = max_fillers
        self.scope: list[tuple[str, ...]] = []
        self.breaks: list[tuple[str, ...]] = []
        self.post: list[tuple[str, ...]] = []
        self.conditionals: list[tuple[str, ...]] = []
        self.scope_max = 0
        self.post_max = 0

    @staticmethod
    def _ends_with(toks: list[str], end: int, seq: tuple[str, ...]) -> bool:
        n = len(seq)
        return end - n >= 0 and tuple(toks[end - n : end]) == seq

    def inside(self, toks: list[str], start: int, end: int) -> bool:
        """A negator within toks[start:end] (the gap between two slots of a match)."""
        for neg in self.negators:
            n = len(neg)
            for i in range(start, end - n + 1):
                if tuple(toks[i : i + n]) == neg:
                    return True
        return False

    def configure_scope(
        self,
        scope: Iterable[str],
        breaks: Iterable[str],
        post: Iterable[str],
        norm: Normalizer,
        scope_max: int,
        post_max: int,
        conditionals: Iterable[str] = (),
    ) -> None:
        def seqs(items: Iterable[str]) -> list[tuple[str, ...]]:
            return [tuple(norm.pattern_tokens(n)) for n in items if norm.pattern_tokens(n)]

        self.scope, self.breaks, self.post = seqs(scope), seqs(breaks), seqs(post)
        self.conditionals = seqs(conditionals)
        self.scope_max = scope_max
        self.post_max = post_max

    def _conditional(self, toks: list[str], neg_start: int) -> bool:
        """The negator sits in a condition (if you won't pay…, 要是没办法还…): it negates the
        condition, not what follows."""
        for end in range(neg_start, max(0, neg_start - 4) - 1, -1):
            if end < neg_start and toks[end] == BOUNDARY:
                return False
            if any(self._ends_with(toks, end, c) for c in self.conditionals):
                return True
        return False

    def scoped(self, tokens: Tokens, start: int, end: int) -> bool:
        """A scope negator earlier in the clause, or a post negator right after the match."""
        return self._scope_before(tokens, start) or self._post_after(tokens, end)

    def _scope_before(self, tokens: Tokens, start: int) -> bool:
        toks = tokens.toks
        if any(tuple(toks[start : start + len(b)]) == b for b in self.breaks):
            return False  # the match opens its own clause (我们…上门, we will…)
        for end_at in range(start, max(0, start - self.scope_max) - 1, -1):
            if end_at < start and (toks[end_at] == BOUNDARY or self._comma_after(tokens, end_at)):
                return False
            if end_at < start and any(self._ends_with(toks, end_at + 1, b) for b in self.breaks):
                return False
            neg = next((n for n in self.scope if self._ends_with(toks, end_at, n)), None)
            if neg is not None:
                return not self._conditional(toks, end_at - len(neg))
        return False

    def _post_after(self, tokens: Tokens, end: int) -> bool:
        toks = tokens.toks
        echoed = False  # "黑名单？没有这回事", "Arrest? That's not going to happen": one question mark
        for begin in range(end, min(len(toks), end + self.post_max + 2)):
            if toks[begin] == BOUNDARY:
                if echoed or tokens.text[tokens.spans[begin][0] : tokens.spans[begin][1]] not in ("?", "？"):
                    return False
                echoed = True
                continue
            if any(tuple(toks[begin : begin + len(neg)]) == neg for neg in self.post):
                return True
        return False

    @staticmethod
    def _comma_after(tokens: Tokens, i: int) -> bool:
        """A comma between token i and the next one (English clauses inside a sentence)."""
        if i + 1 >= len(tokens.spans):
            return False
        between = tokens.text[tokens.spans[i][1] : tokens.spans[i + 1][0]]
        return "," in between

    def negated(self, toks: list[str], start: int) -> bool:
        end = start
        for _ in range(self.max_fillers + 1):
            if end <= 0 or toks[end - 1] == BOUNDARY:
                return False
            if any(self._ends_with(toks, end, neg) for neg in self.negators):
                return True
            for f in self.fillers:
                if self._ends_with(toks, end, f):
                    end -= len(f)
                    break
            else:
                return False
        return False


@dataclass
class PhraseSet:
    """Compiled patterns of one rule, with the rule's negation handling and exceptions."""

    sources: list[str]
    regexes: list[re.Pattern[str]]
    negation: Negation | None = None
    exceptions: list[re.Pattern[str]] = field(default_factory=list)
    gap_negation: bool = False  # also a negator between the slots cancels the hit
    heads: list[frozenset[str] | None] = field(default_factory=list)
    scope: bool = False  # scope and post negators cancel the hit too (Negation.scoped)

    def _candidates(self, tokens: Tokens) -> list[tuple[str, re.Pattern[str]]]:
        if not self.heads:
            return list(zip(self.sources, self.regexes, strict=True))
        present = tokens.heads
        return [
            (src, rx)
            for src, rx, h in zip(self.sources, self.regexes, self.heads, strict=True)
            if h is None or not h.isdisjoint(present)
        ]

    def _negated(self, tokens: Tokens, m: re.Match[str], ts: int) -> bool:
        if self.negation is None:
            return False
        if self.negation.negated(tokens.toks, ts):
            return True
        if self.scope:
            te = tokens.token_at(max(m.start(), m.end() - 1)) + 1
            if self.negation.scoped(tokens, ts, te):
                return True
        if self.gap_negation:
            for g in range(1, (m.re.groups or 0) + 1):
                if m.start(g) >= 0 and m.end(g) > m.start(g):
                    a = tokens.token_at(m.start(g))
                    b = tokens.token_at(m.end(g) - 1) + 1
                    if self.negation.inside(tokens.toks, a, b):
                        return True
        return False

    def __bool__(self) -> bool:
        return bool(self.regexes)

    def excepted(self, tokens: Tokens) -> bool:
        return any(rx.search(tokens.keys) for rx in self.exceptions)

    def hits(self, tokens: Tokens, *, keep_negated: bool = False) -> list[Hit]:
        out: list[Hit] = []
        for src, rx in self._candidates(tokens):
            for m in rx.finditer(tokens.keys):
                ts = tokens.token_at(m.start())
                te = tokens.token_at(max(m.start(), m.end() - 1)) + 1
                cs, ce = tokens.char_span(ts, te)
                neg = self._negated(tokens, m, ts)
                if neg and not keep_negated:
                    continue
                out.append(Hit(src, ts, te, cs, ce, neg))
        out.sort(key=lambda h: (h.tok_start, -h.tok_end))
        return out

    def find(self, tokens: Tokens) -> Hit | None:
        """First non-negated hit, or None; None as well when an exception pattern matches."""
        if self.exceptions and self.excepted(tokens):
            return None
        for src, rx in self._candidates(tokens):
            for m in rx.finditer(tokens.keys):
                ts = tokens.token_at(m.start())
                if self._negated(tokens, m, ts):
                    continue
                te = tokens.token_at(max(m.start(), m.end() - 1)) + 1
                cs, ce = tokens.char_span(ts, te)
                return Hit(src, ts, te, cs, ce)
        return None

    def any(self, tokens: Tokens) -> bool:
        return self.find(tokens) is not None


class Matcher:
    """Everything needed to compile and run the patterns of one playbook."""

    def __init__(
        self,
        language: str,
        lexicon: Mapping[str, Sequence[str]],
        *,
        default_gap: int,
        negators: Sequence[str],
        fillers: Sequence[str],
        synonyms: Mapping[str, str] | None = None,
        fuzzy_pinyin: bool = False,
        keep_words: Sequence[str] = (),
        vocabulary_patterns: Iterable[str] = (),
        weak_chars: str = "",
        literal_max: int = 2,
    ) -> None:
        self.language = language
        self.lexicon = {k: [str(x) for x in v] for k, v in lexicon.items()}
        self.default_gap = default_gap
        base = normalizer_for(language, synonyms, fuzzy_pinyin, weak_chars=weak_chars, literal_max=literal_max)
        if isinstance(base, EnglishNormalizer):
            vocab: set[str] = set()
            for p in vocabulary_patterns:
                vocab |= pattern_words(p, self.lexicon, base)
            for entries in self.lexicon.values():
                for e in entries:
                    for alt in e.split("|"):
                        if not alt.strip().startswith("{"):
                            vocab.update(base.words(alt))
            base = EnglishNormalizer(vocab, keep_words)
        self.norm = base
        self.negation = Negation(negators, fillers, self.norm)

    def tokens(self, text: str) -> Tokens:
        return self.norm.tokens(text)

    def compile(
        self,
        patterns: Sequence[str],
        *,
        exceptions: Sequence[str] = (),
        negate: bool = True,
        where: str = "",
        gap_negation: bool = False,
        scope: bool = False,
    ) -> PhraseSet:
        regexes: list[re.Pattern[str]] = []
        for p in patterns:
            try:
                regexes.append(compile_pattern(p, self.lexicon, self.norm, self.default_gap))
            except PatternError as e:
                raise PatternError(f"{where}: {e}" if where else str(e)) from None
        exc = [compile_pattern(p, self.lexicon, self.norm, self.default_gap) for p in exceptions]
        heads = [pattern_heads(p, self.lexicon, self.norm) for p in patterns]
        return PhraseSet(
            list(patterns), regexes, self.negation if negate else None, exc, gap_negation, heads, scope=scope
        )
