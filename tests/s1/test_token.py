"""The token is a secret: normalised on the way in, redacted on every way out."""

from __future__ import annotations

import pickle

import pytest

from s1uvm.s1 import ApiToken, TokenError

SECRET = "eyJraWQiOiJ0ZXN0In0.c2VjcmV0LXRva2VuLXZhbHVl.c2ln"


@pytest.mark.parametrize(
    "text",
    [SECRET, f"  {SECRET}\n", f"ApiToken {SECRET}", f"apitoken   {SECRET}  ", f"\t{SECRET}\r\n"],
)
def test_surrounding_whitespace_and_scheme_are_stripped(text: str) -> None:
    assert ApiToken(text).reveal() == SECRET


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("ApiToken ", "empty"),
        ("abc\ndef", "line break"),
        ("abc def", "whitespace"),
        ("tökén", "characters"),
    ],
)
def test_impossible_tokens_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(TokenError, match=message) as info:
        ApiToken(text)
    assert text.strip() not in str(info.value) or not text.strip()


def test_repr_str_and_format_never_show_the_value() -> None:
    token = ApiToken(SECRET)
    for shown in (repr(token), str(token), f"{token}", f"{[token]}", f"{ {'t': token} }"):
        assert SECRET not in shown
        assert "redacted" in shown


def test_cannot_be_pickled_into_a_cache_or_queue() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(ApiToken(SECRET))


def test_equality_and_fingerprint_without_exposing_the_value() -> None:
    a, b = ApiToken(SECRET), ApiToken(f"ApiToken {SECRET}")
    assert a == b
    assert a.fingerprint() == b.fingerprint()
    assert SECRET not in a.fingerprint()
    assert a != ApiToken(SECRET + "x")
