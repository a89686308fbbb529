"""The test table: every loss of the registry once, with what the tests need to know about it.

In the spirit of PyTorch's OpInfo (``torch/testing/_internal/common_methods_invocations.py``): one
:class:`Loss` per entry of :data:`focalloss.losses.LOSSES`, in the registry's order, holding

- the callables on every layer: the public function and ``nn.Module``, the float64 reference's
  value, gradient and (binary losses) second derivative, the registry entry itself;
- the grids the tests sweep: ``settings`` (value and gradient on every backend; ``triton=True``
  marks the subset that Triton's interpreter runs too), ``gradcheck``, ``module_settings``, one
  hypothesis strategy per hyperparameter, and ``sweep``, a setting for each strength in [0, 10];
- the values each hyperparameter must reject, from the check the registry declares for it;
- small sample inputs of the loss's family.

Each test file parametrises over :data:`LOSSES`, :data:`BINARY` or :data:`SOFTMAX`, or over the grids
of their entries. A registry entry without test facts in :data:`_FACTS` stops the run at import
with a message that says what to add.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from hypothesis import strategies as st

import focalloss
from focalloss import _scalars, losses, reference

# settings["alpha"] == PER_CLASS: a random per-class vector, drawn by resolve() once the number of
# classes is known
PER_CLASS = "vector"


@dataclass(frozen=True)
class Setting:
    """Keyword arguments of the public function (hyperparameters, alpha, label smoothing), and
    whether Triton's interpreter runs them too: it is slow, so it runs a subset. (The backend tests
    of the softmax losses take a setting's hyperparameters only and sweep alpha and targets.)"""

    kwargs: dict
    triton: bool = False


def S(*, triton=False, **kwargs):  # noqa: N802 - reads as a row of the table
    return Setting(kwargs, triton)


@dataclass(frozen=True)
class Loss:
    """One loss of the registry and its test facts (see the module docstring)."""

    spec: losses.LossSpec
    settings: tuple[Setting, ...] = field(repr=False)
    gradcheck: tuple[dict, ...] = field(repr=False)
    module_settings: dict = field(repr=False)
    api_settings: tuple[dict, ...] = field(repr=False)
    strategies: dict = field(repr=False)
    sweep: Callable[[float], dict] = field(repr=False)
    # the least value an element's loss can take at these settings: 0 but for poly-1 with epsilon
    # below -alpha_t, whose loss tends to alpha_t + epsilon < 0 for confident right predictions
    lower_bound: Callable[[dict], float] = field(default=lambda kwargs: 0.0, repr=False)
    # how far float64 rounding in the loss's own arithmetic can be amplified at the inputs (x, t) and these
    # settings, the largest factor over the elements; None: nowhere beyond what the tolerance table allows
    float64_condition: Callable[[torch.Tensor, torch.Tensor, dict], float] | None = field(default=None, repr=False)

    def __str__(self):
        return self.name

    @property
    def name(self):
        return self.spec.function

    @property
    def module_name(self):
        return self.spec.module

    @property
    def kind(self):
        return self.spec.kind

    @property
    def family(self):
        """"binary" or "softmax"."""
        return self.spec.family

    @property
    def binary(self):
        return self.spec.family == "binary"

    @property
    def function(self):
        return getattr(focalloss, self.spec.function)

    @property
    def module(self):
        return getattr(focalloss, self.spec.module)

    @property
    def reference(self):
        return getattr(reference, self.spec.function)

    @property
    def reference_grad(self):
        return getattr(reference, self.spec.function + "_grad")

    @property
    def reference_hess(self):
        """The reference's second derivative of the unreduced loss; binary losses only."""
        return getattr(reference, self.spec.function + "_hess") if self.binary else None

    @property
    def triton_settings(self):
        return tuple(s for s in self.settings if s.triton)

    def params(self, kwargs):
        """The hyperparameters of ``kwargs`` as a backend takes them, defaults filled in."""
        return {h.name: kwargs.get(h.name, h.default) for h in self.spec.hyperparameters}

    def alpha(self, kwargs):
        """alpha of ``kwargs``, or the loss's default."""
        return kwargs.get("alpha", self.spec.alpha)

    def rejected(self):
        """``(hyperparameter, exception, what the message says is allowed, value)`` for every value
        its registry check must refuse on its own: numbers out of range, and what is not a number
        (not a tuple of numbers, for a schedule). The schedules' own ValueErrors are in
        :data:`BAD_SCHEDULES`."""
        cases = []
        for h in self.spec.hyperparameters:
            allowed, out_of_range = OUT_OF_RANGE[h.check]
            cases += [(h.name, ValueError, allowed, value) for value in out_of_range]
            not_numbers = NOT_A_SCHEDULE if h.check in SCHEDULE_CHECKS else NOT_A_NUMBER
            cases += [(h.name, TypeError, "finite real number", value) for value in not_numbers]
        return cases

    def sample(self, shape=(6, 5), *, seed=0):
        """Valid inputs of this loss: :func:`binary_sample` or :func:`softmax_sample`."""
        return (binary_sample if self.binary else softmax_sample)(shape, seed=seed)


