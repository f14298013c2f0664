"""Rhyme groups of Chinese characters: the modern final (pypinyin) folded into the thirteen 十三辙.

Why the 十三辙 and not the finals themselves: 光 (uang), 霜 (uang) and 乡 (iang) rhyme in 静夜思, and
only a grouping says so. The classical 平水韵 would be truer to Tang poems, but no well-kept package
ships its table; the modern groups are what a reader today hears as a rhyme. A character with several
readings is read in its most common one (pypinyin's first): 身 rhymes as shen, never as the juan of 身毒.

This module reads characters; it knows nothing of models or poems and imports no TensorFlow.
"""

from __future__ import annotations

from functools import lru_cache

from charbot.errors import CharbotError

# Each group and the strict finals (pypinyin Style.FINALS, strict=True; v is ü) that fall in it.
GROUPS = {
    "发花": ("a", "ia", "ua"),
    "梭波": ("o", "e", "uo"),
    "乜斜": ("ie", "ve", "ê"),
    "一七": ("i", "v", "er"),
    "姑苏": ("u",),
    "怀来": ("ai", "uai"),
    "灰堆": ("ei", "uei"),
    "遥条": ("ao", "iao"),
    "油求": ("ou", "iou"),
    "言前": ("an", "ian", "uan", "van"),
    "人辰": ("en", "in", "uen", "vn"),
    "江阳": ("ang", "iang", "uang"),
    "中东": ("eng", "ing", "ueng", "ong", "iong"),
}
_GROUP_OF_FINAL = {final: group for group, finals in GROUPS.items() for final in finals}


def _pinyin():
    try:
        from pypinyin import Style, pinyin
    except ModuleNotFoundError:
        raise CharbotError("rhymes need pypinyin: pip install pypinyin") from None
    return pinyin, Style


@lru_cache(maxsize=None)
def groups_of(char: str) -> frozenset[str]:
    """The rhyme group of a character's most common reading, as a set (empty where pypinyin cannot read it)."""
    pinyin, style = _pinyin()
    readings = pinyin(char, style=style.FINALS, heteronym=False, strict=True, errors="ignore")
    final = readings[0][0] if readings and readings[0] else ""
    return frozenset({_GROUP_OF_FINAL[final]}) if final in _GROUP_OF_FINAL else frozenset()
