# Reference values for ipdmeta.pool() (stage 2), computed with R's metafor.
#
# Run from the repository root:
#     Rscript tests/reference/stage2_metafor.R
# It writes tests/reference/stage2_metafor.json, which tests/test_pool_metafor.py reads
# (the Python tests need no R: the input data of every data set are stored in the JSON).
#
# Requires: metafor (written with 3.8.1), metadat, jsonlite.
#
# Numbers are written with 17 significant digits (sprintf("%.17g")), so every double
# round-trips exactly.  jsonlite's write_json(digits = NA) stops at 15 significant digits,
# so the numbers are formatted here and passed to write_json() verbatim (json_verbatim = TRUE).
# NA (a quantity metafor does not define, e.g. a t quantile with 0 degrees of freedom) is
# written as null.
#
# What is computed, per data set (see the "notes" block of the JSON for the same in words):
#   * for method in FE, DL, REML, ML, PM, PMM, EB, HE, SJ, HS, GENQ and
#     test in z, t, knha (ci="hksj") and adhoc (ci="hksj-trunc"):
#     rma.uni() estimate, se, CI, z/t statistic, p-value, df, tau2, Q-profile CI of tau2
#     (and tau, I2, H2 CIs from confint()), I2, H2, Q, Q p-value, k, predict() PI,
#     study weights (percent), and the Higgins-Thompson-Spiegelhalter PI
#     b +/- qt(1 - alpha/2, k - 2) * sqrt(se^2 + tau2) (se of that fit);
#   * profile-likelihood CI for the pooled mean (ci = "pl") for the ML and REML fits,
#     from the ML log-likelihood with tau2 profiled out (own code below);
#   * confint(type = "PL") for tau2 (and tau, I2, H2) for the ML and REML fits;
#   * leave1out() and cumul() rows for several method/test pairs;
#   * subgroup analyses (bcg only, by allocation) and the test of subgroup differences.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

level <- 0.95

# Tight convergence: Fisher scoring (threshold), uniroot (tol), iterations.
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
# confint(): uniroot tolerance, and tau2.max raised from metafor's default search limit of
# 100 so that the upper bound is the actual root, not the end of the search interval
# (matters for k = 2, whose Q-profile upper bound is about 246).
ci_ctrl <- list(tol = 1e-12, maxiter = 1000, tau2.max = 1e4)

methods <- c("FE", "DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS", "GENQ")
# ipdmeta ci name -> metafor test name
tests <- c(z = "z", t = "t", hksj = "knha", `hksj-trunc` = "adhoc")

# ---------------------------------------------------------------- data sets
datasets <- list()

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets$bcg <- list(
  description = paste(
    "metadat::dat.bcg, escalc(measure='RR') log risk ratios, 13 trials;",
    "study = author + year; subgroup = alloc"
  ),
  study = paste(bcg$author, bcg$year),
  yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
  subgroup = as.character(bcg$alloc)
)

nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
              m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
datasets$normand1999 <- list(
  description = "metadat::dat.normand1999, escalc(measure='MD'), 9 studies; study = source",
  study = as.character(nor$source),
  yi = as.numeric(nor$yi), vi = as.numeric(nor$vi)
)

rau <- dat.raudenbush1985
datasets$raudenbush1985 <- list(
  description = paste(
    "metadat::dat.raudenbush1985, yi and vi as given, 19 studies;",
    "study = number + author + year (author/year alone are not unique)"
  ),
  study = paste0(rau$study, ": ", rau$author, " ", rau$year),
  yi = as.numeric(rau$yi), vi = as.numeric(rau$vi)
)

datasets$homogeneous <- list(
  description = paste(
    "constructed: 5 studies with little spread (Q = 0.085 on 4 df); tau2 is estimated as",
    "exactly 0 by every estimator except SJ, which is positive by construction",
    "(Sidik-Jonkman cannot be 0 unless all estimates are equal); the Q-profile CI of",
    "tau2 is the null set, reported by metafor as [0, 0]"
  ),
  study = paste("Study", LETTERS[1:5]),
  yi = c(0.20, 0.25, 0.18, 0.22, 0.24),
  vi = c(0.040, 0.050, 0.030, 0.060, 0.045)
)

