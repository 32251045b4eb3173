"""The captions' computed sentences (grokscan/reporting/words.py) on constructed runs: a paper's
finding is never said to hold where the numbers say it does not, and is where they say it does."""

import numpy as np
import pytest

from grokscan.reporting import words as w

STEPS = np.arange(0, 1000, 20)
GROKS = {"memorisation": 100, "grokking": 600}
NEVER = {"memorisation": 20, "grokking": None}
AGREES, DISAGREES, NO_WINDOW = "this run agrees", "this run does not:", "this run does not grok"


def _sigmoid(centre, width=40.0):
    return 1 / (1 + np.exp(-(STEPS - centre) / width))


def test_shape_and_course():
    assert w.shape(STEPS, STEPS**0.5)["kind"] == "rises"
    assert "rises monotonically from 0 (step 0)" in w.course(STEPS, STEPS**0.5, what="x")
    dip = 1 - np.exp(-((STEPS - 400) / 100.0) ** 2)
    assert w.shape(STEPS, dip)["kind"] == "dips" and "minimum of 0 at step 400" in w.course(
        STEPS, dip)
    assert w.shape(STEPS, np.ones(len(STEPS)))["kind"] == "flat"
    noisy = STEPS + 300 * np.sin(STEPS / 30)
    assert "monotonically" not in w.course(STEPS, noisy)


@pytest.mark.parametrize("gap, markers, verdict", [
    (0.3 + 0.6 * _sigmoid(400), GROKS, DISAGREES),  # rises monotonically through grokking
    (1 - 0.5 * np.exp(-((STEPS - 350) / 80.0) ** 2), GROKS, AGREES),  # dips inside the window
    (0.3 + 0.6 * _sigmoid(400), NEVER, NO_WINDOW),
])
def test_softmax_gap_dips_only_where_it_dips(gap, markers, verdict):
    text = w.softmax_gap_words(STEPS, gap, markers)
    assert verdict in text and "arXiv:2510.25966" in text
    if verdict != AGREES:
        assert AGREES not in text
    if verdict == DISAGREES:
        assert "rises monotonically" in text


def test_entropy_rises_during_grokking_only_where_it_rises():
    falls = {"W_in": 5 - _sigmoid(300), "W_out": 4 - _sigmoid(300)}
    text = w.entropy_words(STEPS, falls, GROKS)
    assert DISAGREES in text and AGREES not in text and "rises during grokking" in text
    rises = {"W_in": 5 + _sigmoid(350), "W_out": 4 + _sigmoid(350)}
    assert AGREES in w.entropy_words(STEPS, rises, GROKS)
    assert NO_WINDOW in w.entropy_words(STEPS, rises, NEVER)


def test_restricted_and_excluded_loss_on_a_run_that_never_generalises():
    test_acc = 0.05 + 0.02 * _sigmoid(500)
    losses = {"restricted_test": 4.6 - 0.1 * _sigmoid(300), "loss_test": 5 + _sigmoid(200),
              "excluded_train": 0.01 + 0.0 * STEPS}
    text = w.freqloss_words(STEPS, losses, NEVER, test_acc=test_acc, run_steps=STEPS)
    assert "never generalises" in text and AGREES not in text and DISAGREES not in text


def test_restricted_loss_before_test_loss_and_excluded_rise_on_a_grokking_run():
    test_acc = _sigmoid(550)
    losses = {"restricted_test": np.exp(-6 * _sigmoid(350)), "loss_test": 5 * np.exp(
        -6 * _sigmoid(550)), "excluded_train": 0.01 + 3 * np.exp(-((STEPS - 550) / 80.0) ** 2)}
    text = w.freqloss_words(STEPS, losses, GROKS, test_acc=test_acc, run_steps=STEPS)
    assert text.count(AGREES) == 2, text
    # the other way round: the test loss falls first, the excluded loss never rises
    losses = {"restricted_test": np.exp(-6 * _sigmoid(650)), "loss_test": 5 * np.exp(
        -6 * _sigmoid(450)), "excluded_train": 0.5 * np.exp(-STEPS / 200)}
    text = w.freqloss_words(STEPS, losses, GROKS, test_acc=test_acc, run_steps=STEPS)
    assert text.count(DISAGREES) == 2 and AGREES not in text


