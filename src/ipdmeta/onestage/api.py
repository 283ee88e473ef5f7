"""``onestage()``: a one-stage IPD meta-analysis — one mixed model for all trials.

Linear models by REML (default) or ML, logistic and Poisson models by maximum
likelihood (adaptive Gauss-Hermite quadrature or Laplace), Cox models by penalised
partial likelihood with a Laplace approximation (as coxme).  Each trial has its own
intercept (``intercepts="stratified"``, a fixed factor; Cox: its own baseline hazard)
or random intercepts correlated with the random treatment effect
(``intercepts="random"``); the treatment effect is random across trials.  See
docs/one-stage.md for the models and how they relate to the two-stage approach.

Example:
    >>> import ipdmeta as ipd
    >>> from ipdmeta.onestage import onestage
    >>> wg = ipd.datasets.load("weight_gain")
    >>> res = onestage(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
    ...                model="linear")
    >>> res.measure, res.k, round(res.estimate, 3), res.df_method
    ('MD', 33, -1.27, 'satterthwaite')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import SpecificationError
from ipdmeta.onestage import cox, ddf, glmm, linear
from ipdmeta.onestage._blocks import lower_root
from ipdmeta.onestage._optim import numerical_hessian, profile_interval
from ipdmeta.onestage.design import Design, build_design
from ipdmeta.onestage.results import Convergence, OneStageResult
from ipdmeta.pooling.options import normalise_level

#: a random-effect sd (relative to the residual sd for linear models) below this is zero,
#: lme4's ``isSingular`` tolerance
SINGULAR_TOL = 1e-4
DF_METHODS = {"satterthwaite": "satterthwaite", "kenward-roger": "kenward-roger",
              "kr": "kenward-roger", "kenward_roger": "kenward-roger", "z": "z",
              "wald": "z", "normal": "z"}
#: default quadrature points with one random effect (Stata's melogit/mepoisson default)
DEFAULT_NAGQ = 7
#: a log-scale estimate beyond RUNAWAY_EST without an se below RUNAWAY_SE has run away
RUNAWAY_EST = 10.0
RUNAWAY_SE = 10.0


# ----------------------------------------------------------------- tables
def coef_table(names: Sequence[str], est: np.ndarray, se: np.ndarray, df: np.ndarray | None,
               level: float) -> pd.DataFrame:
    """term, estimate, se, df, statistic, ci_low, ci_high, pvalue (t with ``df``, else z)."""
    df_ = np.full(len(names), np.inf) if df is None else np.asarray(df, dtype=float)
    stat = est / se
    crit = np.where(np.isfinite(df_), stats.t.ppf(0.5 + level / 2, np.where(
        np.isfinite(df_), df_, 1)), stats.norm.ppf(0.5 + level / 2))
    p = np.where(np.isfinite(df_), 2 * stats.t.sf(np.abs(stat), np.where(np.isfinite(df_),
                                                                          df_, 1)),
                 2 * stats.norm.sf(np.abs(stat)))
    return pd.DataFrame({"term": list(names), "estimate": est, "se": se, "df": df_,
                         "statistic": stat, "ci_low": est - crit * se,
                         "ci_high": est + crit * se, "pvalue": p})


def random_table(G: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Variances and sds of the random effects, with their correlation (2 effects)."""
    v = np.diag(G)
    out = pd.DataFrame({"term": list(names), "variance": v, "sd": np.sqrt(v),
                        "corr": np.nan})
    if G.shape[0] == 2:
        den = np.sqrt(v[0] * v[1])
        out.loc[1, "corr"] = G[0, 1] / den if den > 0 else np.nan
    return out


def blup_table(design: Design, b: np.ndarray, V: np.ndarray, fixed: dict[str, float],
               level: float) -> pd.DataFrame:
    """Per trial and random effect: BLUP, conditional se, fixed + BLUP and its interval."""
    crit = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for j, term in enumerate(design.z_names):
        se = np.sqrt(np.maximum(V[:, j, j], 0.0))
        eff = fixed.get(term, 0.0) + b[:, j]
        rows.append(pd.DataFrame({"study": list(design.labels), "term": term, "blup": b[:, j],
                                  "se": se, "effect": eff, "ci_low": eff - crit * se,
                                  "ci_high": eff + crit * se}))
    return pd.concat(rows, ignore_index=True)