datasets$bcg_k2 <- list(
  description = paste(
    "first two trials of dat.bcg (log risk ratios), k = 2: t and knha have 1 df,",
    "the HTS prediction interval (k - 2 = 0 df) is undefined (null);",
    "leave1out fits have k = 1, where metafor sets tau2 = 0 and falls back to test='z'"
  ),
  study = paste(bcg$author, bcg$year)[1:2],
  yi = as.numeric(bcg$yi)[1:2], vi = as.numeric(bcg$vi)[1:2]
)

# ---------------------------------------------------------------- helpers
na_if_nan <- function(x) {
  x <- as.numeric(x)
  x[is.nan(x)] <- NA
  x
}

fit_rma <- function(d, method, test, level = 0.95) {
  args <- list(yi = d$yi, vi = d$vi, method = method, test = test, level = 100 * level,
               control = ctrl, slab = d$study)
  if (method == "GENQ") {
    # ipdmeta's GENQ: tau2 from metafor's generalised-Q estimator with weights 1/vi, then
    # the usual random-effects pooling with weights 1/(vi + tau2). (metafor's own GENQ
    # fit also pools with the user weights; see docs/methods/pooling.md.) The Q-profile
    # CIs come from the GENQ fit itself (het_ci uses r$genq_fit).
    genq <- do.call(rma.uni, c(args, list(weights = 1 / d$vi)))
    args$method <- "REML"
    args$tau2 <- genq$tau2
    r <- suppressWarnings(do.call(rma.uni, args))
    r$genq_fit <- genq
    return(r)
  }
  # FE + knha/adhoc warns ("not meant to be used with FE"); the numbers are still defined.
  suppressWarnings(do.call(rma.uni, args))
}

is_re <- function(method) method != "FE"

# CIs for tau2, tau, I2, H2 from confint(); type = "QP" or "PL".
het_ci <- function(r, type, level = 0.95) {
  if (!is.null(r$genq_fit)) r <- r$genq_fit
  ci <- confint(r, type = type, level = 100 * level, control = ci_ctrl)
  ran <- ci$random
  if (ci$lb.sign != "" || ci$ub.sign != "") {
    if (!isTRUE(ci$ci.null)) stop("confint bound censored at the search limit: ", type)
  }
  list(
    tau2_ci = I(unname(ran["tau^2", c("ci.lb", "ci.ub")])),
    tau_ci = I(unname(ran["tau", c("ci.lb", "ci.ub")])),
    I2_ci = I(unname(ran["I^2(%)", c("ci.lb", "ci.ub")])),
    H2_ci = I(unname(ran["H^2", c("ci.lb", "ci.ub")])),
    ci_null = isTRUE(ci$ci.null)
  )
}

overall <- function(r, d, method, level = 0.95) {
  k <- r$k
  b <- as.numeric(r$b)
  pr <- predict(r, level = 100 * level)
  tau2 <- if (is_re(method)) r$tau2 else 0
  crit_hts <- if (k > 2) qt(1 - (1 - level) / 2, df = k - 2) else NA
  out <- list(
    estimate = b, se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
    z_or_t = r$zval, pvalue = r$pval,
    df = if (r$test == "z") NA else r$ddf,
    Q = r$QE, Q_df = k - 1, Q_pvalue = r$QEp, I2 = r$I2, H2 = r$H2, k = k,
    # metafor's predict() also gives a PI for k = 2; ipdmeta gives none for k < 3 (NA)
    pi_low = if (is.null(pr$pi.lb)) NULL else if (k < 3) NA else pr$pi.lb,
    pi_high = if (is.null(pr$pi.ub)) NULL else if (k < 3) NA else pr$pi.ub,
    # no PI for the common-effect model (metafor's predict() gives none either)
    hts_pi_low = if (is_re(method)) b - crit_hts * sqrt(r$se^2 + tau2) else NULL,
    hts_pi_high = if (is_re(method)) b + crit_hts * sqrt(r$se^2 + tau2) else NULL
  )
  out <- out[!vapply(out, is.null, logical(1))]
  if (is_re(method)) {
    out$tau2 <- r$tau2
    out$tau <- sqrt(r$tau2)
    out <- c(out, het_ci(r, "QP", level))
  }
  out
}

# ---------------------------------------------------------------- profile likelihood for mu
# ML log-likelihood of the random-effects model y_i ~ N(mu, v_i + tau2).
ll_ml <- function(mu, tau2, y, v) -0.5 * sum(log(2 * pi * (v + tau2)) + (y - mu)^2 / (v + tau2))