def test_fourier_concentration_only_where_the_norm_concentrates():
    rng = np.random.default_rng(0)
    spread = rng.uniform(0.5, 1.5, (len(STEPS), 48))
    text = w.concentration_words(STEPS, spread, [3, 17], GROKS)
    assert DISAGREES in text and AGREES not in text
    fades = spread * (1 - 0.95 * _sigmoid(500))[:, None]
    fades[:, [2, 16]] = 5 + 20 * _sigmoid(500)[:, None]
    assert AGREES in w.concentration_words(STEPS, fades, [3, 17], GROKS)


def test_clusters_of_one_colour_only_where_classes_separate():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), 60)
    mixed = rng.normal(size=(300, 2))
    centres = 10 * np.stack([np.cos(labels * 1.2566), np.sin(labels * 1.2566)], 1)
    separated = centres + 0.3 * rng.normal(size=(300, 2))
    text = w.clusters_words([0, 900], np.stack([mixed, mixed]), labels, by="class")
    assert DISAGREES in text and AGREES not in text
    text = w.clusters_words([0, 900], np.stack([mixed, separated]), labels, by="class")
    assert AGREES in text and "and 100% at step 900" in text


def _dropout(q, rng, passes=100):
    """(variance, mean) over passes, each example's hit drawn independently with chance q."""
    hits = (rng.random((q.shape[0], passes, q.shape[1])) < q[:, None, :]).sum(-1)
    return hits.var(axis=-1) / q.shape[1] ** 2, hits.mean(axis=-1) / q.shape[1]


def test_dropout_peak_read_against_its_ceiling():
    rng = np.random.default_rng(3)
    acc = np.clip(_sigmoid(500, 120), 0.01, 0.99)
    var, mean = _dropout(np.repeat(acc[:, None], 1024, 1), rng)
    text = w.dropout_words(STEPS, var, mean, n=1024, passes=100, markers=GROKS)
    assert "the peak is where the highest ceiling puts it" in text
    assert "no sign that the examples differ" in text and "above the ceiling" not in text
    q = np.repeat(acc[:, None], 1024, 1)
    q[20, :512] = np.clip(q[20, :512] + 0.4, 0, 1)  # step 400: the examples' chances split
    q[20, 512:] = np.clip(q[20, 512:] - 0.4, 0, 1)
    var, mean = _dropout(q, rng)
    text = w.dropout_words(STEPS, var, mean, n=1024, passes=100, markers=GROKS)
    assert "the examples differ in their chance of being right" in text
    assert "no sign" not in text


def test_story_says_what_happened():
    grok = w.story(STEPS, _sigmoid(50, 5), _sigmoid(500, 30), markers=GROKS,
                   key_freqs={"add": [4, 14]})
    assert "first reached 0.5 at step 500" in grok and "the run grokked" in grok
    assert "Key frequencies at the end: 4, 14" in grok
    never = w.story(STEPS, _sigmoid(10, 5), 0.05 + 0.1 * _sigmoid(500), markers=NEVER)
    assert "never reached 0.5" in never and "grokked" not in never


def test_nulls_in_words():
    text = w.bimodality_words(STEPS, np.full(len(STEPS), 0.334), np.full(len(STEPS), 0.333),
                              np.full(len(STEPS), 0.32), np.full(len(STEPS), 0.35))
    assert "within the Gaussian's range" in text and "never leaves" in text
    c = 0.33 + 0.4 * _sigmoid(500)
    text = w.bimodality_words(STEPS, c, c * 0 + 0.333, c * 0 + 0.32, c * 0 + 0.35)
    assert "two modes" in text and "stands above the Gaussian's range from step" in text
    blip = np.full(len(STEPS), 0.334)
    blip[10] = 0.4  # one checkpoint above the range, by chance
    text = w.bimodality_words(STEPS, blip, blip * 0 + 0.333, blip * 0 + 0.32, blip * 0 + 0.35)
    assert "does not stay above" in text and "from step" not in text
    share = 0.02 + 0.9 * _sigmoid(300)
    text = w.structure_words(STEPS, share, np.full(len(STEPS), 0.05), what="circulant share",
                             markers=GROKS)
    assert "from step" in text and "on (after memorisation" in text
    assert "never" in w.structure_words(STEPS, np.full(len(STEPS), 0.02),
                                        np.full(len(STEPS), 0.05), what="x", markers=GROKS)
    assert "up 0.3" in w.against_init(0.2, 0.5, what="Gini", init_step=0)