def study_table(design: Design, est: np.ndarray, cov: np.ndarray) -> pd.DataFrame:
    """The trial-specific fixed effects (K, a) with standard errors (left-out ones NaN)."""
    a = len(design.local_names)
    if a == 0:
        return pd.DataFrame(columns=["study", "term", "estimate", "se"])
    se = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2)[:, :a], 0.0))
    ok = design.local_ok
    return pd.DataFrame({"study": np.repeat(list(design.labels), a),
                         "term": np.tile(design.local_names, design.K),
                         "estimate": np.where(ok, est, np.nan).ravel(),
                         "se": np.where(ok, se, np.nan).ravel()})


def _status(tau_rel: float, other_rel: float | None, converged: bool, hessian_ok: bool,
            random: str, message: str) -> tuple[str, str]:
    reasons = []
    status = "ok"
    if tau_rel < SINGULAR_TOL:
        status = "boundary"
        reasons.append(f"the variance of the random '{random}' effect is estimated at 0 "
                       "(on the boundary): the trials' treatment effects look homogeneous and "
                       "the model reduces to a common treatment effect")
    if other_rel is not None and other_rel < SINGULAR_TOL:
        status = "singular"
        reasons.append("the random-effects covariance is singular (a correlation of ±1 "
                       "between the random intercepts and treatment effects, or no "
                       "intercept variance): consider intercepts='stratified'")
    if not hessian_ok and status == "ok":
        status = "singular"
        reasons.append("minus the Hessian is not positive definite at the estimates, so "
                       "standard errors are unreliable")
    if not converged:
        status = "not_converged"
        reasons.insert(0, f"the optimiser did not converge ({message or 'stopped early'}); "
                          "the estimates are shown but should not be used")
    return status, "; ".join(reasons)


def _runaway(out: dict[str, Any], model: str) -> None:
    """A log-scale estimate beyond 10 with a huge or missing se has no finite maximum
    (separation / monotone likelihood): say so instead of the optimiser's symptoms."""
    c = out["coef"]
    bad = c[(c["estimate"].abs() > RUNAWAY_EST) & ~(c["se"] < RUNAWAY_SE)]
    if model == "linear" or bad.empty:
        return
    terms = ", ".join(f"'{t}'" for t in bad["term"])
    out["status"] = "not_converged"
    out["reason"] = (f"the estimate of {terms} runs away ({bad['estimate'].iloc[0]:.3g} on the "
                     "log scale): the likelihood has no finite maximum (separation or "
                     "monotone likelihood, e.g. no events in one arm of every trial); the "
                     "estimates are not usable")


