# Reference values for ipdmeta's bias and sensitivity methods (fail-safe N, selection
# models, the test of excess significance, Harbord's and Peters' tests) and for the data
# behind its diagnostic plots (radial/Galbraith, normal Q-Q, L'Abbe, GOSH), computed with
# R's metafor.
#
# Run from the repository root:
#     Rscript tests/reference/stage2_bias.R
# It writes tests/reference/stage2_bias.json, which tests/test_bias_methods.py and
# tests/test_diagnostic_plots.py read; the input data are stored in the JSON.  Takes a few
# minutes (GOSH refits the model to all 8191 subsets of 13 studies, several times).
#
# Requires: metafor (written with 3.8.1), metadat, jsonlite.  Numbers are written with 15
# significant digits (jsonlite, digits = NA); NA is written as null.
#
# Tight numerics on the R side:
#   * rma(): threshold = 1e-12;
#   * selmodel(): optim BFGS with reltol = 1e-15 and gradient steps ndeps = 1e-6 (metafor's
#     defaults, reltol 1e-8 and ndeps 1e-3, stop about 1e-6 away from the maximum), and
#     integrate(rel.tol = 1e-12) for the continuous selection functions;
#   * tes(): integrate(rel.tol = 1e-12); theta.lim is recomputed with uniroot(tol = 1e-13)
#     on metafor's own .tes.lim (tes() itself uses uniroot's default tolerance, 1.2e-4).
# Harbord's test is not in metafor: it is computed here from its definition (Harbord,
# Egger & Sterne 2006; Stata's metabias, harbord) with lm(); Peters' test likewise (Peters
# et al. 2006: lm of the log OR on 1/n with weights 1/(1/(a+c) + 1/(b+d))), and also as
# metafor's regtest(model = "lm", predictor = "ninv").

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
tests <- c(z = "z", t = "t", hksj = "knha", `hksj-trunc` = "adhoc")

# ---------------------------------------------------------------- data sets
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
mag <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
hs <- dat.hackshaw1998
bd <- dat.bangertdrowns2004
rau <- dat.raudenbush1985
data_sets <- list(
  bcg = data.frame(study = paste(bcg$author, bcg$year), yi = as.numeric(bcg$yi),
                   vi = as.numeric(bcg$vi), ablat = bcg$ablat, d1 = bcg$tpos,
                   n1 = bcg$tpos + bcg$tneg, d0 = bcg$cpos, n0 = bcg$cpos + bcg$cneg),
  magnesium = data.frame(study = paste(mag$study, mag$year), yi = as.numeric(mag$yi),
                         vi = as.numeric(mag$vi), d1 = mag$ai, n1 = mag$n1i, d0 = mag$ci,
                         n0 = mag$n2i),
  hackshaw1998 = data.frame(study = paste0(hs$study, ": ", hs$author, " ", hs$year),
                            yi = hs$yi, vi = hs$vi),
  bangertdrowns2004 = data.frame(study = paste0(bd$id, ": ", bd$author, " ", bd$year),
                                 yi = as.numeric(bd$yi), vi = as.numeric(bd$vi), ni = bd$ni),
  raudenbush1985 = data.frame(study = paste0(rau$study, ": ", rau$author, " ", rau$year),
                              yi = rau$yi, vi = rau$vi)
)

fit <- function(dn, method = "REML", ci = "z", mods = NULL, measure = "GEN") {
  d <- data_sets[[dn]]
  args <- list(yi = d$yi, vi = d$vi, method = method, test = tests[[ci]], control = ctrl,
               slab = d$study, measure = measure)
  if (!is.null(mods)) {
    args$mods <- mods
    args$data <- d
  }
  if (!is.null(d$n1)) args$ni <- d$n1 + d$n0
  suppressWarnings(do.call(rma.uni, args))
}