def test_moment_names():
    names = w.moment_names([0, 100, 600, 980], GROKS)
    assert names == ["step 0 (initialisation)", "step 100 (memorisation)",
                     "step 600 (grokking)", "step 980 (the end)"]


def test_gradient_lines_only_where_misclassified_samples_lie_far():
    rng = np.random.default_rng(4)
    xy = rng.normal(size=(200, 2))
    correct = (np.arange(200) % 2).astype(float)
    assert DISAGREES in w.gradient_words(xy, correct, step=50)
    xy[correct == 0] *= 10
    assert AGREES in w.gradient_words(xy, correct, step=50)
    text = w.gradient_words(xy, np.ones(200), step=50)
    assert "every sample drawn is correctly classified" in text and AGREES not in text


def test_inactive_units_fall_then_rise_only_where_they_do():
    falls = 0.5 - 0.4 * _sigmoid(60, 10)
    assert DISAGREES in w.inactive_words(STEPS, falls, GROKS)
    dip = 0.5 - 0.4 * _sigmoid(60, 10) + 0.3 * _sigmoid(500)
    assert AGREES in w.inactive_words(STEPS, dip, GROKS)


def test_robustness_after_grokking_only_where_it_holds():
    rates = np.arange(10) / 10
    holds = np.array([1, 1, 1, 0.99, 0.95, 0.9, 0.6, 0.3, 0.1, 0.02])
    assert AGREES in w.drc_words(rates, holds, step=900, markers=GROKS)
    breaks = np.array([1, 0.7, 0.4, 0.2, 0.1, 0.05, 0.02, 0.01, 0.01, 0.01])
    assert DISAGREES in w.drc_words(rates, breaks, step=900, markers=GROKS)
    assert "this run agrees" not in w.drc_words(rates, holds, step=900, markers=NEVER)


def test_neuron_spectrum_white_then_sparse_only_where_it_is():
    rng = np.random.default_rng(5)
    white = rng.uniform(0.5, 1.5, (23, 23))
    sparse = white * 0.01
    sparse[3, 3] = sparse[5, 5] = 50
    assert AGREES in w.spectrum_words(white, sparse, steps=(20, 900))
    assert DISAGREES in w.spectrum_words(white, white, steps=(20, 900))


def test_trig_components_before_the_test_loss_only_where_they_are():
    test_loss = 5 * np.exp(-6 * _sigmoid(600))
    early = {4: _sigmoid(350), 14: 2 * _sigmoid(400)}
    assert AGREES in w.trig_words(STEPS, early, test_loss, STEPS, GROKS)
    late = {4: _sigmoid(800)}
    assert DISAGREES in w.trig_words(STEPS, late, test_loss, STEPS, GROKS)
    never = w.trig_words(STEPS, early, test_loss, STEPS, NEVER, test_acc=0.05 + 0 * STEPS)
    assert "this run never generalises" in never and AGREES not in never


def test_constellation_circle_only_where_the_points_are_ordered():
    rng = np.random.default_rng(6)
    n, k = 23, 5
    hue = (k * np.arange(n)) % n
    circle = np.stack([np.cos(2 * np.pi * hue / n), np.sin(2 * np.pi * hue / n)], 1)
    cloud = rng.normal(size=(n, 2))
    text = w.constellation_words(cloud, circle, steps=(0, 900))  # t at angle 2π·k·t/n
    assert AGREES in text and f"k = {k} with strength 1.00 at step 900" in text
    assert DISAGREES in w.constellation_words(cloud, cloud, steps=(0, 900))