# ----------------------------------------------------------------- families
def _linear(design: Design, method: str, by_study: bool, df_method: str, level: float,
            want_ci: bool) -> dict[str, Any]:
    reml = method == "REML"
    cp = linear.cross_products(design)
    fit = linear.fit(cp, reml, by_study)
    st = fit.state
    cov = st.arrow.inv_WW
    se = np.sqrt(np.diag(cov))
    df = None
    if df_method == "satterthwaite":
        df = ddf.satterthwaite(cp, fit)
    elif df_method == "kenward-roger":
        se, df = ddf.kenward_roger(cp, fit)
    coef = coef_table(design.global_names, st.beta_w, se, df, level)
    r = cp.r
    tril = np.tril_indices(r)
    Lam = linear.to_lower(lower_root(fit.G)[tril], r)
    nl = r * (r + 1) // 2
    x_abs = np.r_[Lam[tril], np.log(fit.s2 if by_study else fit.s2[:1])]
    tau = float(np.sqrt(fit.G[0, 0]))
    tau_ci = (np.nan, np.nan)
    H = numerical_hessian(lambda x: linear.absolute_fun(cp, reml, by_study)(x)[1], x_abs)
    sig = np.sqrt(np.mean(fit.s2))
    inner = -H[1:, 1:] if tau / sig < SINGULAR_TOL else -H   # the boundary: tau's row is flat
    hess_ok = bool(np.all(np.linalg.eigvalsh(inner) > 0))
    if want_ci:
        free = np.ones(x_abs.size, dtype=bool)
        free[0] = False

        def prof(t: float) -> float:
            x0 = x_abs.copy()
            x0[0] = t
            use = free
            if t == 0 and r == 2:   # the covariance t * lambda_21 vanishes: fold it in
                x0[2], x0[1] = np.hypot(x0[1], x0[2]), 0.0
                use = free.copy()
                use[1] = False
            return linear.fit_absolute(cp, reml, by_study, x0, free=use, hessian=H).loglik
        tau_ci = profile_interval(prof, tau, fit.loglik, level, scale=max(tau, 0.1 * np.sqrt(
            np.mean(fit.s2))))
    b, V = linear.blups(cp, fit)
    fixed = dict(zip(design.global_names, st.beta_w, strict=True))
    other = None if r == 1 else float(lower_root(fit.G / fit.s2.mean())[1, 1])
    status, reason = _status(tau / sig, other, fit.converged, hess_ok, design.random,
                             fit.optimum.message)
    return dict(coef=coef, G=fit.G, tau2_ci=tuple(t * t for t in tau_ci), loglik=fit.loglik,
                n_params=design.n_fixed + nl + (design.K if by_study else 1),
                sigma2=None if by_study else float(fit.s2[0]),
                sigma2_study=(pd.DataFrame({"study": list(design.labels), "sigma2": fit.s2})
                              if by_study else None),
                blups=blup_table(design, b, V, fixed, level),
                study_coef=study_table(design, st.beta_l, st.arrow.inv_LL),
                convergence=Convergence(fit.converged, fit.optimum.iterations,
                                        float(np.max(np.abs(fit.optimum.grad))), hess_ok,
                                        fit.optimum.message),
                status=status, reason=reason,
                estimation=("REML" if reml else "ML") + (", residual variance by trial"
                                                          if by_study else ""))


def _glmm(design: Design, nagq: int, level: float, want_ci: bool) -> dict[str, Any]:
    fit = glmm.fit_glmm(design, nagq)
    prob = fit.problem
    g = design.W.shape[1]
    se = np.sqrt(np.diag(fit.cov)[:g])
    coef = coef_table(design.global_names, fit.beta_w, se, None, level)
    tau = float(fit.Lam[0, 0])
    tau_ci = (np.nan, np.nan)
    if want_ci:
        solved: dict[float, np.ndarray] = {}
        tau_ci = profile_interval(lambda t: glmm.profile_loglik(prob, fit, t, solved), tau,
                                  fit.loglik, level, scale=max(tau, 0.05))
    b, V = glmm.blups(fit)
    fixed = dict(zip(design.global_names, fit.beta_w, strict=True))
    other = None if design.Z.shape[1] == 1 else float(fit.Lam[1, 1])
    status, reason = _status(tau, other, fit.converged, fit.hessian_ok, design.random,
                             fit.optimum.message)
    quad = ("Laplace approximation" if nagq == 1 else
            f"adaptive Gauss-Hermite quadrature, {nagq} points")
    return dict(coef=coef, G=fit.G, tau2_ci=tuple(t * t for t in tau_ci), loglik=fit.loglik,
                n_params=design.n_fixed + prob.nl,
                blups=blup_table(design, b, V, fixed, level),
                study_coef=study_table(design, fit.beta_l, fit.cov_local),
                convergence=Convergence(fit.converged, fit.optimum.iterations,
                                        float(np.max(np.abs(fit.optimum.grad))),
                                        fit.hessian_ok, fit.optimum.message),
                status=status, reason=reason, estimation=f"ML, {quad}")