# ---------------------------------------------------------------- fail-safe N
fsn_record <- function(dn, type, target = NULL, weighted = FALSE, alpha = 0.05) {
  d <- data_sets[[dn]]
  args <- list(yi = d$yi, vi = d$vi, type = type, alpha = alpha, weighted = weighted)
  if (!is.null(target)) args$target <- target
  f <- do.call(fsn, args)
  list(data = dn, type = type, target_given = target, weighted = weighted, alpha = alpha,
       fsn = f$fsnum, pvalue = f$pval, mean_effect = f$meanes, target = f$target)
}
fsns <- list()
for (dn in c("bcg", "hackshaw1998", "raudenbush1985", "magnesium", "bangertdrowns2004")) {
  fsns[[length(fsns) + 1]] <- fsn_record(dn, "Rosenthal")
  fsns[[length(fsns) + 1]] <- fsn_record(dn, "Orwin")
  fsns[[length(fsns) + 1]] <- fsn_record(dn, "Orwin", weighted = TRUE)
  fsns[[length(fsns) + 1]] <- fsn_record(dn, "Rosenberg")
}
fsns <- c(fsns, list(fsn_record("bcg", "Orwin", target = 0.2),
                     fsn_record("hackshaw1998", "Orwin", target = 0.1),
                     fsn_record("hackshaw1998", "Rosenthal", alpha = 0.01),
                     fsn_record("raudenbush1985", "Rosenberg", alpha = 0.10)))

# ---------------------------------------------------------------- selection models
message("selection models ...")
sel_record <- function(dn, type, steps = NULL, alternative = "greater", method = "REML",
                       mods = NULL, formula = "~ 1", delta = NULL) {
  r <- fit(dn, method, mods = mods)
  ndelta <- if (type == "stepfun") length(unique(c(steps, 1))) else if (type == "beta") 2 else 1
  npar <- r$p + 1 + ndelta
  control <- list(reltol = 1e-15, ndeps = rep(1e-6, npar), maxit = 10000)
  # integrate() stops with a roundoff error for the beta function below its default
  # rel.tol (the clamped p-values make the integrand kink); see beta_direct below
  if (type != "stepfun" && type != "beta") {
    control$intCtrl <- list(rel.tol = 1e-12, subdivisions = 1000L)
  }
  args <- list(r, type = type, alternative = alternative, control = control)
  if (!is.null(steps)) args$steps <- steps
  if (!is.null(delta)) args$delta <- delta
  s <- do.call(selmodel, args)
  list(data = dn, formula = formula, method = method, type = type, steps = steps,
       tight = type != "beta",
       alternative = alternative, delta_given = delta,
       estimate = as.numeric(s$beta), se = s$se, z = s$zval, pvalue = s$pval,
       ci_low = s$ci.lb, ci_high = s$ci.ub, tau2 = s$tau2, se_tau2 = s$se.tau2,
       tau2_ci = c(s$ci.lb.tau2, s$ci.ub.tau2), delta = s$delta, se_delta = s$se.delta,
       z_delta = s$zval.delta, pvalue_delta = s$pval.delta, ci_low_delta = s$ci.lb.delta,
       ci_high_delta = s$ci.ub.delta, LRT = s$LRT, LRT_df = s$LRTdf, LRT_pvalue = s$LRTp,
       LRT_tau2 = s$LRT.tau2, LRT_tau2_pvalue = s$LRTp.tau2, loglik = s$ll, loglik0 = s$ll0,
       aic = s$fit.stats["AIC", "ML"], bic = s$fit.stats["BIC", "ML"],
       aicc = s$fit.stats["AICc", "ML"], QM = s$QM, QM_pvalue = s$QMp,
       intervals = if (is.data.frame(s$ptable)) s$ptable$k else NULL, pvalues = s$pvals)
}
selections <- list(
  sel_record("hackshaw1998", "stepfun", 0.025),
  sel_record("hackshaw1998", "stepfun", c(0.025, 0.5)),
  sel_record("hackshaw1998", "beta"),
  sel_record("hackshaw1998", "halfnorm"),
  sel_record("hackshaw1998", "negexp"),
  sel_record("hackshaw1998", "logistic"),
  sel_record("hackshaw1998", "power"),
  sel_record("hackshaw1998", "halfnorm", steps = 0.05),
  sel_record("hackshaw1998", "stepfun", 0.025, delta = c(1, 0.5)),
  sel_record("hackshaw1998", "stepfun", 0.025, method = "FE"),
  sel_record("bangertdrowns2004", "stepfun", c(0.05, 0.10, 0.50)),
  # (bangertdrowns2004 with "beta" has no invertible Hessian in metafor, and with a
  # two-sided "halfnorm" its delta is at the bound 0: neither is a useful reference)
  sel_record("hackshaw1998", "halfnorm", alternative = "two.sided"),
  sel_record("bcg", "stepfun", 0.025, alternative = "less"),
  sel_record("bcg", "stepfun", 0.05, alternative = "two.sided"),
  sel_record("bcg", "stepfun", 0.025, alternative = "less", mods = ~ ablat,
             formula = "~ ablat")
)