def binary_sample(shape=(6, 5), *, seed=0):
    """float32 logits of ``shape`` and 0/1 targets of that shape (30 % ones)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen) * 3, (torch.rand(shape, generator=gen) < 0.3).float()


def softmax_sample(shape=(6, 5), *, seed=0):
    """float32 logits of ``shape`` (N, C, d1, ...) and class indices of shape (N, d1, ...)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen) * 3, torch.randint(0, shape[1], shape[:1] + shape[2:], generator=gen)


# --------------------------------------------------------------------------------------------------
# What each check of the registry refuses: (what the ValueError's message allows, values out of that
# range); and what every check refuses with a TypeError, "must be a finite real number".
# --------------------------------------------------------------------------------------------------
OUT_OF_RANGE = {
    _scalars.nonnegative: (">= 0", [-0.5, -1e-12, -1]),
    _scalars.positive: ("> 0", [0, 0.0, -1.0]),
    _scalars.unit_interval: ("[0, 1]", [-0.1, 1.5, 2]),
    _scalars.unit_interval_open_above: ("[0, 1)", [-0.1, 1.0, 1.5]),
    _scalars.at_least_minus_one: (">= -1", [-1.5, -2]),
    _scalars.finite: (None, []),
    losses.SCHEDULE[0].check: (None, []),  # a schedule's values: BAD_SCHEDULES
    losses.SCHEDULE[1].check: (None, []),
}
NOT_A_NUMBER = ["2", "1", "one", None, float("nan"), float("inf"), True, [2.0], torch.tensor([1.0, 2.0])]
SCHEDULE_CHECKS = {h.check for h in losses.SCHEDULE}
NOT_A_SCHEDULE = ["0.2", 0.2, None, (float("nan"),), (True,), ("0.2",), (0.2, float("inf")), torch.tensor([0.2])]
# schedules (thresholds, gammas) the adaptive focal losses refuse, with the fragments of the message
BAD_SCHEDULES = [
    ({"thresholds": (0.5, 0.3), "gammas": (5.0, 3.0, 1.0)}, ["thresholds", "strictly increasing", "(0, 1)",
                                                             "got (0.5, 0.3)"]),
    ({"thresholds": (0.2, 0.2), "gammas": (5.0, 3.0, 1.0)}, ["thresholds", "strictly increasing", "got (0.2, 0.2)"]),
    ({"thresholds": (0.0,)}, ["thresholds", "in (0, 1)", "got (0.0,)"]),
    ({"thresholds": (1.0,)}, ["thresholds", "in (0, 1)", "got (1.0,)"]),
    ({"thresholds": (-0.1,)}, ["thresholds", "in (0, 1)", "got (-0.1,)"]),
    ({"thresholds": (0.1, 0.2, 0.3, 0.4), "gammas": (5.0, 4.0, 3.0, 2.0, 1.0)},
     ["thresholds", "0 to 3 values", "got 4: (0.1, 0.2, 0.3, 0.4)"]),
    ({"gammas": (3.0, 5.0)}, ["gammas", ">= 0 that do not increase", "got (3.0, 5.0)"]),
    ({"gammas": (5.0, -1.0)}, ["gammas", ">= 0", "got (5.0, -1.0)"]),
    ({"gammas": ()}, ["gammas", "1 to 4 values", "got 0: ()"]),
    ({"gammas": (5.0, 3.0, 1.0)}, ["gammas", "len(thresholds) + 1 = 2 values", "got 3: (5.0, 3.0, 1.0)"]),
    ({"thresholds": (0.2, 0.5)}, ["gammas", "len(thresholds) + 1 = 3 values", "got 2: (5.0, 3.0)"]),
    ({"thresholds": ()}, ["gammas", "len(thresholds) + 1 = 1 values", "got 2: (5.0, 3.0)"]),
]


