"""The folds scheme: disjoint test sets across split seeds, the config check of colliding seeds."""
import pytest

from mmnar.data.split import fold_collisions, make_split, n_folds
from test_delta_split_tables import synthetic_labels as labels


def test_folds_give_disjoint_test_sets_covering_the_cohort():
    frame = labels()
    tests = [set(make_split(frame, s, 0.15, 0.2, scheme="folds")
                 .query("split == 'test'")["subject_id"]) for s in range(5)]
    assert all(len(t) == 200 for t in tests)
    assert set().union(*tests) == set(frame["subject_id"])
    assert sum(len(a & b) for i, a in enumerate(tests) for b in tests[i + 1:]) == 0


def test_folds_keep_the_shares_and_strata():
    split = make_split(labels(), 1, 0.15, 0.2, scheme="folds")
    counts = split["split"].value_counts()
    assert (counts["test"], counts["val"], counts["train"]) == (200, 150, 650)
    rates = split.merge(labels(), on="subject_id").groupby("split")["mortality_inhosp"].mean()
    assert rates.max() - rates.min() < 0.01


def test_fold_seed_deals_the_folds_and_the_split_seed_picks_one():
    frame = labels()
    assert make_split(frame, 0, 0.15, 0.2, scheme="folds").equals(make_split(frame, 0, 0.15, 0.2, scheme="folds"))
    assert not make_split(frame, 0, 0.15, 0.2, scheme="folds", fold_seed=1).equals(
        make_split(frame, 0, 0.15, 0.2, scheme="folds"))


def test_random_scheme_test_sets_overlap():
    frame = labels()
    a, b = (set(make_split(frame, s, 0.15, 0.2).query("split == 'test'")["subject_id"]) for s in (0, 1))
    assert a & b


def test_seeds_that_pick_the_same_fold_are_reported():
    assert n_folds(0.2) == 5 and n_folds(0.25) == 4
    assert fold_collisions([0, 1, 2], 0.2) == []
    assert fold_collisions([0, 5, 1], 0.2) == [(0, 5)]


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="scheme"):
        make_split(labels(50), 0, 0.2, 0.2, scheme="blocks")