def test_last_layer_says_what_a_prime_p_allows():
    assert "is prime" in w.last_layer_words(97, [4, 14])
    assert "3 clusters of 7" in w.last_layer_words(21, [7, 2])
    assert "circles, not clusters" in w.last_layer_words(21, [2, 4])


def test_classes_and_the_norm():
    test = np.stack([_sigmoid(300), _sigmoid(500), 0.1 + 0 * STEPS], 1)
    assert "2 of 3 classes reach test accuracy 0.5, between steps 300 and 500; 1 never" in (
        w.class_words(STEPS, test))
    falls, rises = 30 - 20 * _sigmoid(300), 10 + 20 * _sigmoid(300)
    assert AGREES in w.norm_words(STEPS, falls, _sigmoid(500), GROKS)
    assert DISAGREES in w.norm_words(STEPS, rises, _sigmoid(500), GROKS)
    assert AGREES not in w.norm_words(STEPS, falls, 0 * STEPS, GROKS)
    flat = 50 - 1e-4 * STEPS / STEPS[-1]  # a fall of 2 in a million: no fall
    assert DISAGREES in w.norm_words(STEPS, flat, _sigmoid(500), GROKS)
    early = w.norm_words(STEPS, falls, _sigmoid(50), GROKS)  # 0.5 before memorisation
    assert AGREES not in early and "no later than train accuracy 0.99" in early


def test_a_dropout_peak_away_from_the_highest_ceiling_is_said_so():
    # the examples' chances spread where accuracy is near 0.5 (variance a fifth of the
    # ceiling there): the variance peaks near accuracy 0.85, beyond the sampling noise
    acc = np.clip(_sigmoid(500, 120), 0.01, 0.99)
    ceiling = acc * (1 - acc) / 1024
    var = np.where(np.abs(acc - 0.5) < 0.35, 0.2, 1.0) * ceiling
    text = w.dropout_words(STEPS, var, acc, n=1024, passes=100, markers=GROKS)
    assert "beyond the sampling noise" in text and "where the highest ceiling puts it" not in text
    assert "the examples differ in their chance of being right" in text


def test_a_measure_tracks_grokking_when_it_changes_between_memorisation_and_grokking():
    inside = 1 - _sigmoid(350, 30)  # falls between memorisation (100) and grokking (600)
    agrees, said = w.tracks_words(STEPS, inside, GROKS, what="FFD")
    assert agrees is True and "between memorisation (step 100) and grokking (step 600)" in said
    early = 1 - _sigmoid(40, 10)  # falls before memorisation
    agrees, said = w.tracks_words(STEPS, early, GROKS, what="FFD")
    assert agrees is False
    assert w.tracks_words(STEPS, inside, NEVER, what="FFD")[0] is None
    assert w.structured_late(STEPS, _sigmoid(400), np.full(len(STEPS), 0.5)) is True
    assert w.structured_late(STEPS, np.full(len(STEPS), 0.9), np.full(len(STEPS), 0.5)) is False


def test_the_cosine_and_histogram_findings_get_a_verdict_from_their_nulls():
    rises, flat, bound = _sigmoid(400), np.full(len(STEPS), 0.1), np.full(len(STEPS), 0.5)
    assert AGREES in w.cosine_claim(STEPS, rises, bound, GROKS, multiplicative=False)
    assert DISAGREES in w.cosine_claim(STEPS, flat, bound, GROKS, multiplicative=False)
    assert NO_WINDOW in w.cosine_claim(STEPS, rises, bound, NEVER, multiplicative=True)
    assert "this run" not in w.cosine_claim(STEPS, rises, None, GROKS, multiplicative=False)
    two, one = 0.33 + 0.4 * _sigmoid(500), np.full(len(STEPS), 0.334)
    assert AGREES in w.bimodality_claim(STEPS, two, bound * 0 + 0.35, GROKS)
    assert DISAGREES in w.bimodality_claim(STEPS, one, bound * 0 + 0.35, GROKS)
    assert "this run" not in w.bimodality_claim(STEPS, None, None, GROKS)