# --------------------------------------------------------------------------------------------------
# Hypothesis strategies of the hyperparameters' values, the awkward ones sampled first
# --------------------------------------------------------------------------------------------------
unit = st.floats(0.0, 1.0)
gammas = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0, 10.0]), st.floats(0.0, 10.0))
ks = st.one_of(st.sampled_from([0.0, 1.0, 50.0]), st.floats(0.0, 20.0))
thresholds = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 1e-9, 1 - 1e-9]), unit)
margins = st.one_of(st.sampled_from([0.0, 0.05, 0.5, 1e-9, 1 - 1e-9]), st.floats(0.0, 1.0, exclude_max=True))


def _off_simple_probabilities(cut):
    """Cuts of a schedule away (1e-6) from 1/k, the probability of k classes with equal logits (and
    sigmoid(0) = 1/2), which inputs drawn by hypothesis hit exactly: there the piece chosen would
    depend on the last bit of log p, which the backends round differently."""
    return all(abs(cut - 1.0 / k) > 1e-6 for k in range(1, 9))


schedule_cuts = st.lists(st.floats(1e-3, 1 - 1e-3).filter(_off_simple_probabilities), min_size=1, max_size=1,
                         unique=True).map(lambda cuts: tuple(sorted(cuts)))
schedule_gammas = st.tuples(gammas, gammas).map(lambda pair: tuple(sorted(pair, reverse=True)))


# --------------------------------------------------------------------------------------------------
# The test facts, by public function name
# --------------------------------------------------------------------------------------------------
def _quality_focal_condition(x, t, beta):
    """QFL's factor |t - p|^beta and its derivative's p q / (t - p) are read from t - p. From p and q in
    float64 it is formed with an error of about eps (t q + (1 - t) p): relative to t - p, a factor
    kappa = (t q + (1 - t) p) / |t - p| that grows without bound as p nears t (x = 1e-8, t = 1/2:
    kappa = 2e8, and the fused and torch backends' gradient is 5e-9 off there, measured with mpmath),
    and the gradient carries up to 1 + beta times that. Capped at 1 / eps, where t - p rounds to 0."""
    p, q = torch.sigmoid(x.double()), torch.sigmoid(-x.double())
    t = t.double()
    scale = t * q + (1.0 - t) * p
    kappa = scale / (t * q - (1.0 - t) * p).abs()
    eps = torch.finfo(torch.float64).eps
    return float((1.0 + beta) * kappa.nan_to_num(nan=1.0).clamp(max=1.0 / eps).max()) if x.numel() else 0.0


