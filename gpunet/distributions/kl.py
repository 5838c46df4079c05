"""kl_divergence(p, q) = KL(p || q), by a function registered for the pair of types (register_kl).

Lookup, as in PyTorch: among the registered pairs (P, Q) with p an instance of P and q of Q, the most
specific one (nearest in p's, then q's method resolution order) wins; a tie the other way round warns.
"""
import math
import warnings

from gpunet.distributions.bernoulli import Bernoulli
from gpunet.distributions.categorical import Categorical
from gpunet.distributions.distribution import Distribution
from gpunet.distributions.multivariate_normal import MultivariateNormal, mahalanobis
from gpunet.distributions.normal import Normal
from gpunet.distributions.uniform import Uniform
from gpunet.nn.functional import softplus
from gpunet.ops.creation import full_like
from gpunet.ops.indexing import where
from gpunet.ops.linalg import solve_triangular

_REGISTRY = {}  # (type_p, type_q) -> fn
_CACHE = {}  # (type(p), type(q)) -> fn found for them


def register_kl(type_p, type_q):
    """Decorator: @register_kl(Normal, Normal) def kl(p, q): ... makes kl_divergence use it for that pair."""
    for name, t in (("type_p", type_p), ("type_q", type_q)):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"Expected {name} to be a Distribution subclass but got {t}")

    def decorator(fn):
        _REGISTRY[type_p, type_q] = fn
        _CACHE.clear()
        return fn

    return decorator


def _dispatch(type_p, type_q):
    matches = [(p, q) for p, q in _REGISTRY if issubclass(type_p, p) and issubclass(type_q, q)]
    if not matches:
        return None
    p_first = min(matches, key=lambda m: (type_p.__mro__.index(m[0]), type_q.__mro__.index(m[1])))
    q_first = min(matches, key=lambda m: (type_q.__mro__.index(m[1]), type_p.__mro__.index(m[0])))
    if p_first != q_first:
        warnings.warn(f"Ambiguous kl_divergence({type_p.__name__}, {type_q.__name__}). Please register_kl("
                      f"{q_first[0].__name__}, {p_first[1].__name__})", RuntimeWarning, stacklevel=3)
    return _REGISTRY[p_first]


def kl_divergence(p, q):
    """KL(p || q) over the batch: one value per batch element of the broadcast batch shapes."""
    key = (type(p), type(q))
    if key not in _CACHE:
        _CACHE[key] = _dispatch(*key)
    fn = _CACHE[key]
    if fn is None:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
                                  f"{type(q).__name__}")
    return fn(p, q)


def _inf_where(condition, value):
    return where(condition, math.inf, value)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    # p log(p/q) + (1-p) log((1-p)/(1-q)) from the logits; a term whose p is 0 is 0, one whose q is 0 is inf
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = where(p.probs == 0, 0.0, _inf_where(q.probs == 0, t1))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = where(p.probs == 1, 0.0, _inf_where(q.probs == 1, t2))
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = where(p.probs == 0, 0.0, _inf_where(q.probs == 0, t))
    return t.sum(-1)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    # log of the ratio of the widths; inf unless p's support lies inside q's
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(Normal, Uniform)
def _kl_normal_uniform(p, q):
    # a Normal puts mass outside every bounded interval
    return full_like(p.loc, math.inf)


@register_kl(Uniform, Normal)
def _kl_uniform_normal(p, q):
    width = p.high - p.low
    t1 = (math.sqrt(2 * math.pi) * q.scale / width).log()
    t2 = width.pow(2) / 12
    t3 = ((p.high + p.low - 2 * q.loc) / 2).pow(2)
    return t1 + 0.5 * (t2 + t3) / q.scale.pow(2)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event shapes cannot "
                         f"be computed ({tuple(p.event_shape)} and {tuple(q.event_shape)})")
    n = p.event_shape[0]
    Lp, Lq = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    half_log_det = q._half_log_det() - p._half_log_det()
    trace = solve_triangular(Lq, Lp, upper=False).pow(2).sum((-2, -1))  # tr(Sq^-1 Sp) = |Lq^-1 Lp|_F^2
    m = mahalanobis(Lq, q.loc - p.loc)
    return half_log_det + 0.5 * (trace + m - n)
