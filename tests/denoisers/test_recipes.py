"""denoisers.recipes: the order of the training stages and where each starts."""

from denoisers.recipes import FINETUNE_LR_DIVISOR, RESTART_LR_DIVISOR, Stage, training_stages

NAMES = {15: "s15", 25: "s25", 50: "s50"}


def test_sigma_25_first_then_fine_tuning_from_it() -> None:
    stages = training_stages([25, 15, 50], NAMES, 10, 0, 2, scratch_exists=False)
    assert stages == [Stage(25, 10, "s25", None, 1.0), Stage(15, 2, "s15", "s25", FINETUNE_LR_DIVISOR),
                      Stage(50, 2, "s50", "s25", FINETUNE_LR_DIVISOR)]


def test_a_restart_writes_an_intermediate_and_fine_tuning_starts_from_the_restart() -> None:
    stages = training_stages([25, 15], NAMES, 5, 3, 1, scratch_exists=False)
    assert stages == [Stage(25, 5, "s25_scratch", None, 1.0), Stage(25, 3, "s25", "s25_scratch", RESTART_LR_DIVISOR),
                      Stage(15, 1, "s15", "s25", FINETUNE_LR_DIVISOR)]


def test_a_level_before_sigma_25_starts_from_scratch_unless_its_weights_exist() -> None:
    assert training_stages([15, 25], NAMES, 4, 0, 2, scratch_exists=False)[0] == Stage(15, 2, "s15", None, 1.0)
    assert training_stages([15], NAMES, 4, 0, 2, scratch_exists=True) == [Stage(15, 2, "s15", "s25", FINETUNE_LR_DIVISOR)]