_FACTS = {
    "sigmoid_focal_loss": dict(
        settings=(
            S(alpha=0.25, gamma=2.0, triton=True),
            S(alpha=None, gamma=0.5),
            S(alpha=0.9, gamma=0.0),
            S(alpha=0.5, gamma=7.5),
            S(gamma=0.0, alpha=None, triton=True),
            S(gamma=0.5, alpha=0.9, triton=True),
            S(gamma=10.0, alpha=None, triton=True),
        ),
        gradcheck=({"alpha": 0.25, "gamma": 2.0}, {"alpha": None, "gamma": 0.5}),
        module_settings={"alpha": 0.4, "gamma": 1.5},
        api_settings=({"alpha": 0.25, "gamma": 2.0, "reduction": "mean"},),
        strategies={"gamma": gammas},
        sweep=lambda g: {"gamma": g, "alpha": 0.25},
    ),
    "sigmoid_focal_loss_star": dict(
        settings=(
            S(gamma=2.0, beta=1.0, alpha=0.3, triton=True),
            S(gamma=0.5, beta=-2.0, triton=True),
        ),
        gradcheck=({"gamma": 2.0, "beta": 1.0},),
        module_settings={"gamma": 2.0, "beta": 0.5},
        api_settings=({"gamma": 2.0, "beta": 1.0, "reduction": "none"},),
        strategies={
            "gamma": st.one_of(st.sampled_from([0.01, 1.0, 2.0, 10.0]), st.floats(0.01, 10.0)),
            "beta": st.one_of(st.sampled_from([0.0, -5.0, 5.0]), st.floats(-20.0, 20.0)),
        },
        sweep=lambda g: {"gamma": max(g, 0.1), "beta": 1.0},
    ),
    "sigmoid_poly1_focal_loss": dict(
        settings=(
            S(alpha=0.25, gamma=2.0, epsilon=1.0, triton=True),
            S(alpha=None, gamma=0.5, epsilon=-1.0, triton=True),
            S(alpha=0.6, gamma=0.0, epsilon=2.0),
        ),
        gradcheck=({"alpha": 0.25, "gamma": 2.0, "epsilon": 1.0}, {"alpha": None, "gamma": 0.5, "epsilon": -1.0}),
        module_settings={"alpha": 0.4, "gamma": 1.5, "epsilon": 0.5},
        api_settings=({"alpha": 0.25, "gamma": 2.0, "epsilon": 1.0, "reduction": "mean"},),
        strategies={"gamma": gammas, "epsilon": st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1.0, 5.0))},
        sweep=lambda g: {"gamma": g, "epsilon": 1.0},
        lower_bound=lambda kwargs: min(0.0, kwargs.get("epsilon", 1.0) + _least_alpha_t(kwargs.get("alpha", 0.25))),
    ),
    "sigmoid_adaptive_focal_loss": dict(
        settings=(
            S(thresholds=(0.2,), gammas=(5.0, 3.0), triton=True),
            S(thresholds=(0.1, 0.45, 0.8), gammas=(4.0, 2.0, 0.5, 0.0), alpha=0.3, triton=True),
            S(thresholds=(), gammas=(0.5,), alpha=0.75),
        ),
        gradcheck=({"thresholds": (0.2,), "gammas": (5.0, 3.0)},
                   {"thresholds": (0.3, 0.7), "gammas": (2.0, 0.5, 0.5), "alpha": 0.4}),
        module_settings={"thresholds": (0.3,), "gammas": (4.0, 1.0), "alpha": 0.5},
        api_settings=({"thresholds": (0.2,), "gammas": (5.0, 3.0), "reduction": "mean"},),
        strategies={"thresholds": schedule_cuts, "gammas": schedule_gammas},
        sweep=lambda g: {"thresholds": (0.3,), "gammas": (g, g / 2.0)},
    ),
    "sigmoid_asymmetric_loss": dict(
        settings=(
            S(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, triton=True),
            S(gamma_pos=0.5, gamma_neg=0.3, clip=0.0, alpha=0.3, triton=True),
            S(gamma_pos=0.0, gamma_neg=10.0, clip=0.9, triton=True),
            S(gamma_pos=2.0, gamma_neg=0.0, clip=0.2, alpha=0.75),
        ),
        gradcheck=({"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05},
                   {"gamma_pos": 0.5, "gamma_neg": 0.5, "clip": 0.3, "alpha": 0.4}),
        module_settings={"gamma_pos": 0.5, "gamma_neg": 2.0, "clip": 0.1, "alpha": 0.5},
        api_settings=({"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05, "reduction": "sum"},),
        strategies={"gamma_pos": gammas, "gamma_neg": gammas, "clip": margins},
        sweep=lambda g: {"gamma_pos": g, "gamma_neg": g, "clip": 0.05},
    ),
    "sigmoid_quality_focal_loss": dict(
        float64_condition=lambda x, t, kwargs: _quality_focal_condition(x, t, kwargs.get("beta", 2.0)),
        settings=(
            S(beta=2.0, triton=True),
            S(beta=0.5, alpha=0.3, triton=True),
            S(beta=0.0, triton=True),
            S(beta=7.5, alpha=0.75),
        ),
        gradcheck=({"beta": 2.0}, {"beta": 1.5, "alpha": 0.4}),
        module_settings={"beta": 1.5, "alpha": 0.5},
        api_settings=({"beta": 2.0, "reduction": "mean"},),
        strategies={"beta": gammas},
        sweep=lambda g: {"beta": g},
    ),
    "sigmoid_varifocal_loss": dict(
        settings=(
            S(alpha=0.75, gamma=2.0, triton=True),
            S(alpha=None, gamma=0.5, triton=True),
            S(alpha=0.3, gamma=0.0, triton=True),
            S(alpha=0.9, gamma=7.5),
        ),
        gradcheck=({"alpha": 0.75, "gamma": 2.0}, {"alpha": None, "gamma": 0.5}),
        module_settings={"alpha": 0.5, "gamma": 1.5},
        api_settings=({"alpha": 0.75, "gamma": 2.0, "reduction": "mean"},),
        strategies={"gamma": gammas},
        sweep=lambda g: {"gamma": g},
    ),
    "sigmoid_softened_loss": dict(
        settings=(
            S(k=2.0, alpha=0.7, triton=True),
            S(k=0.0, triton=True),
        ),
        gradcheck=({"k": 2.5, "alpha": 0.6},),
        module_settings={"k": 3.0, "alpha": 0.5},
        api_settings=({"k": 2.0, "reduction": "sum", "weight": "random"},),
        strategies={"k": ks},
        sweep=lambda g: {"k": g},
    ),
    "sigmoid_hard_truncation_loss": dict(
        settings=(
            S(threshold=0.7, triton=True),
            S(threshold=0.5, alpha=0.25, triton=True),
            S(threshold=1.0, triton=True),
            S(threshold=0.0),
            S(threshold=0.0, alpha=0.6, triton=True),
        ),
        gradcheck=({"threshold": 0.7},),  # test_gradcheck keeps its logits off the step at +-logit(0.7)
        module_settings={"threshold": 0.8},
        api_settings=({"threshold": 0.7, "reduction": "mean"},),
        strategies={"threshold": thresholds},
        sweep=lambda g: {"threshold": min(g / 10.0, 1.0)},
    ),
    "softmax_focal_loss": dict(
        settings=(
            S(gamma=2.0, triton=True),
            S(gamma=0.5, alpha=0.25),
            S(gamma=3.0, alpha=PER_CLASS),
            S(gamma=0.0, label_smoothing=0.1, alpha=PER_CLASS, triton=True),
            S(gamma=1.5, label_smoothing=0.2),
            S(gamma=10.0),
        ),
        gradcheck=({"gamma": 2.0, "alpha": [0.5, 1.0, 2.0, 1.5]}, {"gamma": 0.5, "label_smoothing": 0.1}),
        module_settings={"gamma": 1.0, "label_smoothing": 0.1},
        api_settings=({"gamma": 2.0, "alpha": [0.5, 1.0, 2.0, 1.0, 0.3], "ignore_index": 1},
                      {"gamma": 0.5, "alpha": 0.25, "label_smoothing": 0.1, "reduction": "sum"}),
        strategies={"gamma": gammas},
        sweep=lambda g: {"gamma": g},
    ),
    "softmax_poly1_focal_loss": dict(
        settings=(
            S(gamma=2.0, epsilon=1.0, triton=True),
            S(gamma=0.5, epsilon=-1.0, alpha=PER_CLASS, triton=True),
            S(gamma=0.0, epsilon=2.0, label_smoothing=0.1, triton=True),
            S(gamma=3.0, epsilon=-1.0, label_smoothing=0.2, alpha=0.25),
        ),
        gradcheck=({"gamma": 2.0, "epsilon": 1.0, "alpha": [0.5, 1.0, 2.0, 1.5]},
                   {"gamma": 0.5, "epsilon": -1.0, "label_smoothing": 0.1}),
        module_settings={"gamma": 1.5, "epsilon": 0.5, "label_smoothing": 0.1},
        api_settings=({"gamma": 2.0, "epsilon": 1.0, "alpha": [0.5, 1.0, 2.0, 1.0, 0.3], "ignore_index": 1},
                      {"gamma": 0.5, "epsilon": -1.0, "label_smoothing": 0.1, "reduction": "sum"}),
        strategies={"gamma": gammas, "epsilon": st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1.0, 5.0))},
        sweep=lambda g: {"gamma": g, "epsilon": 1.0},
    ),
    "softmax_adaptive_focal_loss": dict(
        settings=(
            S(thresholds=(0.2,), gammas=(5.0, 3.0), triton=True),
            S(thresholds=(0.1, 0.45, 0.8), gammas=(4.0, 2.0, 0.5, 0.0), alpha=PER_CLASS, triton=True),
            S(thresholds=(0.3,), gammas=(2.0, 0.5), label_smoothing=0.1, triton=True),
            S(thresholds=(), gammas=(1.5,), label_smoothing=0.2),
        ),
        gradcheck=({"thresholds": (0.2,), "gammas": (5.0, 3.0), "alpha": [0.5, 1.0, 2.0, 1.5]},
                   {"thresholds": (0.3, 0.7), "gammas": (2.0, 0.5, 0.5), "label_smoothing": 0.1}),
        module_settings={"thresholds": (0.3,), "gammas": (4.0, 1.0), "ignore_index": 2},
        api_settings=({"thresholds": (0.2,), "gammas": (5.0, 3.0), "alpha": [0.5, 1.0, 2.0, 1.0, 0.3]},
                      {"thresholds": (0.3, 0.6), "gammas": (3.0, 2.0, 1.0), "label_smoothing": 0.1,
                       "reduction": "sum"}),
        strategies={"thresholds": schedule_cuts, "gammas": schedule_gammas},
        sweep=lambda g: {"thresholds": (0.3,), "gammas": (g, g / 2.0)},
    ),
    "softmax_softened_loss": dict(
        settings=(
            S(k=1.0, triton=True),
            S(k=3.0, alpha=PER_CLASS, label_smoothing=0.05),
            S(k=0.0),
        ),
        gradcheck=({"k": 1.5, "alpha": 0.7},),
        module_settings={"k": 2.0, "ignore_index": 2},
        api_settings=({"k": 1.5, "reduction": "none", "weight": "random"},),
        strategies={"k": ks},
        sweep=lambda g: {"k": 1.0 + g},
    ),
    "softmax_hard_truncation_loss": dict(
        settings=(
            S(threshold=0.5),
            S(threshold=0.3, alpha=PER_CLASS, label_smoothing=0.1, triton=True),
            S(threshold=1.0),
            S(threshold=0.0),
        ),
        gradcheck=({"threshold": 0.6, "label_smoothing": 0.2},),
        module_settings={"threshold": 0.3, "alpha": [1.0, 2.0, 0.5]},
        api_settings=({"threshold": 0.4, "label_smoothing": 0.05},),
        strategies={"threshold": thresholds},
        sweep=lambda g: {"threshold": min(0.25 + g / 4.0, 1.0)},
    ),
}