# The beta selection model with accurate integrals: metafor's log-likelihood (same
# parameterisation, clamp of the p-values at 1e-5 and 1 - 1e-5) with A_i integrated piece
# by piece between the points where the clamp starts (integrate(rel.tol = 1e-13) on each
# smooth piece), maximised by optim (BFGS, reltol 1e-15, ndeps 1e-6) and with the Hessian
# from numDeriv (r = 6), as selmodel.  metafor's own fit (beta, above) uses integrate()'s
# default tolerance, 1.2e-4, which moves the estimates by about 1e-5.
beta_direct <- function(dn, alternative = "greater") {
  d <- data_sets[[dn]]
  yi <- d$yi
  vi <- d$vi
  pmin <- 1e-5
  pval <- function(y, v) {
    pmin(pmax(metafor:::.selmodel.pval(y, v, alternative), pmin), 1 - pmin)
  }
  w <- function(p, delta) p^(delta[1] - 1) * (1 - p)^(delta[2] - 1)
  zc <- if (alternative == "two.sided") {
    c(qnorm(pmin / 2, lower.tail = FALSE), qnorm((1 - pmin) / 2, lower.tail = FALSE))
  } else {
    qnorm(pmin, lower.tail = FALSE)
  }
  cuts <- sort(unique(c(-zc, zc, if (alternative == "two.sided") 0)))
  A <- function(mu, s, v, delta) {
    edges <- c(-Inf, cuts * sqrt(v), Inf)
    f <- function(y) w(pval(y, v), delta) * dnorm(y, mu, s)
    piece <- function(j) {
      # far from the maximum the search can ask for integrands integrate() cannot take
      # to 1e-13; they are then integrated to 1e-8 (no effect on the optimum)
      tryCatch(integrate(f, edges[j], edges[j + 1], rel.tol = 1e-13, abs.tol = 0,
                         subdivisions = 1000L)$value,
               error = function(e) integrate(f, edges[j], edges[j + 1], rel.tol = 1e-8,
                                             subdivisions = 1000L)$value)
    }
    sum(vapply(seq_len(length(edges) - 1), piece, numeric(1)))
  }
  ll <- function(beta, tau2, delta) {
    s <- sqrt(vi + tau2)
    sum(log(w(pval(yi, vi), delta)) + dnorm(yi, beta, s, log = TRUE) -
          log(mapply(A, beta, s, vi, MoreArgs = list(delta = delta))))
  }
  r <- fit(dn, "ML")
  lo <- 1e-5
  hi <- 100
  to_delta <- function(x) lo + (hi - lo) / (1 + exp(-x))
  obj <- function(par) -ll(par[1], exp(par[2]), to_delta(par[3:4]))
  # start at metafor's own fit when it has one (integrate()'s default tolerance), else
  # at metafor's start values
  start <- c(r$beta[1], log(r$tau2 + 0.001), rep(log((1 - lo) / (hi - 1)), 2))
  sm <- try(selmodel(r, type = "beta", alternative = alternative), silent = TRUE)
  if (!inherits(sm, "try-error")) {
    start <- c(sm$beta[1], log(sm$tau2), log((sm$delta - lo) / (hi - sm$delta)))
  }
  o <- optim(start, obj, method = "BFGS",
             control = list(reltol = 1e-15, ndeps = rep(1e-6, 4), maxit = 10000))
  est <- c(o$par[1], exp(o$par[2]), to_delta(o$par[3:4]))
  H <- numDeriv::hessian(function(x) -ll(x[1], x[2], x[3:4]), est, method.args = list(r = 6))
  se <- sqrt(diag(chol2inv(chol(H))))
  list(data = dn, alternative = alternative, estimate = est[1], se = se[1], tau2 = est[2],
       se_tau2 = se[2], delta = est[3:4], se_delta = se[3:4], loglik = -o$value,
       LRT = max(0, -2 * (as.numeric(logLik(r, REML = FALSE)) + o$value)))
}
beta_directs <- list(beta_direct("hackshaw1998"),
                     beta_direct("bangertdrowns2004", "two.sided"))

