r"""The registry: every loss of the library declared once, and read by every layer.

A :class:`LossSpec` names a loss's family (``"binary"``: a sigmoid per element; ``"softmax"``: a
softmax over dimension 1), its kind, its public function and module, its hyperparameters with their
defaults and checks, its default ``alpha`` and (binary losses) how that alpha weighs the positive and the
negative terms, and how its hyperparameters are encoded for the fused kernels (a schedule of gamma, in up to :data:`MAX_PIECES` pieces, as its own numbers). The package's lazy
name table, the functional and module wrappers' parameter handling, the
backends' kind codes and kernel scalars all come from here; the C kernels' ``enum`` is held to
:data:`KIND_CODES` by a test, and the Triton kernels read it. Imports NumPy only.

Example:
    >>> from focalloss import losses
    >>> spec = losses.BINARY["focal"]
    >>> spec.function, spec.module, [h.name for h in spec.hyperparameters]
    ('sigmoid_focal_loss', 'SigmoidFocalLoss', ['gamma'])
    >>> spec.kernel_scalars({"gamma": 2.0}, float64=False)
    (2.0, 0.0, 2)
    >>> spec.side_alphas(0.25), spec.side_alphas(None)  # the weights of the positive and negative terms
    ((0.25, 0.75), (1.0, 1.0))
    >>> losses.BINARY["varifocal"].side_alphas(0.75)  # its alpha weighs the negatives only
    (1.0, 0.75)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _scalars

__all__ = ["BINARY", "COMPOSITIONS", "GAMMA_GENERAL", "GAMMA_TWO", "GAMMA_ZERO", "KIND_CODES", "LOSSES", "MAX_PIECES",
           "SOFTMAX", "Hyperparameter", "LossSpec", "round_down", "round_up"]

# One numbering of the kinds for every family and every kernel (C and Triton).
KIND_CODES = {"focal": 0, "softened": 1, "hard_truncation": 2, "focal_star": 3, "poly1_focal": 4, "adaptive_focal": 5,
              "asymmetric": 6, "quality_focal": 7, "varifocal": 8}

# How a binary loss composes its label sides: "symmetric", t alpha A(x) + (1 - t)(1 - alpha) A(-x) with one
# term A; "sided", t alpha A+(x) + (1 - t)(1 - alpha) A-(-x) with a term of its own per side (asymmetric loss);
# "joint", a loss of x and t together, not linear in t (quality focal loss, varifocal loss).
COMPOSITIONS = ("symmetric", "sided", "joint")

# The focal kernels' special cases of gamma: no modulation at all, a square, anything else.
GAMMA_GENERAL, GAMMA_ZERO, GAMMA_TWO = 0, 1, 2

# The most pieces a schedule of gamma may have: the kernels take MAX_PIECES - 1 cuts and MAX_PIECES gammas.
MAX_PIECES = 4


def round_down(value, *, float64):
    """The largest float32 (or float64) number <= value: then x <= result exactly when x <= value."""
    if float64:
        return value
    rounded = np.float32(value)
    if float(rounded) > value:  # compared as Python floats: NumPy 2 would compare in float32
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return float(rounded)


def round_up(value, *, float64):
    """The smallest float32 (or float64) number >= value: then x < result exactly when x < value."""
    return -round_down(-value, float64=float64)


@dataclass(frozen=True)
class Hyperparameter:
    """A keyword-only hyperparameter: its name, default, and the check its value must pass
    (``check(value, name)`` returns it as a float, or a tuple of floats for a schedule, or raises
    naming it)."""

    name: str
    default: float | tuple[float, ...]
    check: Callable[[object, str], float | tuple[float, ...]]


def _alpha_both_sides(alpha):
    """The focal-type losses' alpha: the positives' weight, the negatives get 1 - alpha."""
    return alpha, 1.0 - alpha


def _alpha_negatives_only(alpha):
    """The varifocal loss's alpha: the negatives' weight; the positives get 1 (their target weighs them)."""
    return 1.0, alpha


@dataclass(frozen=True)
class LossSpec:
    """One loss: see the module docstring. ``encode(params, float64)`` gives the kernels' scalars
    ``(p1, p2, gamma_mode)``; ``encode_schedule(params, float64)``, for a loss whose gamma is a
    schedule, its ``(cuts, gammas)``; ``relate(params)`` checks hyperparameters that must agree with
    each other, after each passed its own check. ``composition`` is one of :data:`COMPOSITIONS`;
    ``encode_p3(params, float64)``, the kernels' third scalar where a loss needs one (asymmetric loss:
    its margin's logit). ``split_alpha(alpha)`` gives a binary loss's ``(a_pos, a_neg)``, the weights of its
    positive and negative terms, for a float alpha (read through :meth:`side_alphas`)."""

    kind: str
    family: str
    function: str
    module: str
    hyperparameters: tuple[Hyperparameter, ...]
    alpha: float | None
    encode: Callable[[dict, bool], tuple[float, float, int]]
    encode_schedule: Callable[[dict, bool], tuple[tuple[float, ...], tuple[float, ...]]] | None = None
    relate: Callable[[dict], None] | None = None
    composition: str = "symmetric"
    encode_p3: Callable[[dict, bool], float] | None = None
    split_alpha: Callable[[float], tuple[float, float]] = _alpha_both_sides

    @property
    def code(self):
        """The kind's number in every kernel."""
        return KIND_CODES[self.kind]

    @property
    def defaults(self):
        """{hyperparameter name: default}."""
        return {h.name: h.default for h in self.hyperparameters}

    def params(self, values):
        """The hyperparameters, checked: ``{name: value}`` from a mapping holding each of them."""
        params = {h.name: h.check(values[h.name], h.name) for h in self.hyperparameters}
        if self.relate is not None:
            self.relate(params)
        return params

    def side_alphas(self, alpha):
        """``(a_pos, a_neg)``: the weights of a binary loss's positive and negative terms for ``alpha``
        (a float, or None: both 1). Every backend takes them from here."""
        return (1.0, 1.0) if alpha is None else self.split_alpha(alpha)

    def kernel_scalars(self, params, *, float64):
        """``(p1, p2, gamma_mode)`` as the kernels take them; a compared cut is rounded down into
        the compute dtype (float32, or float64 with ``float64=True``)."""
        return self.encode(params, float64)

    def kernel_p3(self, params, *, float64):
        """The kernels' third scalar: ``encode_p3``'s, or 0 for a loss that takes none."""
        return 0.0 if self.encode_p3 is None else self.encode_p3(params, float64)

    def kernel_schedule(self, params, *, float64):
        """``(cuts, gammas)``, ``MAX_PIECES - 1`` and ``MAX_PIECES`` numbers: piece i holds the
        values v (a logit, or a log-probability) with ``cuts[i - 1] <= v < cuts[i]`` and takes
        ``gammas[i]``. A loss without a schedule gets cuts of +inf (one piece) and gammas of 0."""
        if self.encode_schedule is None:
            return (math.inf,) * (MAX_PIECES - 1), (0.0,) * MAX_PIECES
        return self.encode_schedule(params, float64)