# Profile out tau2 >= 0 for fixed mu: candidates are tau2 = 0 and every root of the score
# on (0, upper]; upper = max((y - mu)^2) makes every term of the score negative beyond it.
prof_tau2 <- function(mu, y, v) {
  score <- function(t) sum(((y - mu)^2 - (v + t)) / (v + t)^2)
  upper <- max((y - mu)^2)
  cand <- 0
  if (upper > 0) {
    grid <- c(0, upper * (seq(0, 1, length.out = 2001)[-1])^2)
    s <- vapply(grid, score, numeric(1))
    idx <- which(s[-1] * s[-length(s)] < 0)
    for (i in idx) {
      cand <- c(cand, uniroot(score, c(grid[i], grid[i + 1]), tol = 1e-14, maxiter = 1000)$root)
    }
  }
  lls <- vapply(cand, function(t) ll_ml(mu, t, y, v), numeric(1))
  cand[which.max(lls)]
}
ll_prof <- function(mu, y, v) ll_ml(mu, prof_tau2(mu, y, v), y, v)

pl_mu <- function(d, level = 0.95) {
  y <- d$yi
  v <- d$vi
  ml <- rma.uni(y, v, method = "ML", control = ctrl)
  b_ml <- as.numeric(ml$b)
  half <- 10 * ml$se + 1
  opt <- optimize(function(m) ll_prof(m, y, v), c(b_ml - half, b_ml + half),
                  maximum = TRUE, tol = 1e-12)
  ll_max <- max(ll_ml(b_ml, ml$tau2, y, v), opt$objective)
  if (abs(opt$maximum - b_ml) > 1e-6) stop("profile maximum differs from the ML estimate")
  crit <- qchisq(level, df = 1)
  f <- function(m) 2 * (ll_max - ll_prof(m, y, v)) - crit
  span <- 2 * ml$se + 0.1
  while (f(b_ml - span) < 0) span <- 2 * span
  lo <- uniroot(f, c(b_ml - span, b_ml), tol = 1e-13, maxiter = 1000)$root
  span <- 2 * ml$se + 0.1
  while (f(b_ml + span) < 0) span <- 2 * span
  hi <- uniroot(f, c(b_ml, b_ml + span), tol = 1e-13, maxiter = 1000)$root
  lr <- max(0, 2 * (ll_max - ll_prof(0, y, v)))
  list(ci_low = lo, ci_high = hi, pvalue = pchisq(lr, df = 1, lower.tail = FALSE),
       lr_stat = lr, ml_estimate = b_ml, ll_max = ll_max)
}

# ---------------------------------------------------------------- leave1out / cumul
l1o_cols <- function(x, first) {
  x <- as.data.frame(x)
  pv <- if ("pval" %in% names(x)) x$pval else x$pvals
  out <- list(
    estimate = I(na_if_nan(x$estimate)), se = I(na_if_nan(x$se)),
    z_or_t = I(na_if_nan(if ("zval" %in% names(x)) x$zval else x$tval)),
    pvalue = I(na_if_nan(pv)),
    ci_low = I(na_if_nan(x$ci.lb)), ci_high = I(na_if_nan(x$ci.ub)),
    Q = I(na_if_nan(x$Q)), Q_pvalue = I(na_if_nan(x$Qp)),
    tau2 = if (is.null(x$tau2)) NULL else I(na_if_nan(x$tau2)),  # FE fits: no tau2 column
    I2 = I(na_if_nan(x$I2)), H2 = I(na_if_nan(x$H2))
  )
  c(first, out[!vapply(out, is.null, logical(1))])
}

sens_pairs <- list(c("FE", "z"), c("DL", "z"), c("REML", "z"), c("REML", "hksj"),
                   c("PM", "hksj-trunc"), c("ML", "t"))

# ---------------------------------------------------------------- subgroups
subgroup_analysis <- function(d, method, ci) {
  groups <- unique(d$subgroup)
  rows <- lapply(groups, function(g) {
    s <- d$subgroup == g
    dd <- list(study = d$study[s], yi = d$yi[s], vi = d$vi[s])
    r <- fit_rma(dd, method, tests[[ci]])
    list(group = g, k = r$k, estimate = as.numeric(r$b), se = r$se,
         ci_low = r$ci.lb, ci_high = r$ci.ub, pvalue = r$pval,
         tau2 = if (is_re(method)) r$tau2 else NA,  # dropped below for FE
         I2 = r$I2, Q = r$QE, Q_df = r$k - 1, Q_pvalue = r$QEp)
  })
  if (!is_re(method)) rows <- lapply(rows, function(x) x[names(x) != "tau2"])
  tab <- lapply(names(rows[[1]]), function(n) I(vapply(rows, function(x) x[[n]],
                                                         if (n == "group") "" else 0)))
  names(tab) <- names(rows[[1]])
  between <- rma.uni(yi = tab$estimate, sei = tab$se, method = "FE", control = ctrl)
  list(method = method, ci = ci, table = tab,
       Q_between = between$QE, Q_between_df = between$k - 1, Q_between_pvalue = between$QEp)
}