# ---------------------------------------------------------------- excess significance
message("tes ...")
tes_limit <- function(r, alternative, tes_alternative, tes_alpha, test, H0 = 0) {
  # metafor's theta.lim, with a tight root finder on metafor's own .tes.lim
  lim_fun <- function(theta, alt, lvl) {
    metafor:::.tes.lim(theta, yi = c(r$yi), vi = r$vi, H0 = H0, alternative = alternative,
                       alpha = 0.05, tau2 = r$tau2, test = test, tes.alternative = alt,
                       progbar = FALSE, tes.alpha = lvl, correct = FALSE, rel.tol = 1e-12,
                       subdivisions = 1000L, tau2.lb = 0)
  }
  one <- function(alt, lvl) {
    theta1 <- c(r$beta)
    d0 <- lim_fun(H0, alt, lvl)
    if ((alt == "greater" && d0 >= 0) || (alt == "less" && d0 <= 0)) return(NA)
    up <- (alt == "greater") == (theta1 >= H0)
    uniroot(lim_fun, interval = sort(c(H0, theta1)), extendInt = if (up) "upX" else "downX",
            alt = alt, lvl = lvl, tol = 1e-13, maxiter = 1000)$root
  }
  if (tes_alternative == "two.sided") {
    c(one("greater", tes_alpha / 2), one("less", tes_alpha / 2))
  } else {
    one(tes_alternative, tes_alpha)
  }
}
tes_record <- function(dn, method, alternative = "two.sided", test = NULL,
                       tes_alternative = "greater", tes_alpha = 0.10, mods = NULL,
                       formula = "~ 1") {
  r <- fit(dn, method, mods = mods)
  args <- list(r, alternative = alternative, tes.alternative = tes_alternative,
               tes.alpha = tes_alpha, progbar = FALSE, rel.tol = 1e-12, subdivisions = 1000L)
  if (!is.null(test)) args$test <- test
  t <- do.call(tes, args)
  list(data = dn, method = method, formula = formula, alternative = alternative,
       test_given = test, tes_alternative = tes_alternative, tes_alpha = tes_alpha,
       k = t$k, O = t$O, E = t$E, test = t$test, X2 = t$X2, pvalue = t$pval,
       power = t$power, sig = t$sig,
       theta_lim = if (is.null(mods)) tes_limit(r, alternative, tes_alternative, tes_alpha,
                                                t$test) else NULL)
}
tess <- list(
  tes_record("hackshaw1998", "REML"),
  tes_record("hackshaw1998", "FE"),
  tes_record("hackshaw1998", "REML", test = "chi2"),
  tes_record("hackshaw1998", "REML", test = "binom"),
  tes_record("hackshaw1998", "DL", alternative = "greater", tes_alternative = "two.sided"),
  tes_record("bcg", "REML", alternative = "less"),
  tes_record("bcg", "FE", test = "chi2", tes_alternative = "less"),
  tes_record("raudenbush1985", "REML", test = "binom", tes_alternative = "two.sided"),
  tes_record("magnesium", "REML"),
  tes_record("bangertdrowns2004", "REML"),     # k = 48: metafor's exact test is infeasible
  tes_record("raudenbush1985", "REML", test = "exact", tes_alternative = "two.sided"),
  tes_record("bcg", "REML", mods = ~ ablat, formula = "~ ablat")
)

# ---------------------------------------------------------------- Harbord and Peters
harbord_record <- function(dn) {
  d <- data_sets[[dn]]
  a <- as.numeric(d$d1)  # doubles: the products below overflow R's integers
  b <- as.numeric(d$n1 - d$d1)
  c <- as.numeric(d$d0)
  dd <- as.numeric(d$n0 - d$d0)
  N <- a + b + c + dd
  Z <- a - (a + b) * (a + c) / N
  V <- (a + b) * (c + dd) * (a + c) * (b + dd) / (N^2 * (N - 1))
  keep <- V > 0
  h <- summary(lm(I(Z[keep] / sqrt(V[keep])) ~ sqrt(V[keep])))
  list(data = dn, bias = h$coefficients[1, 1], se = h$coefficients[1, 2],
       statistic = h$coefficients[1, 3], pvalue = h$coefficients[1, 4], df = h$df[2],
       slope = h$coefficients[2, 1])
}
peters_record <- function(dn) {
  d <- data_sets[[dn]]
  N <- d$n1 + d$n0
  w <- 1 / (1 / (d$d1 + d$d0) + 1 / (N - d$d1 - d$d0))
  p <- summary(lm(d$yi ~ I(1 / N), weights = w))
  r <- fit(dn, "FE")
  rt <- regtest(r, model = "lm", predictor = "ninv")
  list(data = dn, slope = p$coefficients[2, 1], se = p$coefficients[2, 2],
       statistic = p$coefficients[2, 3], pvalue = p$coefficients[2, 4], df = p$df[2],
       intercept = p$coefficients[1, 1],
       regtest_statistic = rt$zval, regtest_pvalue = rt$pval, regtest_df = rt$dfs)
}
harbords <- list(harbord_record("bcg"), harbord_record("magnesium"))
peters <- list(peters_record("bcg"), peters_record("magnesium"))