def _logit(p):
    """log(p / (1 - p)) for p in (0, 1), without forming 1 - p."""
    return math.log(p) - math.log1p(-p)


def _gamma_mode(gamma):
    return GAMMA_ZERO if gamma == 0 else GAMMA_TWO if gamma == 2 else GAMMA_GENERAL


def _encode_focal(params, float64):
    return params["gamma"], 0.0, _gamma_mode(params["gamma"])


def _encode_focal_star(params, float64):
    return params["gamma"], params["beta"], GAMMA_GENERAL


def _encode_softened(params, float64):
    return params["k"], 0.0, GAMMA_GENERAL


def _encode_poly1(params, float64):
    return params["gamma"], params["epsilon"], _gamma_mode(params["gamma"])


def _encode_asymmetric(params, float64):
    return params["gamma_pos"], params["gamma_neg"], GAMMA_GENERAL


def _encode_quality_focal(params, float64):
    return params["beta"], 0.0, GAMMA_GENERAL


def _encode_clip_logit(params, float64):
    """The asymmetric loss's negatives count where x > logit(clip), rounded down into the compute dtype:
    x > cut exactly when p > clip, so p = clip is clipped; -inf at clip = 0. The kernels take the margin as
    sigma(cut), which differs from clip by the rounding of its logit (a few units in the last place)."""
    clip = params["clip"]
    return round_down(_logit(clip), float64=float64) if clip > 0 else -math.inf


def _encode_logit_cut(params, float64):
    """Binary hard truncation compares the logit with logit(threshold): +-inf at 1 and 0."""
    threshold = params["threshold"]
    if threshold in (0.0, 1.0):
        return (math.inf if threshold else -math.inf), 0.0, GAMMA_GENERAL
    return round_down(_logit(threshold), float64=float64), 0.0, GAMMA_GENERAL


def _encode_log_cut(params, float64):
    """Softmax hard truncation compares log p with log(threshold): -inf at 0."""
    threshold = params["threshold"]
    cut = round_down(math.log(threshold), float64=float64) if threshold > 0 else -math.inf
    return cut, 0.0, GAMMA_GENERAL


def _encode_adaptive(params, float64):
    """The adaptive focal loss's gamma is its schedule (kernel_schedule): no scalars."""
    return 0.0, 0.0, GAMMA_GENERAL


def _padded(cuts, gammas):
    """cuts padded with +inf, which no value reaches; gammas padded with the last one."""
    return (tuple(cuts) + (math.inf,) * (MAX_PIECES - 1 - len(cuts)),
            gammas + (gammas[-1],) * (MAX_PIECES - len(gammas)))


def _encode_logit_schedule(params, float64):
    """The binary schedule compares the logit x_t with logit(threshold), rounded up into the compute
    dtype: x_t < cut exactly when p_t < threshold, so p_t at a threshold takes the upper piece."""
    cuts = [round_up(_logit(t), float64=float64) for t in params["thresholds"]]
    return _padded(cuts, params["gammas"])