# ---------------------------------------------------------------- run
results <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]
  message("data set ", dn)
  fits <- list()
  for (m in methods) {
    for (ci in names(tests)) {
      r <- fit_rma(d, m, tests[[ci]])
      rec <- list(method = m, ci = ci, level = level, overall = overall(r, d, m),
                  weights = I(as.numeric(weights(r))))
      fits[[length(fits) + 1]] <- rec
    }
  }
  # profile-likelihood CI for mu: ML and REML fits share the ML-likelihood interval;
  # estimate and heterogeneity are those of the method's own fit.
  plm <- pl_mu(d)
  for (m in c("ML", "REML")) {
    r <- fit_rma(d, m, "z")
    fits[[length(fits) + 1]] <- list(
      method = m, ci = "pl", level = level,
      overall = list(estimate = as.numeric(r$b), ci_low = plm$ci_low, ci_high = plm$ci_high,
                     pvalue = plm$pvalue, tau2 = r$tau2, Q = r$QE, Q_df = r$k - 1,
                     Q_pvalue = r$QEp, I2 = r$I2, H2 = r$H2, k = r$k),
      pl_details = plm
    )
  }
  # a second level, to check that level= is honoured
  if (dn %in% c("bcg", "raudenbush1985")) {
    for (m in c("DL", "REML")) {
      for (ci in c("z", "hksj")) {
        r <- fit_rma(d, m, tests[[ci]], level = 0.90)
        fits[[length(fits) + 1]] <- list(method = m, ci = ci, level = 0.90,
                                         overall = overall(r, d, m, level = 0.90),
                                         weights = I(as.numeric(weights(r))))
      }
    }
  }
  tau2_pl <- list()
  for (m in c("ML", "REML")) {
    r <- fit_rma(d, m, "z")
    tau2_pl[[length(tau2_pl) + 1]] <- c(list(method = m, tau2 = r$tau2), het_ci(r, "PL"))
  }
  l1o <- list()
  cum <- list()
  for (p in sens_pairs) {
    r <- fit_rma(d, p[1], tests[[p[2]]])
    l1o[[length(l1o) + 1]] <- l1o_cols(leave1out(r), list(method = p[1], ci = p[2],
                                                         omitted = I(d$study)))
    cum[[length(cum) + 1]] <- l1o_cols(cumul(r), list(method = p[1], ci = p[2],
                                                      added = I(d$study),
                                                      k = I(seq_along(d$study))))
  }
  dd <- d
  dd$description <- NULL
  if (!is.null(dd$subgroup)) dd$subgroup <- I(dd$subgroup)
  dd$study <- I(dd$study)
  dd$yi <- I(dd$yi)
  dd$vi <- I(dd$vi)
  results[[dn]] <- list(
    description = d$description, data = dd, fits = fits, tau2_pl = tau2_pl,
    leave1out = l1o, cumul = cum
  )
  if (!is.null(d$subgroup)) {
    results[[dn]]$subgroups <- lapply(
      list(c("FE", "z"), c("DL", "z"), c("REML", "z"), c("REML", "hksj")),
      function(p) subgroup_analysis(d, p[1], p[2])
    )
  }
}

# checks on the constructed homogeneous set
for (m in setdiff(methods, c("FE", "SJ"))) {
  r <- fit_rma(datasets$homogeneous, m, "z")
  if (r$tau2 != 0) stop("homogeneous data set: tau2 != 0 for ", m)
}

