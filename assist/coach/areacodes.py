"""US area codes → IANA time zones, for judging call times when the debtor's zone is unknown.

Regulation F §1006.6(b)(1)(i): absent knowledge of the consumer's location, a collector must assume a
time is convenient only if it is convenient in every zone where the consumer may be; the phone
number's area code is such evidence.  Area codes that span two zones list both (850 Florida
panhandle, 541 eastern Oregon, 208 Idaho, …).  Unknown or non-US numbers give no zones.
"""

from __future__ import annotations

import re

EASTERN = "America/New_York"
CENTRAL = "America/Chicago"
MOUNTAIN = "America/Denver"
ARIZONA = "America/Phoenix"
PACIFIC = "America/Los_Angeles"
ALASKA = "America/Anchorage"
HAWAII = "Pacific/Honolulu"

_TABLE: dict[str, str] = {
    EASTERN: """
        203 475 860 959 302 202 771 239 305 321 352 386 407 448 561 645 656 689 727 754 772 786 813 863
        904 941 954 229 404 470 478 678 706 762 770 912 943 260 317 463 574 765 930 502 606 859 207 227
        240 301 410 443 667 339 351 413 508 617 774 781 857 978 231 248 269 313 517 586 616 679 734 810
        947 989 603 201 551 609 640 732 848 856 862 908 973 212 315 332 347 363 516 518 585 607 631 646
        680 716 718 838 845 914 917 929 934 252 336 472 704 743 828 910 919 980 984 216 220 234 283 326
        330 380 419 436 440 513 567 614 740 937 215 223 267 272 412 445 484 570 582 610 717 724 814 835
        878 401 803 839 843 854 864 423 865 802 276 434 540 571 703 757 804 826 948 304 681""",
    CENTRAL: """
        205 251 256 334 659 938 479 501 870 217 224 309 312 331 447 464 618 630 708 730 773 779 815 847
        861 872 219 319 515 563 641 712 316 913 225 318 337 504 985 218 320 507 612 651 763 952 228 601
        662 769 314 417 557 573 636 660 816 975 402 531 405 539 572 580 918 615 629 731 901 931 210 214
        254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 936 940 945 956 972
        979 262 274 353 414 534 608 715 920""",
    MOUNTAIN: "303 719 720 970 983 406 505 575 385 435 801 307 915",
    ARIZONA: "480 520 602 623 928",
    PACIFIC: """
        209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707
        714 747 760 805 818 820 831 840 858 909 916 925 949 951 702 725 775 503 971 206 253 360 425 509
        564""",
    ALASKA: "907",
    HAWAII: "808",
}

# area codes whose territory spans two zones: both are candidates
_SPLIT: dict[str, tuple[str, ...]] = {
    "850": (EASTERN, CENTRAL),
    "812": (EASTERN, CENTRAL),
    "270": (CENTRAL, EASTERN),
    "364": (CENTRAL, EASTERN),
    "906": (EASTERN, CENTRAL),
    "620": (CENTRAL, MOUNTAIN),
    "785": (CENTRAL, MOUNTAIN),
    "308": (CENTRAL, MOUNTAIN),
    "701": (CENTRAL, MOUNTAIN),
    "605": (CENTRAL, MOUNTAIN),
    "541": (PACIFIC, MOUNTAIN),
    "458": (PACIFIC, MOUNTAIN),
    "208": (MOUNTAIN, PACIFIC),
    "986": (MOUNTAIN, PACIFIC),
}

AREA_ZONES: dict[str, tuple[str, ...]] = {
    code: (zone,) for zone, codes in _TABLE.items() for code in codes.split()
} | _SPLIT

US_ZONES: tuple[str, ...] = (EASTERN, CENTRAL, MOUNTAIN, ARIZONA, PACIFIC, ALASKA, HAWAII)

_NON_DIGIT = re.compile(r"\D")


def area_code(phone: str | None) -> str | None:
    """The area code of a US number (10 digits, or 11 with the leading 1), else None."""
    if not phone:
        return None
    digits = _NON_DIGIT.sub("", phone)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits[:3] if len(digits) == 10 else None


def zones_for_phone(phone: str | None) -> tuple[str, ...]:
    """The zone(s) of a US number's area code; () when unknown."""
    code = area_code(phone)
    return AREA_ZONES.get(code, ()) if code else ()