# ---------------------------------------------------------------- plot data
radial_record <- function(dn, method, ci = "z") {
  r <- fit(dn, method, ci)
  pdf(NULL)
  rd <- radial(r)
  dev.off()
  list(data = dn, method = method, ci = ci, x = rd$x, y = rd$y, estimate = as.numeric(r$beta),
       ci_low = r$ci.lb, ci_high = r$ci.ub)
}
radials <- list(radial_record("bcg", "REML"), radial_record("bcg", "FE"),
                radial_record("hackshaw1998", "DL", "hksj"))

qq_record <- function(dn, method, mods = NULL, formula = "~ 1") {
  r <- fit(dn, method, mods = mods)
  rs <- rstandard(r)
  pdf(NULL)
  q <- qqnorm(r, envelope = FALSE)
  dev.off()
  list(data = dn, method = method, formula = formula, resid = rs$resid, se = rs$se, z = rs$z,
       theoretical = q$x, sample = q$y)
}
qqs <- list(qq_record("bcg", "REML"), qq_record("hackshaw1998", "FE"),
            qq_record("bcg", "ML", mods = ~ ablat, formula = "~ ablat"))

labbe_record <- function(dn, measure) {
  d <- data_sets[[dn]]
  r <- suppressWarnings(rma(measure = measure, ai = d$d1, n1i = d$n1, ci = d$d0, n2i = d$n0,
                            method = "REML", control = ctrl))
  pdf(NULL)
  lb <- labbe(r)
  dev.off()
  list(data = dn, measure = measure, estimate = as.numeric(r$beta), yi = as.numeric(r$yi),
       vi = as.numeric(r$vi), x = lb$x, y = lb$y, size = lb$cex)
}
labbes <- list(labbe_record("bcg", "OR"), labbe_record("bcg", "RR"),
               labbe_record("bcg", "RD"), labbe_record("magnesium", "OR"),
               labbe_record("magnesium", "RR"))

message("GOSH ...")
gosh_record <- function(dn, method, mods = NULL, formula = "~ 1") {
  r <- fit(dn, method, mods = mods)
  g <- gosh(r, progbar = FALSE)
  est <- g$res[, setdiff(names(g$res), c("k", "QE", "I2", "H2", "tau2")), drop = FALSE]
  list(data = dn, method = method, formula = formula, k = g$res$k, QE = g$res$QE,
       I2 = g$res$I2, H2 = g$res$H2, tau2 = g$res$tau2,
       estimate = lapply(as.list(est), as.numeric),
       incl_code = as.numeric(g$incl %*% (2^(seq_len(ncol(g$incl)) - 1))))
}
goshs <- list(gosh_record("bcg", "FE"), gosh_record("bcg", "DL"), gosh_record("bcg", "REML"),
              gosh_record("bcg", "REML", mods = ~ ablat, formula = "~ ablat"))

# ---------------------------------------------------------------- JSON
out <- list(
  notes = list(generated_by = "tests/reference/stage2_bias.R", R_version = R.version.string,
               metafor_version = as.character(packageVersion("metafor")),
               metadat_version = as.character(packageVersion("metadat")),
               rma_control = "threshold = 1e-12, tol = 1e-12, maxiter = 1000",
               counts = "d1/n1: events/total of the treated arm, d0/n0 of the control arm",
               gosh = "incl_code: sum of 2^(i-1) over the included studies i (1-based)"),
  datasets = lapply(data_sets, as.list),
  fsn = fsns, selmodel = selections, beta_direct = beta_directs, tes = tess, harbord = harbords, peters = peters,
  radial = radials, qqnorm = qqs, labbe = labbes, gosh = goshs
)
out_path <- file.path("tests", "reference", "stage2_bias.json")
write_json(out, out_path, digits = NA, auto_unbox = TRUE, na = "null", null = "null")
message("wrote ", out_path)