notes <- list(
  generated_by = "tests/reference/stage2_metafor.R",
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  rma_control = ctrl,
  confint_control = ci_ctrl,
  numbers = "17 significant digits (sprintf %.17g); null = NA in R (undefined)",
  ci_map = "ci z -> test='z'; t -> test='t'; hksj -> test='knha'; hksj-trunc -> test='adhoc'",
  hksj_trunc_source = paste(
    "metafor 3.8.1 test='adhoc' (native): se = se_RE * sqrt(max(1, q)),",
    "q = sum(w*(y-b)^2)/(k-1), w = 1/(vi+tau2), t with k-1 df"
  ),
  methods_source = paste(
    "all eleven methods are native in metafor 3.8.1 (PMM included); FE = method='FE'",
    "(common effect); GENQ: see the GENQ note"
  ),
  GENQ = paste(
    "ipdmeta's GENQ = tau2 from rma(method='GENQ', weights=1/vi), then rma(tau2 = that",
    "value): the usual random-effects weights 1/(vi+tau2) for the pooled estimate, its se,",
    "test='knha'/'adhoc' scaling, predict() and weights(); the Q-profile CIs from the GENQ",
    "fit. metafor's own GENQ fit pools with the user weights 1/vi instead"
  ),
  tau2_ci = paste(
    "confint(res, type='QP') (Q-profile; also used for GENQ, whose confint default is the",
    "generalized-Q interval) and confint(res, type='PL') for ML/REML (tau2_pl);",
    "I2_ci and H2_ci are the tau2 bounds transformed by metafor; when both Q-profile bounds",
    "fall below 0 metafor reports [0, 0] (ci_null = true)"
  ),
  I2 = paste(
    "random effects: I2 = 100 tau2/(vt + tau2), H2 = tau2/vt + 1, vt = (k-1)/(sum w - sum",
    "w^2/sum w), w = 1/vi; FE: I2 = max(0, 100 (Q-df)/Q), H2 = Q/df"
  ),
  pi_metafor = paste(
    "predict(res)$pi.lb/pi.ub: b +/- crit * sqrt(se^2 + tau2), crit z or t(k-1) by test;",
    "metafor gives no PI for FE fits, so pi_low/pi_high are absent there"
  ),
  pi_absent_for_FE = "neither PI (metafor nor HTS) is given for FE fits: not compared",
  pi_hts = paste(
    "b +/- qt(1-alpha/2, k-2) * sqrt(se^2 + tau2), se of that fit (knha/adhoc-adjusted);",
    "random-effects methods only; null (undefined) for k = 2"
  ),
  pl = paste(
    "ci='pl': own R code; ML log-likelihood of the RE model with tau2 (>= 0) profiled out",
    "for each fixed mu; bounds where 2 (ll_max - ll_prof(mu)) = qchisq(level, 1);",
    "pvalue = likelihood-ratio test of mu = 0; the interval is the same for the ML and REML",
    "fits; estimate/tau2/heterogeneity are those of the method's own fit"
  ),
  leave1out_cumul = paste(
    "metafor leave1out()/cumul() (data order); for fits with k = 1 metafor sets tau2 = 0,",
    "Q = 0, I2 = 0, H2 = 1 and uses test='z' whatever test was asked"
  ),
  subgroups = paste(
    "separate rma per subgroup (own tau2), groups in order of first appearance;",
    "test of difference = rma(yi = subgroup estimates, sei = subgroup se, method='FE')"
  ),
  level = "level 0.95 throughout; extra fits at level 0.90 for bcg and raudenbush1985"
)

# ---------------------------------------------------------------- write JSON
fmt_num <- function(x) {
  x <- as.double(x)
  s <- ifelse(is.na(x), "null",
              ifelse(is.infinite(x), ifelse(x > 0, "1e999", "-1e999"), sprintf("%.17g", x)))
  if (any(is.infinite(x))) stop("infinite value in output")
  s
}
to_json_tree <- function(x) {
  if (is.list(x) && !is.data.frame(x)) {
    out <- lapply(x, to_json_tree)
    return(out)
  }
  asis <- inherits(x, "AsIs")
  if (is.factor(x)) x <- as.character(x)
  if (is.numeric(x)) {
    s <- fmt_num(x)
    if (asis || length(x) != 1) s <- paste0("[", paste(s, collapse = ","), "]")
    return(structure(s, class = "json"))
  }
  if (asis) {
    x <- unclass(x)
    return(structure(as.character(toJSON(x, auto_unbox = FALSE)), class = "json"))
  }
  x
}

out <- list(notes = notes, datasets = results)
out_path <- file.path("tests", "reference", "stage2_metafor.json")
write_json(to_json_tree(out), out_path, auto_unbox = TRUE, json_verbatim = TRUE,
           pretty = TRUE, digits = NA, na = "null")
message("wrote ", out_path)
