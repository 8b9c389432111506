"""Tests for data_pipeline/parts/errors.py: what a wrong name or parameter says."""

from __future__ import annotations

from data_pipeline.parts import ParamsError, UnknownNameError, did_you_mean


def test_did_you_mean_knows_synonyms_and_typos() -> None:
    assert did_you_mean("learning_rate", ["lr", "weight_decay"]) == "lr"
    assert did_you_mean("weight_decy", ["lr", "weight_decay"]) == "weight_decay"
    assert did_you_mean("zzz", ["lr"]) is None
    assert did_you_mean(3, ["lr"]) is None


def test_unknown_name_is_a_key_error_that_prints_its_message_unquoted() -> None:
    error = UnknownNameError("loss", "dcie", ["focal", "dice", "bce_dice"])
    assert isinstance(error, KeyError)
    assert error.known == ["bce_dice", "dice", "focal"]
    assert error.suggestions[0] == "dice"
    assert str(error).startswith("Unknown loss name 'dcie'. Did you mean 'dice'")
    assert "registry('loss').register('your_name'" in str(error)
    unknown_kind = UnknownNameError("kind", "los", ["loss"])
    assert "register" not in str(unknown_kind), "an unknown kind cannot be registered into"


def test_params_error_lists_each_problem_and_every_parameter() -> None:
    error = ParamsError("loss", "focal",
                        [(("gama",), "unknown parameter 'gama'", 2, "gamma"),
                         ((), "input should be a mapping", None, None)],
                        ("gamma=2.0", "alpha=0.25"))
    assert isinstance(error, ValueError)
    assert str(error) == ("loss 'focal': gama: unknown parameter 'gama'; did you mean 'gamma'?; "
                          "params: input should be a mapping "
                          "(loss 'focal' parameters: gamma=2.0, alpha=0.25)")
    assert error.causes == ["invalid", "invalid"] and error.nested == [None, None]
    bare = ParamsError("loss", "dice", [], ())
    assert bare.parameters_text() == "loss 'dice' takes no parameters"
