"""A token a stop sequence cuts through: its label is the part before the stop, and its logprobs say so."""

from __future__ import annotations

from portkey_completions.engine.completion import Token, _Held


def test_a_cut_token_is_named_by_its_part_before_the_stop_in_tokens_and_top_logprobs():
    """The case hypothesis found: ".\\n\\n" cut to "." by the stop "\\n", while the token "." is in top_logprobs too."""
    held = _Held(("\n",), 0)
    cut = Token(".\n\n", -3.67, {".": -0.69, ".\n\n": -3.67, " the": -1.2}, 0)
    piece = held.add(".\n\n", cut)
    assert piece is not None and piece.finish_reason == "stop" and piece.text == "."
    [token] = piece.tokens
    assert token.label == "."
    assert token.top == {".": -3.67, " the": -1.2}  # the sampled token, under its cut label
    assert token.top[token.label] == token.logprob


def test_a_whole_token_keeps_its_label_and_top_logprobs():
    held = _Held(("\n",), 0)
    whole = Token("Hi", -0.5, {"Hi": -0.5, "Hello": -1.0}, 0)
    piece = held.add("Hi", whole)
    assert piece is not None and piece.tokens == [whole]


def test_a_cut_token_without_logprobs_asked_has_none():
    held = _Held(("lo",), 0)
    piece = held.add("Hello", Token("Hello", None, None, 0))
    assert piece is not None and piece.text == "Hel" and piece.tokens[0].label == "Hel" and piece.tokens[0].top is None