def _cox(design: Design, ties: str, level: float, want_ci: bool) -> dict[str, Any]:
    fit = cox.fit_cox(design, ties)
    se = np.sqrt(np.diag(fit.cov))
    coef = coef_table(design.global_names, fit.beta_w, se, None, level)
    tau = float(np.sqrt(fit.tau2))
    tau_ci = (np.nan, np.nan)
    if want_ci:
        tau_ci = profile_interval(fit.profile, tau, fit.loglik, level, scale=max(tau, 0.05))
    a = design.L.shape[1]
    V = fit.cov_local[:, a:, a:]
    fixed = dict(zip(design.global_names, fit.beta_w, strict=True))
    hess_ok = bool(np.all(np.isfinite(fit.cov)))
    status, reason = _status(tau, None, fit.converged, hess_ok, design.random,
                             fit.optimum.message)
    return dict(coef=coef, G=np.array([[fit.tau2]]), tau2_ci=tuple(t * t for t in tau_ci),
                loglik=fit.loglik, n_params=design.n_fixed + 1,
                blups=blup_table(design, fit.b[:, None], V, fixed, level),
                study_coef=study_table(design, fit.beta_l, fit.cov_local),
                convergence=Convergence(fit.converged, fit.optimum.iterations,
                                        float(np.max(np.abs(fit.optimum.grad))), hess_ok,
                                        fit.optimum.message),
                status=status, reason=reason,
                estimation=f"penalised partial likelihood, Laplace; {ties} ties",
                extra={"loglik_penalised_fit": fit.loglik_ppl, "loglik_null": fit.loglik_null})


# ----------------------------------------------------------------- options
def _method(method: str | None, model: str) -> tuple[str, list[str]]:
    if method is None:
        return ("REML" if model == "linear" else "ML"), []
    name = str(method).strip().upper()
    if name not in ("REML", "ML"):
        raise SpecificationError(f"method={method!r} is not known; use 'REML' or 'ML'")
    if model != "linear" and name == "REML":
        return "ML", [f"method='REML' applies to linear models; the {model} model is fitted "
                      "by maximum likelihood (as lme4's glmer, Stata's me* commands, coxme)"]
    return name, []


def _nagq(nagq: int | None, model: str, intercepts: str) -> int | None:
    if model not in ("logistic", "poisson"):
        if nagq not in (None, 1):
            raise SpecificationError(f"nagq= is for logistic and Poisson models (the {model} "
                                     "model needs no quadrature)")
        return None
    if nagq is None:
        return DEFAULT_NAGQ if intercepts == "stratified" else 1
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 1:
        raise SpecificationError(f"nagq= takes a number of quadrature points >= 1 (1 = "
                                 f"Laplace); got {nagq!r}")
    if nagq > 1 and intercepts == "random":
        raise SpecificationError("with intercepts='random' there are two random effects per "
                                 "trial; adaptive quadrature is available for one (as lme4), "
                                 "so use nagq=1 (Laplace) or intercepts='stratified'")
    return int(nagq)


def _df_method(df: str | None, model: str, method: str, by_study: bool) -> str:
    if df is None:
        return "satterthwaite" if model == "linear" else "z"
    name = DF_METHODS.get(str(df).strip().lower().replace(" ", "-"))
    if name is None:
        raise SpecificationError(f"df={df!r} is not known; use 'satterthwaite', "
                                 "'kenward-roger' or 'z'")
    if model != "linear" and name != "z":
        raise SpecificationError(f"df={df!r} is for linear models; the {model} model uses "
                                 "Wald z tests")
    if name == "kenward-roger" and (method != "REML" or by_study):
        raise SpecificationError("df='kenward-roger' needs method='REML' and one residual "
                                 "variance (as pbkrtest); use df='satterthwaite'")
    return name


def _residual(residual_variance: str, model: str) -> bool:
    name = str(residual_variance).strip().lower()
    if name in ("common", "pooled", "one"):
        return False
    if name in ("by_study", "by-study", "study", "trial", "by_trial", "stratified"):
        if model != "linear":
            raise SpecificationError("residual_variance='by_study' is for linear models")
        return True
    raise SpecificationError(f"residual_variance={residual_variance!r} is not known; use "
                             "'common' or 'by_study'")