def _encode_log_schedule(params, float64):
    """The softmax schedule compares log p_c, itself rounded, with log(threshold) rounded to nearest in
    the compute dtype: a log p_c that rounds to the threshold's takes the upper piece."""
    return _padded([math.log(t) for t in params["thresholds"]], params["gammas"])


def _schedule_cuts(value, name):
    return _scalars.increasing_unit_cuts(value, name, most=MAX_PIECES - 1)


def _schedule_gammas(value, name):
    return _scalars.nonincreasing_exponents(value, name, most=MAX_PIECES)


def _one_gamma_per_piece(params):
    thresholds, gammas = params["thresholds"], params["gammas"]
    if len(gammas) != len(thresholds) + 1:
        raise ValueError(f"gammas must hold len(thresholds) + 1 = {len(thresholds) + 1} values, one per piece "
                         f"of the schedule; got {len(gammas)}: {gammas!r}")


GAMMA = Hyperparameter("gamma", 2.0, _scalars.nonnegative)
EPSILON = Hyperparameter("epsilon", 1.0, _scalars.at_least_minus_one)
# FLSD-53 (Mukhoti et al. 2020): gamma = 5 where p_t < 0.2, else 3
SCHEDULE = (Hyperparameter("thresholds", (0.2,), _schedule_cuts),
            Hyperparameter("gammas", (5.0, 3.0), _schedule_gammas))
K = Hyperparameter("k", 1.0, _scalars.nonnegative)
THRESHOLD = Hyperparameter("threshold", 0.5, _scalars.unit_interval)

LOSSES = (
    LossSpec("focal", "binary", "sigmoid_focal_loss", "SigmoidFocalLoss", (GAMMA,), 0.25, _encode_focal),
    LossSpec("focal_star", "binary", "sigmoid_focal_loss_star", "SigmoidFocalLossStar",
             (Hyperparameter("gamma", 1.0, _scalars.positive), Hyperparameter("beta", 0.0, _scalars.finite)),
             None, _encode_focal_star),
    LossSpec("softened", "binary", "sigmoid_softened_loss", "SigmoidSoftenedLoss", (K,), None, _encode_softened),
    LossSpec("poly1_focal", "binary", "sigmoid_poly1_focal_loss", "SigmoidPoly1FocalLoss",
             (GAMMA, EPSILON), 0.25, _encode_poly1),
    LossSpec("adaptive_focal", "binary", "sigmoid_adaptive_focal_loss", "SigmoidAdaptiveFocalLoss", SCHEDULE, None,
             _encode_adaptive, _encode_logit_schedule, _one_gamma_per_piece),
    # Ridnik et al. 2021, "Asymmetric Loss For Multi-Label Classification": gamma_neg = 4, gamma_pos = 1, m = 0.05
    LossSpec("asymmetric", "binary", "sigmoid_asymmetric_loss", "SigmoidAsymmetricLoss",
             (Hyperparameter("gamma_pos", 1.0, _scalars.nonnegative),
              Hyperparameter("gamma_neg", 4.0, _scalars.nonnegative),
              Hyperparameter("clip", 0.05, _scalars.unit_interval_open_above)),
             None, _encode_asymmetric, composition="sided", encode_p3=_encode_clip_logit),
    # Li et al. 2020, "Generalized Focal Loss": beta = 2
    LossSpec("quality_focal", "binary", "sigmoid_quality_focal_loss", "SigmoidQualityFocalLoss",
             (Hyperparameter("beta", 2.0, _scalars.nonnegative),), None, _encode_quality_focal, composition="joint"),
    # Zhang, Wang, Dayoub, Sünderhauf 2021, "VarifocalNet": alpha = 0.75 on the negatives, gamma = 2
    LossSpec("varifocal", "binary", "sigmoid_varifocal_loss", "SigmoidVarifocalLoss", (GAMMA,), 0.75, _encode_focal,
             composition="joint", split_alpha=_alpha_negatives_only),
    LossSpec("hard_truncation", "binary", "sigmoid_hard_truncation_loss", "SigmoidHardTruncationLoss", (THRESHOLD,),
             None, _encode_logit_cut),
    LossSpec("focal", "softmax", "softmax_focal_loss", "SoftmaxFocalLoss", (GAMMA,), None, _encode_focal),
    LossSpec("poly1_focal", "softmax", "softmax_poly1_focal_loss", "SoftmaxPoly1FocalLoss", (GAMMA, EPSILON), None,
             _encode_poly1),
    LossSpec("adaptive_focal", "softmax", "softmax_adaptive_focal_loss", "SoftmaxAdaptiveFocalLoss", SCHEDULE, None,
             _encode_adaptive, _encode_log_schedule, _one_gamma_per_piece),
    LossSpec("softened", "softmax", "softmax_softened_loss", "SoftmaxSoftenedLoss", (K,), None, _encode_softened),
    LossSpec("hard_truncation", "softmax", "softmax_hard_truncation_loss", "SoftmaxHardTruncationLoss", (THRESHOLD,),
             None, _encode_log_cut),
)
BINARY = {spec.kind: spec for spec in LOSSES if spec.family == "binary"}
SOFTMAX = {spec.kind: spec for spec in LOSSES if spec.family == "softmax"}