def _least_alpha_t(alpha):
    return 1.0 if alpha is None else min(alpha, 1.0 - alpha)


def _entry(spec):
    """The registry entry with its facts, which must name the registry's hyperparameters."""
    if spec.function not in _FACTS:
        raise KeyError(f"tests/loss_table.py has no test facts for the registry's {spec.function}: "
                       f"add an entry to _FACTS with each field of Loss")
    loss = Loss(spec, **_FACTS[spec.function])
    names = [h.name for h in spec.hyperparameters]
    options = {"alpha", "label_smoothing"}
    if list(loss.strategies) != names or any(
            not set(point) <= set(names) | options
            for point in [s.kwargs for s in loss.settings] + list(loss.gradcheck) + [loss.sweep(0.0)]):
        raise ValueError(f"tests/loss_table.py: the facts of {spec.function} must name its hyperparameters "
                         f"{names} (strategies: each, in order; settings: those and {sorted(options)})")
    return loss


LOSSES = tuple(_entry(spec) for spec in losses.LOSSES)
BINARY = tuple(loss for loss in LOSSES if loss.binary)
SOFTMAX = tuple(loss for loss in LOSSES if not loss.binary)
BY_NAME = {loss.name: loss for loss in LOSSES}


def setting_id(loss, kwargs):
    """``sigmoid_focal_loss-alpha=0.25-gamma=2.0``."""
    return "-".join([loss.name] + [f"{k}={v}" for k, v in kwargs.items()])


def resolve(kwargs, num_classes, rng):
    """kwargs with alpha=PER_CLASS replaced by a random weight per class."""
    kwargs = dict(kwargs)
    if kwargs.get("alpha") == PER_CLASS:
        kwargs["alpha"] = rng.uniform(0.1, 3.0, size=num_classes).tolist()
    return kwargs


def grid(entries, name="settings"):
    """``(loss, kwargs)`` for every point of the grid ``name`` of ``entries``, with readable ids."""
    import pytest

    return [pytest.param(loss, point.kwargs if isinstance(point, Setting) else point,
                         id=setting_id(loss, point.kwargs if isinstance(point, Setting) else point))
            for loss in entries for point in getattr(loss, name)]