def onestage(data: Any, study: str, formula: str, model: str | None = None, *,
             random: str | None = None, intercepts: str = "stratified",
             method: str | None = None, nagq: int | None = None,
             covariates_by_study: bool = False,
             interaction: str | Sequence[str] | None = None,
             residual_variance: str = "common", df: str | None = None,
             ties: str = "efron", exposure: str | None = None, offset: str | None = None,
             level: float = 0.95, tau2_ci: bool = True) -> OneStageResult:
    """One-stage IPD meta-analysis: one mixed model with a random treatment effect.

    Args:
        data: participant data, one row per participant.
        study: the trial column.
        formula: ``"y ~ treat + age"`` or ``"Surv(time, event) ~ treat + age"``.
        model: "linear", "logistic", "poisson" or "cox" (inferred from ``Surv()``).
        random: the term with a random effect by trial (default: the first term, the
            treatment); its fixed effect is the pooled treatment effect.
        intercepts: "stratified" (a fixed intercept per trial — recommended; Cox: a
            baseline hazard per trial) or "random" (random intercepts correlated with the
            random treatment effect, around a common intercept).
        method: "REML" (default for linear) or "ML"; logistic, Poisson and Cox models are
            fitted by maximum likelihood.
        nagq: quadrature points for logistic/Poisson models: 1 is the Laplace
            approximation (lme4's default), more is adaptive Gauss-Hermite quadrature.
            Default 7 with one random effect (Stata's melogit default), 1 with random
            intercepts (two random effects; lme4 allows no more).
        covariates_by_study: True gives every covariate other than the treatment (and
            the interaction) a trial-specific effect (stratified prognostic factors, as
            recommended by Riley et al. 2020); False a common effect.
        interaction: ``("treat", "age")``: adds treat × (age − the trial's mean age), the
            within-trial interaction; it is the pooled term then.
        residual_variance: linear models: "common" or "by_study" (one residual variance per
            trial).
        df: linear models: "satterthwaite" (default, as lmerTest), "kenward-roger" (REML,
            as pbkrtest) or "z" (Wald).
        ties: Cox ties, "efron" (default) or "breslow".
        exposure, offset: Poisson exposure column (log taken) or offset column.
        level: confidence level.
        tau2_ci: compute the profile-likelihood interval of tau² (several refits).

    Returns:
        :class:`~ipdmeta.onestage.results.OneStageResult`; problems that still allow a
        result (tau² on the boundary, a singular fit, non-convergence) are its ``status``
        and ``reason``; bad input raises :class:`~ipdmeta.errors.InputError` or
        :class:`~ipdmeta.errors.SpecificationError` naming the column or option.
    """
    level = normalise_level(level)
    design = build_design(data, study=study, formula=formula, model=model, random=random,
                          intercepts=intercepts, covariates_by_study=covariates_by_study,
                          interaction=interaction, exposure=exposure, offset=offset)
    model = design.model
    method, notes = _method(method, model)
    by_study = _residual(residual_variance, model)
    df_method = _df_method(df, model, method, by_study)
    quad = _nagq(nagq, model, design.intercepts)
    if model == "cox":
        ties = str(ties).strip().lower()
        if ties not in ("efron", "breslow"):
            raise SpecificationError(f"ties={ties!r} is not known; use 'efron' or 'breslow'")
    if model == "linear":
        out = _linear(design, method, by_study, df_method, level, tau2_ci)
    elif model == "cox":
        out = _cox(design, ties, level, tau2_ci)
    else:
        assert quad is not None     # _nagq gives a number for logistic and Poisson models
        out = _glmm(design, quad, level, tau2_ci)
    _runaway(out, model)
    G = out.pop("G")
    if out["status"] == "boundary":      # report the boundary as exactly 0, as lme4 does
        G = G.copy()
        G[0, :] = G[:, 0] = 0.0
    return OneStageResult(model=model, formula=design.formula, study_var=study,
                          random=design.random, poolvar=design.poolvar,
                          intercepts=design.intercepts, method=method,
                          tau2=float(G[0, 0]), random_effects=random_table(G, design.z_names),
                          n=design.n, k=design.K, events=design.events,
                          n_dropped_rows=design.n_dropped_rows, dropped=design.dropped,
                          notes=(*design.notes, *notes), df_method=df_method, level=level,
                          ties=ties if model == "cox" else None, nagq=quad, **out)
